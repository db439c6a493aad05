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
        let store = EmbeddedStore {
            backend: Arc::new(backend),
            kind: BackendKind::Postgres,
            path,
            key,
        };
        // Holding the lease, this process is the workspace's one writer, so
        // a run still marked running was another's, killed or cut off.
        store.close_interrupted_runs()?;
        Ok(store)
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
            run.status = RunStatus::Failed(
                "interrupted: Ferry stopped before the run ended; the next run settles its pending writes".into(),
            );
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
#[path = "../../tests/support/postgres.rs"]
mod pg_server;

#[cfg(test)]
mod tests {

    use super::*;

    const KINDS: [BackendKind; 2] = [BackendKind::Redb, BackendKind::Sled];

    /// Each test below it runs once per engine.
    macro_rules! on_each_engine {
        ($($test:ident),* $(,)?) => {
            mod each_engine {
                $(
                    #[test]
                    fn $test() {
                        for kind in super::KINDS {
                            super::$test(kind);
                        }
                    }
                )*
            }
        };
    }

    use super::pg_server;

    /// The server the PostgreSQL runs of these tests share (started by the
    /// first, stopped when the last lets go).
    fn pg_server() -> Arc<pg_server::PgServer> {
        static LIVE: std::sync::Mutex<std::sync::Weak<pg_server::PgServer>> =
            std::sync::Mutex::new(std::sync::Weak::new());
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = live.upgrade() {
            return server;
        }
        let server = Arc::new(pg_server::PgServer::start());
        *live = Arc::downgrade(&server);
        server
    }

    /// Each test below it runs on PostgreSQL too, a workspace of its own.
    macro_rules! on_postgres_too {
        ($($test:ident),* $(,)?) => {
            mod on_postgres {
                $(
                    #[test]
                    fn $test() {
                        let _server = super::pg_server();
                        super::$test(super::BackendKind::Postgres);
                    }
                )*
            }
        };
    }

    on_postgres_too!(
        tokens_survive_reopening,
        a_commit_writes_links_both_ways_and_settles_its_intent,
        a_record_may_link_to_many_in_creation_order,
        runs_are_numbered_and_ledgers_filtered_and_paged,
        a_second_opening_of_the_same_state_fails_and_says_where,
        bookkeeping_values_are_kept_apart_from_sync_state,
        a_record_is_failing_until_a_later_row_says_otherwise,
    );

    on_each_engine!(
        tokens_survive_reopening,
        a_commit_writes_links_both_ways_and_settles_its_intent,
        a_record_may_link_to_many_in_creation_order,
        runs_are_numbered_and_ledgers_filtered_and_paged,
        a_state_directory_keeps_its_engine_and_ledger_order_across_reopening,
        a_second_opening_of_the_same_state_fails_and_says_where,
        bookkeeping_values_are_kept_apart_from_sync_state,
        secrets_are_sealed_and_the_directory_private,
        a_record_is_failing_until_a_later_row_says_otherwise,
    );

    fn a_record_is_failing_until_a_later_row_says_otherwise(kind: BackendKind) {
        let (_dir, store) = open(kind);
        let row = |run, side, id: &str, op| RecordCommit {
            ledger: Some(LedgerRow {
                run,
                from_side: side,
                source_id: id.into(),
                target_id: None,
                op,
                reason: Some(format!("{op:?} in run {run}")),
                diff: vec![],
                rule: None,
                title: None,
            }),
            ..Default::default()
        };
        let failing = |ns| {
            let mut ids: Vec<(Side, String, u64)> = store
                .failing(ns)
                .unwrap()
                .into_iter()
                .map(|f| (f.side, f.id, f.run))
                .collect();
            ids.sort();
            ids
        };
        store
            .commit("s", row(1, Side::From, "a", LedgerOp::Fail))
            .unwrap();
        store
            .commit("s", row(1, Side::From, "b", LedgerOp::Fail))
            .unwrap();
        store
            .commit("s", row(1, Side::To, "a", LedgerOp::Fail))
            .unwrap();
        store
            .commit("other", row(1, Side::From, "c", LedgerOp::Fail))
            .unwrap();
        // A later run fails `a` again and creates `b`: `b` is no longer
        // failing; `a` keeps its latest run.
        store
            .commit("s", row(2, Side::From, "a", LedgerOp::Fail))
            .unwrap();
        store
            .commit("s", row(2, Side::From, "b", LedgerOp::Create))
            .unwrap();
        assert_eq!(
            failing("s"),
            [
                (Side::From, "a".to_string(), 2),
                (Side::To, "a".to_string(), 1)
            ]
        );
        // Skipped (filtered out, or gone at the source) counts as dealt with.
        store
            .commit("s", row(3, Side::To, "a", LedgerOp::Skip))
            .unwrap();
        assert_eq!(failing("s"), [(Side::From, "a".to_string(), 2)]);
        assert_eq!(failing("other"), [(Side::From, "c".to_string(), 1)]);
        assert_eq!(
            store.failing("s").unwrap()[0].reason.as_deref(),
            Some("Fail in run 2")
        );
    }

