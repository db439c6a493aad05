//! The embedded store: Ferry's keys and values over an ordered key–value
//! [`Backend`] (redb by default, or sled), in the workspace's state
//! directory.
//!
//! The same code keeps a workspace's state in PostgreSQL too, over
//! [`super::postgres::PgBackend`] ([`EmbeddedStore::open_postgres`]), so
//! every semantic below holds there unchanged.
//!
//! All sync state lives in one key space so that a record's commit is one
//! atomic batch. Keys are `<kind>\0<namespace>\0…`; vendor ids never hold
//! NUL. Values are JSON; the service's bookkeeping and OAuth tokens (which
//! hold secrets) are sealed with the installation key. The directory is
//! private to its owner (0700, the redb file 0600).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::kv::{Backend, Durability, Space, Write};
use super::postgres::{PgBackend, PgOptions, redacted};
use super::redb_backend::RedbBackend;
use super::sled_backend::SledBackend;
use super::tokens::{StoredToken, TokenStore};
use super::types::*;
use super::{LedgerFilter, StateStore, StoreError};
use crate::install_key::{InstallationKey, private_dir, private_file};

/// Which engine keeps a state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendKind {
    /// redb: one file, memory bounded by its cache.
    #[default]
    Redb,
    /// sled: one directory; its memory grows with the state.
    Sled,
    /// A PostgreSQL database (`--store postgres://…`), shared by workers.
    #[value(skip)]
    Postgres,
}

/// The redb file inside a state directory.
const REDB_FILE: &str = "state.redb";
/// The sled directory inside a state directory.
const SLED_DIR: &str = "state";

impl BackendKind {
    /// As `--store` spells it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Redb => "redb",
            BackendKind::Sled => "sled",
            BackendKind::Postgres => "postgres",
        }
    }

    /// The engine that already keeps `state_dir`, if any.
    pub fn detect(state_dir: &Path) -> Option<BackendKind> {
        if state_dir.join(REDB_FILE).exists() {
            Some(BackendKind::Redb)
        } else if state_dir.join(SLED_DIR).join("conf").exists() {
            Some(BackendKind::Sled)
        } else {
            None
        }
    }
}

/// The state store of one workspace.
#[derive(Clone)]
pub struct EmbeddedStore {
    backend: Arc<dyn Backend>,
    kind: BackendKind,
    path: PathBuf,
    /// Seals what holds secrets (the `Meta` and `Tokens` spaces).
    key: Arc<InstallationKey>,
    /// Request pacing shared with the other processes on the same store
    /// (PostgreSQL only).
    pacer: Option<Arc<dyn crate::capability::Pacer>>,
}

const SEP: u8 = 0;

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

