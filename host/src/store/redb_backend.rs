//! redb as a [`Backend`]: one file, one table per [`Space`], a bounded
//! page cache, so the store's memory stays flat however many records a
//! workspace holds.
//!
//! Most commits are non-durable (atomic, and on disk with the next durable
//! one); a commit is durable when asked, and a background thread makes
//! the others durable within 200 ms, as sled does. After a crash redb opens
//! at the last durable commit, which is always a consistent state.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::StoreError;
use super::kv::{Backend, Durability, Space, Visit, Write, counter_value, feed, prefix_end};

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

const STATE: Table = TableDefinition::new("state");
const META: Table = TableDefinition::new("meta");
const TOKENS: Table = TableDefinition::new("tokens");

/// redb's page cache.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// The longest a non-durable commit waits to be made durable.
const DURABLE_EVERY: Duration = Duration::from_millis(200);
/// Ids reserved on disk at a time (`next_id`).
const ID_BLOCK: u64 = 1 << 20;
const ID_KEY: &[u8] = b"\0next-id";

pub struct RedbBackend {
    db: redb::Database,
    /// Held while committing, so the flag matches the last commit: `true`
    /// while a commit is not yet durable.
    dirty: Mutex<bool>,
    next_id: AtomicU64,
    /// Ids below this are reserved on disk.
    id_limit: Mutex<u64>,
}

fn io(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Io(e.into().to_string())
}

fn table(space: Space) -> Table {
    match space {
        Space::State => STATE,
        Space::Meta => META,
        Space::Tokens => TOKENS,
    }
}

/// A stored key or value, read in place.
struct Bytes<'a>(redb::AccessGuard<'a, &'static [u8]>);

impl AsRef<[u8]> for Bytes<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.value()
    }
}

impl RedbBackend {
    /// Open (creating) the store in the file `path`. redb locks it, so a
    /// second process on the same state fails here.
    pub fn open(path: &Path) -> Result<Arc<RedbBackend>, StoreError> {
        let fail = |e: redb::Error| match e {
            redb::Error::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.display().to_string(),
            },
            other => StoreError::Open {
                path: path.display().to_string(),
                message: other.to_string(),
            },
        };
        let db = redb::Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| fail(e.into()))?;
        // Tables exist from the start, so reads never meet a missing one.
        let tx = db.begin_write().map_err(|e| fail(e.into()))?;
        for space in [Space::State, Space::Meta, Space::Tokens] {
            tx.open_table(table(space)).map_err(|e| fail(e.into()))?;
        }
        tx.commit().map_err(|e| fail(e.into()))?;
        let backend = Arc::new(RedbBackend {
            db,
            dirty: Mutex::new(false),
            next_id: AtomicU64::new(0),
            id_limit: Mutex::new(0),
        });
        let reserved = counter_value(backend.get(Space::Meta, ID_KEY)?.as_deref());
        backend.next_id.store(reserved, Ordering::SeqCst);
        *backend.id_limit.lock().expect("id lock") = reserved;
        spawn_flusher(Arc::downgrade(&backend));
        Ok(backend)
    }

    fn write(
        &self,
        durability: Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(io)?;
        let mut dirty = self.dirty.lock().expect("durability lock");
        let durable = durability == Durability::Now;
        if !durable {
            tx.set_durability(redb::Durability::None).map_err(io)?;
        }
        f(&tx)?;
        tx.commit().map_err(io)?;
        *dirty = !durable;
        Ok(())
    }
}

/// Make non-durable commits durable within [`DURABLE_EVERY`], until the
/// backend is dropped.
fn spawn_flusher(backend: Weak<RedbBackend>) {
    let spawned = std::thread::Builder::new()
        .name("ferry-store-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(DURABLE_EVERY);
                let Some(backend) = backend.upgrade() else {
                    return;
                };
                if let Err(e) = backend.flush() {
                    tracing::warn!(error = %e, "could not make the state store durable");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no background flusher for the state store");
    }
}

impl Backend for RedbBackend {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(io)?;
        let t = tx.open_table(table(space)).map_err(io)?;
        Ok(t.get(key).map_err(io)?.map(|v| v.value().to_vec()))
    }

    fn scan(
        &self,
        space: Space,
        prefix: &[u8],
        reverse: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read().map_err(io)?;
        let t = tx.open_table(table(space)).map_err(io)?;
        let end = prefix_end(prefix);
        let upper = match &end {
            Some(end) => Bound::Excluded(end.as_slice()),
            None => Bound::Unbounded,
        };
        let range = t
            .range::<&[u8]>((Bound::Included(prefix), upper))
            .map_err(io)?;
        let entries = range.map(|entry| {
            let (k, v) = entry.map_err(io)?;
            Ok((Bytes(k), Bytes(v)))
        });
        feed(entries, reverse, visit)
    }

    fn apply(
        &self,
        space: Space,
        writes: Vec<Write>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.write(durability, |tx| {
            let mut t = tx.open_table(table(space)).map_err(io)?;
            for write in &writes {
                match write {
                    Write::Put(k, v) => {
                        t.insert(k.as_slice(), v.as_slice()).map_err(io)?;
                    }
                    Write::Remove(k) => {
                        t.remove(k.as_slice()).map_err(io)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn increment(&self, space: Space, key: &[u8]) -> Result<u64, StoreError> {
        let mut new = 0;
        self.write(Durability::Now, |tx| {
            let mut t = tx.open_table(table(space)).map_err(io)?;
            let old = counter_value(
                t.get(key)
                    .map_err(io)?
                    .map(|v| v.value().to_vec())
                    .as_deref(),
            );
            new = old + 1;
            t.insert(key, new.to_be_bytes().as_slice()).map_err(io)?;
            Ok(())
        })?;
        Ok(new)
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let mut limit = self.id_limit.lock().expect("id lock");
        if id >= *limit {
            // Reserve the next block durably before handing out its ids,
            // so a restart never hands them out again.
            let reserved = id + ID_BLOCK;
            self.apply(
                Space::Meta,
                vec![Write::Put(ID_KEY.to_vec(), reserved.to_be_bytes().to_vec())],
                Durability::Now,
            )?;
            *limit = reserved;
        }
        Ok(id)
    }

    fn flush(&self) -> Result<(), StoreError> {
        if !*self.dirty.lock().expect("durability lock") {
            return Ok(());
        }
        self.write(Durability::Now, |_| Ok(()))
    }
}
