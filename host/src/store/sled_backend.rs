//! sled as a [`Backend`]: one directory, one tree per [`Space`]. sled
//! recovers to a consistent prefix of its log after a crash and flushes
//! every 200 ms; `flush` makes everything durable at once.
//!
//! sled keeps some index memory per key beyond its cache, so its peak
//! memory grows with the state (see the README's performance table);
//! redb is the default for that reason.

use std::path::Path;

use super::StoreError;
use super::kv::{Backend, Durability, Space, Visit, Write, counter_value, feed};

/// sled's page cache.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

pub struct SledBackend {
    db: sled::Db,
    state: sled::Tree,
    meta: sled::Tree,
    tokens: sled::Tree,
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

impl SledBackend {
    /// Open (creating) the store in the directory `dir`. sled locks it, so
    /// a second process on the same state fails here.
    pub fn open(dir: &Path) -> Result<SledBackend, StoreError> {
        let fail = |e: sled::Error| StoreError::Open {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(200))
            .open()
            .map_err(fail)?;
        Ok(SledBackend {
            state: db.open_tree("state").map_err(fail)?,
            meta: db.open_tree("meta").map_err(fail)?,
            tokens: db.open_tree("tokens").map_err(fail)?,
            db,
        })
    }

    fn tree(&self, space: Space) -> &sled::Tree {
        match space {
            Space::State => &self.state,
            Space::Meta => &self.meta,
            Space::Tokens => &self.tokens,
        }
    }
}

impl Backend for SledBackend {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(space).get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        space: Space,
        prefix: &[u8],
        reverse: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        let entries = self
            .tree(space)
            .scan_prefix(prefix)
            .map(|entry| entry.map_err(io));
        feed(entries, reverse, visit)
    }

    fn apply(
        &self,
        space: Space,
        writes: Vec<Write>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for write in writes {
            match write {
                Write::Put(k, v) => batch.insert(k, v),
                Write::Remove(k) => batch.remove(k),
            }
        }
        self.tree(space).apply_batch(batch).map_err(io)?;
        if durability == Durability::Now {
            self.flush()?;
        }
        Ok(())
    }

    fn increment(&self, space: Space, key: &[u8]) -> Result<u64, StoreError> {
        let new = self
            .tree(space)
            .update_and_fetch(key, |old| {
                Some((counter_value(old) + 1).to_be_bytes().to_vec())
            })
            .map_err(io)?;
        self.flush()?;
        Ok(counter_value(new.as_deref()))
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        self.db.generate_id().map_err(io)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}