fn link_key(ns: &[u8], side: Side, id: &str, other: &str) -> Vec<u8> {
    key(
        b'L',
        &[ns, side_tag(side), id.as_bytes(), other.as_bytes()],
        false,
    )
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

impl EmbeddedStore {
    /// Open (creating) the store of the state directory `state_dir`, with
    /// the engine that already keeps it, else `preferred`. The engine locks
    /// its files, so a second process on the same state fails here.
    pub fn open(state_dir: &Path, preferred: BackendKind) -> Result<EmbeddedStore, StoreError> {
        let key = InstallationKey::installation().map_err(|e| StoreError::Open {
            path: state_dir.display().to_string(),
            message: e.to_string(),
        })?;
        Self::open_with_key(state_dir, preferred, key)
    }

    /// [`EmbeddedStore::open`] sealing secrets with `key`.
    pub fn open_with_key(
        state_dir: &Path,
        preferred: BackendKind,
        key: Arc<InstallationKey>,
    ) -> Result<EmbeddedStore, StoreError> {
        let open_error = |e: std::io::Error| StoreError::Open {
            path: state_dir.display().to_string(),
            message: e.to_string(),
        };
        private_dir(state_dir).map_err(open_error)?;
        let kind = BackendKind::detect(state_dir).unwrap_or(preferred);
        let (backend, path): (Arc<dyn Backend>, PathBuf) = match kind {
            BackendKind::Redb => {
                let path = state_dir.join(REDB_FILE);
                let backend = RedbBackend::open(&path)?;
                private_file(&path).map_err(open_error)?;
                (backend, path)
            }
            BackendKind::Sled => {
                let path = state_dir.join(SLED_DIR);
                let backend = Arc::new(SledBackend::open(&path)?);
                private_dir(&path).map_err(open_error)?;
                (backend, path)
            }
            BackendKind::Postgres => {
                return Err(StoreError::Open {
                    path: state_dir.display().to_string(),
                    message: "a PostgreSQL store opens from its URL (`--store postgres://…`)"
                        .into(),
                });
            }
        };
        let store = EmbeddedStore {
            backend,
            kind,
            path,
            key,
            pacer: None,
        };
        store.close_interrupted_runs()?;
        Ok(store)
    }

    /// A workspace's state in PostgreSQL, holding its lease while open (a
    /// second process fails with [`StoreError::InUse`] until the lease is
    /// released, or expires after `options.ttl` if its holder was killed).
    pub fn open_postgres(options: &PgOptions) -> Result<EmbeddedStore, StoreError> {
        let key = InstallationKey::installation().map_err(|e| StoreError::Open {
            path: redacted(&options.url),
            message: e.to_string(),
        })?;
        Self::open_postgres_with_key(options, key)
    }

    /// [`EmbeddedStore::open_postgres`] sealing secrets with `key`.
    pub fn open_postgres_with_key(
        options: &PgOptions,
        key: Arc<InstallationKey>,
    ) -> Result<EmbeddedStore, StoreError> {
        let backend = PgBackend::open(options)?;
        Self::over_postgres(backend, key)
    }

    /// The store over a PostgreSQL backend already holding its lease (a
    /// worker's).
    pub fn over_postgres(
        backend: PgBackend,
        key: Arc<InstallationKey>,
    ) -> Result<EmbeddedStore, StoreError> {
        let path = PathBuf::from(backend.place());
        let pacer = Some(backend.pacer());
        let store = EmbeddedStore {
            backend: Arc::new(backend),
            kind: BackendKind::Postgres,
            path,
            key,
            pacer,
        };
        // Holding the lease, this process is the workspace's one writer, so
        // a run still marked running was another's, killed or cut off.
        store.close_interrupted_runs()?;
        Ok(store)
    }

    /// Pacing to share with the other processes on this store, when they
    /// can share it (PostgreSQL).
    pub fn shared_pacer(&self) -> Option<Arc<dyn crate::capability::Pacer>> {
        self.pacer.clone()
    }

    /// Runs still marked running belong to a process that is gone (one
    /// process opens a state at a time): killed, or stopped past its
    /// shutdown grace. They end as failed, saying so; what they committed
    /// stays, and their pending writes are settled by the next run.
    fn close_interrupted_runs(&self) -> Result<(), StoreError> {
        let mut stale: Vec<RunRecord> = Vec::new();
        self.backend
            .scan(Space::State, &key(b'R', &[], true), false, &mut |_, v| {
                let run: RunRecord = decode("run", v)?;
                if run.status == RunStatus::Running {
                    stale.push(run);
                }
                Ok(true)
            })?;
        for mut run in stale {
            run.ended = Some(unix_now());
            run.status = RunStatus::Failed(super::types::INTERRUPTED.into());
            self.save_run(&run)?;
        }
        Ok(())
    }

    /// A secret-holding value as stored: sealed, bound to its space and key.
    fn seal(&self, space: &[u8], key: &[u8], plain: &[u8]) -> Vec<u8> {
        self.key.seal(&[space, b"\0", key].concat(), plain)
    }

    /// The plain value of a stored one; `None` if another installation
    /// sealed it (or it was altered): it reads as absent.
    fn unseal(&self, space: &[u8], key: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
        self.key.open(&[space, b"\0", key].concat(), stored)
    }

    /// Resolves when this process lost its lease on a shared store
    /// (PostgreSQL): another process holds the workspace, and every write
    /// from here on is refused. Never, on an embedded engine.
    pub async fn lease_lost(&self) {
        match self.backend.lease_lost() {
            Some(mut lost) => {
                if lost.wait_for(|lost| *lost).await.is_err() {
                    std::future::pending::<()>().await
                }
            }
            None => std::future::pending().await,
        }
    }

    /// The engine keeping this store.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Where the engine keeps it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A value of the service's own bookkeeping (API tokens, notification
    /// channels, API usage), by key.
    pub fn meta_get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.backend.get(Space::Meta, key.as_bytes())? {
            Some(v) => match self.unseal(b"meta", key.as_bytes(), &v) {
                Some(plain) => Ok(Some(decode("meta", &plain)?)),
                None => Ok(None),
            },
            None => Ok(None),
        }
    }

    /// Store a bookkeeping value durably.
    pub fn meta_put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let sealed = self.seal(b"meta", key.as_bytes(), &encode(value));
        self.backend.apply(
            Space::Meta,
            vec![Write::Put(key.as_bytes().to_vec(), sealed)],
            Durability::Now,
        )
    }

    pub fn meta_remove(&self, key: &str) -> Result<bool, StoreError> {
        let present = self.backend.get(Space::Meta, key.as_bytes())?.is_some();
        if present {
            self.backend.apply(
                Space::Meta,
                vec![Write::Remove(key.as_bytes().to_vec())],
                Durability::Now,
            )?;
        }
        Ok(present)
    }

    /// Every bookkeeping value whose key starts with `prefix` (values this
    /// installation cannot open are left out).
    pub fn meta_scan<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut found = Vec::new();
        self.backend
            .scan(Space::Meta, prefix.as_bytes(), false, &mut |k, v| {
                if let Some(plain) = self.unseal(b"meta", k, v) {
                    found.push((
                        String::from_utf8_lossy(k).into_owned(),
                        decode("meta", &plain)?,
                    ));
                }
                Ok(true)
            })?;
        Ok(found)
    }

    fn scan<T: DeserializeOwned>(
        &self,
        what: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut found = Vec::new();
        self.backend
            .scan(Space::State, prefix, false, &mut |k, v| {
                found.push((k.to_vec(), decode(what, v)?));
                Ok(true)
            })?;
        Ok(found)
    }

    fn get<T: DeserializeOwned>(
        &self,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.backend.get(Space::State, key)? {
            Some(v) => Ok(Some(decode(what, &v)?)),
            None => Ok(None),
        }
    }

    fn put_now(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.backend
            .apply(Space::State, vec![Write::Put(key, value)], Durability::Now)
    }
}

