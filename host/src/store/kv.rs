//! The ordered key–value layer under [`super::EmbeddedStore`]: what an
//! embedded engine must offer (atomic batches, prefix scans in key order,
//! a durability point). Everything Ferry knows about its own keys lives
//! above it, once, whatever the engine.

use super::StoreError;

/// One of the store's key spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Links, snapshots, cursors, intents, runs and ledgers: one space, so
    /// one record's commit is one atomic batch.
    State,
    /// The service's own bookkeeping (API tokens, channels, usage).
    Meta,
    /// OAuth tokens of connections.
    Tokens,
}

/// One change of an atomic batch.
#[derive(Debug)]
pub enum Write {
    Put(Vec<u8>, Vec<u8>),
    Remove(Vec<u8>),
}

/// How a batch must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Atomic and visible at once; on disk by the next durable write (or
    /// within a fraction of a second).
    Soon,
    /// On disk before the call returns.
    Now,
}

/// Visits one entry of a scan; `false` stops the scan.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StoreError> + 'a;

/// An embedded ordered key–value engine.
pub trait Backend: Send + Sync {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Entries whose key starts with `prefix`, in key order (descending when
    /// `reverse`), streamed to `visit`.
    fn scan(
        &self,
        space: Space,
        prefix: &[u8],
        reverse: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError>;

    /// Apply `writes` all or nothing.
    fn apply(
        &self,
        space: Space,
        writes: Vec<Write>,
        durability: Durability,
    ) -> Result<(), StoreError>;

    /// Add one to the big-endian counter at `key` (absent: 0) and return the
    /// new value, atomically and durably.
    fn increment(&self, space: Space, key: &[u8]) -> Result<u64, StoreError>;

    /// A number greater than any this store returned before, across
    /// restarts (orders ledger rows).
    fn next_id(&self) -> Result<u64, StoreError>;

    /// Make every earlier write durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// For a store shared by processes under a lease: becomes `true` when
    /// the lease is lost (every later write is refused). `None` for an
    /// engine that holds its state alone (a file lock never expires).
    fn lease_lost(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}

/// The first key after every key starting with `prefix` (`None`: no bound).
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Feed `entries` to `visit` (backward when `reverse`) until it stops.
pub(super) fn feed<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    entries: impl DoubleEndedIterator<Item = Result<(K, V), StoreError>>,
    reverse: bool,
    visit: &mut Visit<'_>,
) -> Result<(), StoreError> {
    let entries: Box<dyn Iterator<Item = _>> = if reverse {
        Box::new(entries.rev())
    } else {
        Box::new(entries)
    };
    for entry in entries {
        let (k, v) = entry?;
        if !visit(k.as_ref(), v.as_ref())? {
            break;
        }
    }
    Ok(())
}

pub(super) fn counter_value(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_ends_at_its_successor() {
        assert_eq!(prefix_end(b"L\0s\0"), Some(b"L\0s\x01".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff"), None);
    }
}
