//! The store's behaviour, on every engine: redb, sled and PostgreSQL.

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
            target_title: None,
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
        job: None,
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
                            target_title: None,
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
        target_title: None,
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