impl EmbeddedStore {
    /// The writes of one record's commit under `ns` (its ledger row
    /// numbered now).
    fn commit_writes(&self, ns: &str, commit: &RecordCommit) -> Result<Vec<Write>, StoreError> {
        let ns_b = ns.as_bytes();
        let mut writes = Vec::new();
        for (side, id, other) in &commit.unlinks {
            writes.push(Write::Remove(link_key(ns_b, *side, id, other)));
            writes.push(Write::Remove(link_key(ns_b, other_side(*side), other, id)));
        }
        for (side, id, link) in &commit.links {
            writes.push(Write::Put(
                link_key(ns_b, *side, id, &link.other),
                encode(link),
            ));
            let reverse = Link {
                other: id.clone(),
                ..link.clone()
            };
            writes.push(Write::Put(
                link_key(ns_b, other_side(*side), &link.other, id),
                encode(&reverse),
            ));
        }
        for (side, id, snapshot) in &commit.snapshots {
            writes.push(Write::Put(
                key(b'S', &[ns_b, side_tag(*side), id.as_bytes()], false),
                encode(snapshot),
            ));
        }
        for (other_ns, side, id, snapshot) in &commit.foreign_snapshots {
            writes.push(Write::Put(
                key(
                    b'S',
                    &[other_ns.as_bytes(), side_tag(*side), id.as_bytes()],
                    false,
                ),
                encode(snapshot),
            ));
        }
        for (other_ns, side, id) in &commit.forget {
            writes.push(Write::Remove(key(
                b'S',
                &[other_ns.as_bytes(), side_tag(*side), id.as_bytes()],
                false,
            )));
        }
        for done in &commit.intents_done {
            writes.push(Write::Remove(key(b'I', &[ns_b, done.as_bytes()], false)));
        }
        for fired in &commit.fired {
            writes.push(Write::Put(
                key(b'F', &[ns_b, fired.as_bytes()], false),
                Vec::new(),
            ));
        }
        if let Some(row) = &commit.ledger
            && row.source_id != "?"
        {
            // The record's latest outcome, for retrying what still fails.
            let failing = key(
                b'X',
                &[ns_b, side_tag(row.from_side), row.source_id.as_bytes()],
                false,
            );
            writes.push(match row.op {
                LedgerOp::Fail => Write::Put(
                    failing,
                    encode(&Failing {
                        side: row.from_side,
                        id: row.source_id.clone(),
                        run: row.run,
                        reason: row.reason.clone(),
                    }),
                ),
                _ => Write::Remove(failing),
            });
        }
        if let Some(row) = &commit.ledger {
            // Monotonic across the store, so rows keep their commit order.
            let seq = self.backend.next_id()?;
            writes.push(Write::Put(
                key(
                    b'G',
                    &[ns_b, &row.run.to_be_bytes(), &seq.to_be_bytes()],
                    false,
                ),
                encode(row),
            ));
        }
        Ok(writes)
    }
}

