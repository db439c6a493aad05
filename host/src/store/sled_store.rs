//! The embedded backend: sled, one directory per workspace.
//!
//! All sync state lives in one tree so that a record's commit is one atomic
//! batch. Keys are `<kind>\0<namespace>\0…`; vendor ids never hold NUL.
//! sled recovers to a consistent prefix of its log after a crash, so a
//! commit is all or nothing; `flush` makes it durable.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::*;
use super::{LedgerFilter, StateStore, StoreError};
use crate::capability::{StoredToken, TokenStore};

/// The sled-backed state store of one workspace.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    tokens: sled::Tree,
    state: sled::Tree,
    meta: sled::Tree,
}

const SEP: u8 = 0;

/// sled's page cache.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

fn side_tag(side: Side) -> &'static [u8] {
    match side {
        Side::From => b"f",
        Side::To => b"t",
    }
}

fn other_side(side: Side) -> Side {
    match side {
        Side::From => Side::To,
        Side::To => Side::From,
    }
}

/// `kind \0 part \0 part …`, with a trailing separator when `open` (a
/// prefix for scans).
fn key(kind: u8, parts: &[&[u8]], open: bool) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.push(kind);
    for p in parts {
        k.push(SEP);
        k.extend_from_slice(p);
    }
    if open {
        k.push(SEP);
    }
    k
}

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("state values serialise")
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what,
        message: e.to_string(),
    })
}

impl SledStore {
    /// Open (creating) the store in `dir`. sled locks the directory, so a
    /// second process on the same workspace state fails here.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let fail = |e: sled::Error| StoreError::Open {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let db = sled::Config::new()
            .path(dir)
            // Bounded: a sync of a million records must not grow Ferry's
            // memory with its state (sled's default cache is 1 GiB).
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(200))
            .open()
            .map_err(fail)?;
        Ok(SledStore {
            tokens: db.open_tree("tokens").map_err(fail)?,
            state: db.open_tree("state").map_err(fail)?,
            meta: db.open_tree("meta").map_err(fail)?,
            db,
        })
    }

    /// A value of the service's own bookkeeping (API tokens, notification
    /// channels, API usage), by key.
    pub fn meta_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.meta.get(key).map_err(io)? {
            Some(v) => Ok(Some(decode("meta", &v)?)),
            None => Ok(None),
        }
    }

    /// Store a bookkeeping value durably.
    pub fn meta_put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        self.meta.insert(key, encode(value)).map_err(io)?;
        self.flush()
    }

    pub fn meta_remove(&self, key: &str) -> Result<bool, StoreError> {
        let gone = self.meta.remove(key).map_err(io)?.is_some();
        self.flush()?;
        Ok(gone)
    }

    /// Every bookkeeping value whose key starts with `prefix`.
    pub fn meta_scan<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.meta
            .scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item.map_err(io)?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    decode("meta", &v)?,
                ))
            })
            .collect()
    }

    fn scan<T: DeserializeOwned>(
        &self,
        what: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.state
            .scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item.map_err(io)?;
                Ok((k.to_vec(), decode(what, &v)?))
            })
            .collect()
    }

    fn get<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.state.get(key).map_err(io)? {
            Some(v) => Ok(Some(decode(what, &v)?)),
            None => Ok(None),
        }
    }
}

impl StateStore for SledStore {
    fn links(&self, ns: &str, side: Side, id: &str) -> Result<Vec<Link>, StoreError> {
        let prefix = key(b'L', &[ns.as_bytes(), side_tag(side), id.as_bytes()], true);
        let mut links: Vec<Link> = self
            .scan("link", &prefix)?
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        links.sort_by_key(|l| l.created);
        Ok(links)
    }

    fn all_links(&self, ns: &str) -> Result<Vec<(String, String, Link)>, StoreError> {
        let prefix = key(b'L', &[ns.as_bytes(), side_tag(Side::From)], true);
        self.scan::<Link>("link", &prefix)?
            .into_iter()
            .map(|(k, link)| {
                let rest = &k[prefix.len()..];
                let cut = rest.iter().position(|b| *b == SEP).unwrap_or(rest.len());
                let from = String::from_utf8_lossy(&rest[..cut]).into_owned();
                Ok((from, link.other.clone(), link))
            })
            .collect()
    }