    /// Open again in this process. Both engines may let go of their files
    /// from a background thread (sled's, or redb's flusher) just after the
    /// store is dropped, so a reopening may have to wait (a new process
    /// never does).
    fn reopen(dir: &Path, kind: BackendKind) -> EmbeddedStore {
        for _ in 0..100 {
            match open_once(dir, kind) {
                Ok(store) => return store,
                Err(e) if e.to_string().contains("lock") || e.to_string().contains("in use") => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{kind:?}: the store stayed locked")
    }

    /// One try; on PostgreSQL the directory names the workspace and the
    /// server is the test's (see `on_postgres_too`).
    fn open_once(dir: &Path, kind: BackendKind) -> Result<EmbeddedStore, StoreError> {
        match kind {
            BackendKind::Postgres => EmbeddedStore::open_postgres(&PgOptions {
                url: pg_server().url(),
                workspace: dir.display().to_string(),
                ttl: std::time::Duration::from_secs(30),
            }),
            _ => EmbeddedStore::open(dir, kind),
        }
    }

    fn open(kind: BackendKind) -> (tempfile::TempDir, EmbeddedStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = match kind {
            BackendKind::Postgres => reopen(dir.path(), kind),
            _ => EmbeddedStore::open(dir.path(), kind).unwrap(),
        };
        assert_eq!(store.kind(), kind);
        (dir, store)
    }

    fn tokens_survive_reopening(kind: BackendKind) {
        let dir = tempfile::tempdir().unwrap();
        let token = StoredToken {
            access_token: "tok".into(),
            expires_at: 42,
            api_domain: None,
        };
        {
            let store = reopen(dir.path(), kind);
            assert!(store.load("crm").is_none());
            store.save("crm", &token).unwrap();
        }
        let store = reopen(dir.path(), kind);
        assert_eq!(store.load("crm"), Some(token));
        assert!(store.load("books").is_none());
    }

    /// Tokens and bookkeeping never reach the disk in plain text, only the
    /// owner may read the state, and another installation's key opens
    /// nothing (its values read as absent, so a token is refreshed).
    fn secrets_are_sealed_and_the_directory_private(kind: BackendKind) {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let key = |b| Arc::new(InstallationKey::from_secret("k".into(), &[b; 32]));
        let secret = "access-9f8e7d6c5b4a";
        {
            let store = EmbeddedStore::open_with_key(&state, kind, key(1)).unwrap();
            let token = StoredToken {
                access_token: secret.into(),
                expires_at: 42,
                api_domain: None,
            };
            store.save("crm", &token).unwrap();
            store.meta_put("channel/crm", &secret).unwrap();
            assert_eq!(store.load("crm"), Some(token));
            assert_eq!(
                store.meta_get::<String>("channel/crm").unwrap().as_deref(),
                Some(secret)
            );
            store.flush().unwrap();
        }
        let mut files = vec![state.clone()];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the token in plain text",
                    path.display()
                );
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&state), 0o700);
            if kind == BackendKind::Redb {
                assert_eq!(mode(&state.join(REDB_FILE)), 0o600);
            }
        }
        let other = loop {
            match EmbeddedStore::open_with_key(&state, kind, key(2)) {
                Ok(store) => break store,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        assert_eq!(other.load("crm"), None);
        assert_eq!(other.meta_get::<String>("channel/crm").unwrap(), None);
    }

    fn link(other: &str, created: u64) -> Link {
        Link {
            other: other.into(),
            origin: LinkOrigin::Sync,
            created,
            change: None,
        }
    }

    fn a_commit_writes_links_both_ways_and_settles_its_intent(kind: BackendKind) {
        let (_dir, store) = open(kind);
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
                            taken: 0,
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
                            taken: 0,
                        },
                    )],
                    ledger: None,
                    unlinks: vec![],
                    forget: vec![],
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
        let listed = store.snapshots("targets:customers", Side::To).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, "b1");
        assert!(
            store
                .snapshots("targets:custom", Side::To)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .snapshots("targets:customers", Side::From)
                .unwrap()
                .is_empty()
        );
        store
            .commit(
                "customers",
                RecordCommit {
                    forget: vec![("targets:customers".into(), Side::To, "b1".into())],
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            store
                .snapshots("targets:customers", Side::To)
                .unwrap()
                .is_empty()
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

    fn a_record_may_link_to_many_in_creation_order(kind: BackendKind) {
        let (_dir, store) = open(kind);
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

    fn runs_are_numbered_and_ledgers_filtered_and_paged(kind: BackendKind) {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = reopen(dir.path(), kind);
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
                                title: None,
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
        let store = reopen(dir.path(), kind);
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

    fn a_state_directory_keeps_its_engine_and_ledger_order_across_reopening(kind: BackendKind) {
        let other = if kind == BackendKind::Redb {
            BackendKind::Sled
        } else {
            BackendKind::Redb
        };
        let dir = tempfile::tempdir().unwrap();
        let row = |i: usize| LedgerRow {
            run: 1,
            from_side: Side::From,
            source_id: format!("r{i}"),
            target_id: None,
            op: LedgerOp::Create,
            reason: None,
            diff: vec![],
            rule: None,
            title: None,
        };
        for (opening, range) in [(kind, 0..3), (other, 3..6)] {
            let store = reopen(dir.path(), opening);
            assert_eq!(store.kind(), kind, "an existing store keeps its engine");
            for i in range {
                store
                    .commit(
                        "s",
                        RecordCommit {
                            ledger: Some(row(i)),
                            ..Default::default()
                        },
                    )
                    .unwrap();
            }
            store.flush().unwrap();
        }
        let store = reopen(dir.path(), other);
        let ids: Vec<String> = store
            .ledger("s", 1, LedgerFilter::All, 0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.source_id)
            .collect();
        assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4", "r5"], "{kind:?}");
    }

    fn a_second_opening_of_the_same_state_fails_and_says_where(kind: BackendKind) {
        let (dir, _store) = open(kind);
        let err = match open_once(dir.path(), kind) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{kind:?}: a second opening must fail"),
        };
        assert!(
            err.contains("cannot open the state store at")
                && err.contains(&dir.path().display().to_string()),
            "{kind:?}: {err}"
        );
    }

    fn bookkeeping_values_are_kept_apart_from_sync_state(kind: BackendKind) {
        let (_dir, store) = open(kind);
        store.meta_put("token:a", &1u32).unwrap();
        store.meta_put("token:b", &2u32).unwrap();
        store.meta_put("usage:a", &3u32).unwrap();
        let tokens: Vec<(String, u32)> = store.meta_scan("token:").unwrap();
        assert_eq!(
            tokens,
            [("token:a".to_string(), 1), ("token:b".to_string(), 2)]
        );
        assert!(store.meta_remove("token:a").unwrap());
        assert!(!store.meta_remove("token:a").unwrap());
        assert_eq!(store.meta_get::<u32>("token:a").unwrap(), None);
        assert!(store.pending_intents("token:").unwrap().is_empty());
    }
}