impl StateStore for EmbeddedStore {
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

    fn snapshots(&self, ns: &str, side: Side) -> Result<Vec<(String, Snapshot)>, StoreError> {
        let prefix = key(b'S', &[ns.as_bytes(), side_tag(side)], true);
        Ok(self
            .scan::<Snapshot>("snapshot", &prefix)?
            .into_iter()
            .map(|(k, s)| (String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), s))
            .collect())
    }

    fn cursor(&self, ns: &str, side: Side) -> Result<Option<Cursor>, StoreError> {
        self.get(
            "cursor",
            &key(b'C', &[ns.as_bytes(), side_tag(side)], false),
        )
    }

    fn set_cursor(&self, ns: &str, side: Side, cursor: &Cursor) -> Result<(), StoreError> {
        self.put_now(
            key(b'C', &[ns.as_bytes(), side_tag(side)], false),
            encode(cursor),
        )
    }

    fn clear_cursors(&self, ns: &str) -> Result<(), StoreError> {
        let writes = [Side::From, Side::To]
            .into_iter()
            .map(|side| Write::Remove(key(b'C', &[ns.as_bytes(), side_tag(side)], false)))
            .collect();
        self.backend.apply(Space::State, writes, Durability::Now)
    }

    fn put_intents(&self, ns: &str, intents: &[Intent]) -> Result<(), StoreError> {
        if intents.is_empty() {
            return Ok(());
        }
        let writes = intents
            .iter()
            .map(|intent| {
                Write::Put(
                    key(b'I', &[ns.as_bytes(), intent.key.as_bytes()], false),
                    encode(intent),
                )
            })
            .collect();
        // The call it announces must never happen without it on disk.
        self.backend.apply(Space::State, writes, Durability::Now)
    }

    fn pending_intents(&self, ns: &str) -> Result<Vec<Intent>, StoreError> {
        Ok(self
            .scan("intent", &key(b'I', &[ns.as_bytes()], true))?
            .into_iter()
            .map(|(_, i)| i)
            .collect())
    }

    fn failing(&self, ns: &str) -> Result<Vec<Failing>, StoreError> {
        Ok(self
            .scan("failing record", &key(b'X', &[ns.as_bytes()], true))?
            .into_iter()
            .map(|(_, f)| f)
            .collect())
    }

    fn is_fired(&self, ns: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .backend
            .get(
                Space::State,
                &self::key(b'F', &[ns.as_bytes(), key.as_bytes()], false),
            )?
            .is_some())
    }

    fn commit(&self, ns: &str, commit: RecordCommit) -> Result<(), StoreError> {
        let writes = self.commit_writes(ns, &commit)?;
        self.backend.apply(Space::State, writes, Durability::Soon)
    }

    fn commit_all(&self, commits: Vec<(String, RecordCommit)>) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        for (ns, commit) in &commits {
            writes.extend(self.commit_writes(ns, commit)?);
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.backend.apply(Space::State, writes, Durability::Soon)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.backend.flush()
    }

    fn begin_run(&self, ns: &str, trigger: RunTrigger) -> Result<RunRecord, StoreError> {
        let next = self
            .backend
            .increment(Space::State, &key(b'N', &[ns.as_bytes()], false))?;
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
        self.put_now(
            key(b'R', &[run.sync.as_bytes(), &run.id.to_be_bytes()], false),
            encode(run),
        )
    }

    fn runs(&self, ns: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let prefix = key(b'R', &[ns.as_bytes()], true);
        let mut runs = Vec::new();
        if limit == 0 {
            return Ok(runs);
        }
        self.backend
            .scan(Space::State, &prefix, true, &mut |_, v| {
                runs.push(decode("run", v)?);
                Ok(runs.len() < limit)
            })?;
        Ok(runs)
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
        if limit == 0 {
            return Ok(rows);
        }
        let mut skipped = 0;
        self.backend
            .scan(Space::State, &prefix, false, &mut |_, v| {
                let row: LedgerRow = decode("ledger", v)?;
                if !filter.admits(row.op) {
                    return Ok(true);
                }
                if skipped < offset {
                    skipped += 1;
                    return Ok(true);
                }
                rows.push(row);
                Ok(rows.len() < limit)
            })?;
        Ok(rows)
    }

    fn set_paused(&self, ns: &str, paused: bool) -> Result<(), StoreError> {
        let k = key(b'P', &[ns.as_bytes()], false);
        let write = if paused {
            Write::Put(k, b"1".to_vec())
        } else {
            Write::Remove(k)
        };
        self.backend
            .apply(Space::State, vec![write], Durability::Now)
    }

    fn is_paused(&self, ns: &str) -> Result<bool, StoreError> {
        Ok(self
            .backend
            .get(Space::State, &key(b'P', &[ns.as_bytes()], false))?
            .is_some())
    }
}

impl TokenStore for EmbeddedStore {
    fn load(&self, connection: &str) -> Option<StoredToken> {
        let stored = self
            .backend
            .get(Space::Tokens, connection.as_bytes())
            .ok()??;
        let plain = self.unseal(b"tokens", connection.as_bytes(), &stored)?;
        serde_json::from_slice(&plain).ok()
    }

    fn save(&self, connection: &str, token: &StoredToken) -> Result<(), String> {
        let bytes = serde_json::to_vec(token).map_err(|e| e.to_string())?;
        let sealed = self.seal(b"tokens", connection.as_bytes(), &bytes);
        // A token that is not durable would be minted again after a crash.
        self.backend
            .apply(
                Space::Tokens,
                vec![Write::Put(connection.as_bytes().to_vec(), sealed)],
                Durability::Now,
            )
            .map_err(|e| e.to_string())
    }
}

/// A PostgreSQL server of the tests' own (shared with the integration
/// tests' support).
#[cfg(test)]
#[path = "../../../tests/support/postgres.rs"]
mod pg_server;

#[cfg(test)]
mod tests;