    fn snapshot(&self, ns: &str, side: Side, id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.get(
            "snapshot",
            &key(b'S', &[ns.as_bytes(), side_tag(side), id.as_bytes()], false),
        )
    }

    fn cursor(&self, ns: &str, side: Side) -> Result<Option<Cursor>, StoreError> {
        self.get(
            "cursor",
            &key(b'C', &[ns.as_bytes(), side_tag(side)], false),
        )
    }

    fn set_cursor(&self, ns: &str, side: Side, cursor: &Cursor) -> Result<(), StoreError> {
        self.state
            .insert(
                key(b'C', &[ns.as_bytes(), side_tag(side)], false),
                encode(cursor),
            )
            .map_err(io)?;
        self.flush()
    }

    fn clear_cursors(&self, ns: &str) -> Result<(), StoreError> {
        for side in [Side::From, Side::To] {
            self.state
                .remove(key(b'C', &[ns.as_bytes(), side_tag(side)], false))
                .map_err(io)?;
        }
        self.flush()
    }

    fn put_intents(&self, ns: &str, intents: &[Intent]) -> Result<(), StoreError> {
        if intents.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for intent in intents {
            batch.insert(
                key(b'I', &[ns.as_bytes(), intent.key.as_bytes()], false),
                encode(intent),
            );
        }
        self.state.apply_batch(batch).map_err(io)?;
        // The call it announces must never happen without it on disk.
        self.flush()
    }

    fn pending_intents(&self, ns: &str) -> Result<Vec<Intent>, StoreError> {
        Ok(self
            .scan("intent", &key(b'I', &[ns.as_bytes()], true))?
            .into_iter()
            .map(|(_, i)| i)
            .collect())
    }

    fn is_fired(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        self.state
            .contains_key(self::key(b'F', &[ns.as_bytes(), key.as_bytes()], false))
            .map_err(io)
    }

    fn commit(&self, ns: &str, commit: RecordCommit) -> Result<(), StoreError> {
        let ns_b = ns.as_bytes();
        let mut batch = sled::Batch::default();
        for (side, id, other) in &commit.unlinks {
            batch.remove(key(
                b'L',
                &[ns_b, side_tag(*side), id.as_bytes(), other.as_bytes()],
                false,
            ));
            batch.remove(key(
                b'L',
                &[
                    ns_b,
                    side_tag(other_side(*side)),
                    other.as_bytes(),
                    id.as_bytes(),
                ],
                false,
            ));
        }
        for (side, id, link) in &commit.links {
            batch.insert(
                key(
                    b'L',
                    &[ns_b, side_tag(*side), id.as_bytes(), link.other.as_bytes()],
                    false,
                ),
                encode(link),
            );
            let reverse = Link {
                other: id.clone(),
                ..link.clone()
            };
            batch.insert(
                key(
                    b'L',
                    &[
                        ns_b,
                        side_tag(other_side(*side)),
                        link.other.as_bytes(),
                        id.as_bytes(),
                    ],
                    false,
                ),
                encode(&reverse),
            );
        }
        for (side, id, snapshot) in &commit.snapshots {
            batch.insert(
                key(b'S', &[ns_b, side_tag(*side), id.as_bytes()], false),
                encode(snapshot),
            );
        }
        for (other_ns, side, id, snapshot) in &commit.foreign_snapshots {
            batch.insert(
                key(
                    b'S',
                    &[other_ns.as_bytes(), side_tag(*side), id.as_bytes()],
                    false,
                ),
                encode(snapshot),
            );
        }
        for done in &commit.intents_done {
            batch.remove(key(b'I', &[ns_b, done.as_bytes()], false));
        }
        for fired in &commit.fired {
            batch.insert(key(b'F', &[ns_b, fired.as_bytes()], false), &[][..]);
        }
        if let Some(row) = &commit.ledger {
            // Monotonic across the store, so rows keep their commit order.
            let seq = self.db.generate_id().map_err(io)?;
            batch.insert(
                key(
                    b'G',
                    &[ns_b, &row.run.to_be_bytes(), &seq.to_be_bytes()],
                    false,
                ),
                encode(row),
            );
        }
        self.state.apply_batch(batch).map_err(io)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(io)
    }

    fn begin_run(&self, ns: &str, trigger: RunTrigger) -> Result<RunRecord, StoreError> {
        let counter = key(b'N', &[ns.as_bytes()], false);
        let next = self
            .state
            .update_and_fetch(&counter, |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                Some((n + 1).to_be_bytes().to_vec())
            })
            .map_err(io)?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1);
        let run = RunRecord {
            id: next,
            sync: ns.to_string(),
            trigger,
            started: unix_now(),
            ended: None,
            status: RunStatus::Running,
            counts: Counts::default(),
        };
        self.save_run(&run)?;
        Ok(run)
    }

    fn save_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.state
            .insert(
                key(b'R', &[run.sync.as_bytes(), &run.id.to_be_bytes()], false),
                encode(run),
            )
            .map_err(io)?;
        self.flush()
    }

    fn runs(&self, ns: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let prefix = key(b'R', &[ns.as_bytes()], true);
        self.state
            .scan_prefix(prefix)
            .rev()
            .take(limit)
            .map(|item| decode("run", &item.map_err(io)?.1))
            .collect()
    }

    fn run(&self, ns: &str, id: u64) -> Result<Option<RunRecord>, StoreError> {
        self.get(
            "run",
            &key(b'R', &[ns.as_bytes(), &id.to_be_bytes()], false),
        )
    }

    fn ledger(
        &self,
        ns: &str,
        run: u64,
        filter: LedgerFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LedgerRow>, StoreError> {
        let prefix = key(b'G', &[ns.as_bytes(), &run.to_be_bytes()], true);
        let mut rows = Vec::new();
        let mut skipped = 0;
        for item in self.state.scan_prefix(prefix) {
            let row: LedgerRow = decode("ledger", &item.map_err(io)?.1)?;
            if !filter.admits(row.op) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
                continue;
            }
            rows.push(row);
            if rows.len() >= limit {
                break;
            }
        }
        Ok(rows)
    }

    fn set_paused(&self, ns: &str, paused: bool) -> Result<(), StoreError> {
        let k = key(b'P', &[ns.as_bytes()], false);
        if paused {
            self.state.insert(k, b"1".to_vec()).map_err(io)?;
        } else {
            self.state.remove(k).map_err(io)?;
        }
        self.flush()
    }

    fn is_paused(&self, ns: &str) -> Result<bool, StoreError> {
        self.state
            .contains_key(key(b'P', &[ns.as_bytes()], false))
            .map_err(io)
    }
}

impl TokenStore for SledStore {
    fn load(&self, connection: &str) -> Option<StoredToken> {
        let bytes = self.tokens.get(connection).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn save(&self, connection: &str, token: &StoredToken) -> Result<(), String> {
        let bytes = serde_json::to_vec(token).map_err(|e| e.to_string())?;
        self.tokens
            .insert(connection, bytes)
            .map_err(|e| e.to_string())?;
        // A token that is not durable would be minted again after a crash.
        self.tokens.flush().map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn tokens_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let token = StoredToken {
            access_token: "tok".into(),
            expires_at: 42,
            api_domain: None,
        };
        {
            let store = SledStore::open(dir.path()).unwrap();
            assert!(store.load("crm").is_none());
            store.save("crm", &token).unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.load("crm"), Some(token));
        assert!(store.load("books").is_none());
    }

    fn link(other: &str, created: u64) -> Link {
        Link {
            other: other.into(),
            origin: LinkOrigin::Sync,
            created,
        }
    }

    #[test]
    fn a_commit_writes_links_both_ways_and_settles_its_intent() {
        let (_dir, store) = open();
        let intent = Intent {
            key: "t:a1".into(),
            side: Side::To,
            source_id: "a1".into(),
            op: IntentOp::Create,
            lookup: Default::default(),
            run: 1,
            created: 0,
        };
        store
            .put_intents("customers", std::slice::from_ref(&intent))
            .unwrap();
        assert_eq!(store.pending_intents("customers").unwrap(), [intent]);
        assert!(store.pending_intents("other").unwrap().is_empty());
        store
            .commit(
                "customers",
                RecordCommit {
                    links: vec![(Side::From, "a1".into(), link("b1", 1))],
                    snapshots: vec![(
                        Side::To,
                        "b1".into(),
                        Snapshot {
                            fingerprint: "fp".into(),
                            modified: None,
                            state: None,
                            version: 0,
                        },
                    )],
                    intents_done: vec!["t:a1".into()],
                    fired: vec!["a1:1".into()],
                    foreign_snapshots: vec![(
                        "targets:customers".into(),
                        Side::To,
                        "b1".into(),
                        Snapshot {
                            fingerprint: String::new(),
                            modified: None,
                            state: Some(serde_json::json!({"status": "draft"})),
                            version: 0,
                        },
                    )],
                    ledger: None,
                    unlinks: vec![],
                },
            )
            .unwrap();
        assert!(store.is_fired("customers", "a1:1").unwrap());
        assert!(!store.is_fired("customers", "a1:2").unwrap());
        assert!(!store.is_fired("other", "a1:1").unwrap());
        assert_eq!(
            store
                .snapshot("targets:customers", Side::To, "b1")
                .unwrap()
                .unwrap()
                .state,
            Some(serde_json::json!({"status": "draft"}))
        );
        assert_eq!(
            store
                .link("customers", Side::From, "a1")
                .unwrap()
                .unwrap()
                .other,
            "b1"
        );
        assert_eq!(
            store
                .link("customers", Side::To, "b1")
                .unwrap()
                .unwrap()
                .other,
            "a1"
        );
        // Namespaces and id prefixes do not bleed into each other.
        assert!(store.link("customers", Side::From, "a").unwrap().is_none());
        assert!(store.link("other", Side::From, "a1").unwrap().is_none());
        assert!(store.pending_intents("customers").unwrap().is_empty());
        assert_eq!(
            store
                .snapshot("customers", Side::To, "b1")
                .unwrap()
                .unwrap()
                .fingerprint,
            "fp"
        );
        let all = store.all_links("customers").unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].0.as_str(), all[0].1.as_str()), ("a1", "b1"));

        store
            .commit(
                "customers",
                RecordCommit {
                    unlinks: vec![(Side::To, "b1".into(), "a1".into())],
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(store.link("customers", Side::From, "a1").unwrap().is_none());
    }

    #[test]
    fn a_record_may_link_to_many_in_creation_order() {
        let (_dir, store) = open();
        for (other, at) in [("inv2", 2), ("inv1", 1)] {
            store
                .commit(
                    "won",
                    RecordCommit {
                        links: vec![(Side::From, "deal".into(), link(other, at))],
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        let others: Vec<String> = store
            .links("won", Side::From, "deal")
            .unwrap()
            .into_iter()
            .map(|l| l.other)
            .collect();
        assert_eq!(others, ["inv1", "inv2"]);
    }

    #[test]
    fn runs_are_numbered_and_ledgers_filtered_and_paged() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let mut run = store.begin_run("s", RunTrigger::Manual).unwrap();
            assert_eq!(run.id, 1);
            for (i, op) in [
                LedgerOp::Create,
                LedgerOp::Skip,
                LedgerOp::Fail,
                LedgerOp::Skip,
            ]
            .into_iter()
            .enumerate()
            {
                run.counts.count(op);
                store
                    .commit(
                        "s",
                        RecordCommit {
                            ledger: Some(LedgerRow {
                                run: 1,
                                from_side: Side::From,
                                source_id: format!("r{i}"),
                                target_id: None,
                                op,
                                reason: None,
                                diff: vec![],
                                rule: None,
                            }),
                            ..Default::default()
                        },
                    )
                    .unwrap();
            }
            run.status = RunStatus::Completed;
            store.save_run(&run).unwrap();
            store.set_paused("s", true).unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.begin_run("s", RunTrigger::Schedule).unwrap().id, 2);
        let runs = store.runs("s", 10).unwrap();
        assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(runs[1].counts.skipped, 2);
        let ids = |rows: Vec<LedgerRow>| rows.into_iter().map(|r| r.source_id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.ledger("s", 1, LedgerFilter::Skipped, 0, 10).unwrap()),
            ["r1", "r3"]
        );
        assert_eq!(
            ids(store.ledger("s", 1, LedgerFilter::NotDone, 1, 1).unwrap()),
            ["r2"]
        );
        assert!(store.is_paused("s").unwrap());
        store.set_paused("s", false).unwrap();
        assert!(!store.is_paused("s").unwrap());
    }
}
