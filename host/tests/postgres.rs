//! The PostgreSQL store against a real server each test starts: state
//! kept per workspace, leases (one holder, expiry, `SKIP LOCKED` claims),
//! fencing (a process that lost its lease commits nothing), and `ferry`
//! runs whose state lives in PostgreSQL.

mod support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use ferry::install_key::InstallationKey;
use ferry::store::postgres::{Leases, Pg, PgBackend, PgOptions};
use ferry::store::{
    BackendKind, EmbeddedStore, Intent, IntentOp, LedgerFilter, LedgerOp, LedgerRow, Link,
    LinkOrigin, RecordCommit, RunStatus, RunTrigger, Side, StateStore, StoreError, StoredToken,
    TokenStore,
};
use support::postgres::PgServer;

fn key() -> Arc<InstallationKey> {
    Arc::new(InstallationKey::from_secret("k".into(), &[7; 32]))
}

fn options(server: &PgServer, workspace: &str) -> PgOptions {
    PgOptions {
        url: server.url(),
        workspace: workspace.into(),
        ttl: Duration::from_secs(30),
    }
}

fn open(server: &PgServer, workspace: &str) -> EmbeddedStore {
    EmbeddedStore::open_postgres_with_key(&options(server, workspace), key()).unwrap()
}

fn link(other: &str, created: u64) -> Link {
    Link {
        other: other.into(),
        origin: LinkOrigin::Sync,
        created,
        change: None,
    }
}

fn row(run: u64, i: usize, op: LedgerOp) -> LedgerRow {
    LedgerRow {
        run,
        from_side: Side::From,
        source_id: format!("r{i:04}"),
        target_id: None,
        op,
        reason: None,
        diff: vec![],
        rule: None,
        title: None,
        target_title: None,
    }
}

/// A store whose lease lives `ttl` and is never renewed in time: a
/// process that was killed (or paused) right after claiming it.
fn stalled(server: &PgServer, workspace: &str, ttl: Duration) -> EmbeddedStore {
    let pg = Pg::connect(&server.url()).unwrap();
    let lease = Leases::new(pg.clone())
        .claim(workspace, "stalled", ttl)
        .unwrap()
        .expect("the workspace is free");
    let backend = PgBackend::with_lease(pg, lease, Duration::from_secs(3600));
    EmbeddedStore::over_postgres(backend, key()).unwrap()
}

#[test]
fn a_workspace_keeps_its_state_across_openings_apart_from_others() {
    let server = PgServer::start();
    {
        let store = open(&server, "acme");
        assert_eq!(store.kind(), BackendKind::Postgres);
        let mut run = store.begin_run("customers", RunTrigger::Manual).unwrap();
        store
            .commit(
                "customers",
                RecordCommit {
                    links: vec![(Side::From, "a1".into(), link("b1", 1))],
                    fired: vec!["a1:1".into()],
                    ledger: Some(row(run.id, 0, LedgerOp::Create)),
                    ..Default::default()
                },
            )
            .unwrap();
        // A put and a removal of one key in one batch: the last one wins.
        store
            .commit(
                "customers",
                RecordCommit {
                    unlinks: vec![(Side::From, "a1".into(), "b1".into())],
                    links: vec![(Side::From, "a1".into(), link("b1", 1))],
                    ..Default::default()
                },
            )
            .unwrap();
        run.status = RunStatus::Completed;
        store.save_run(&run).unwrap();
        store.set_paused("customers", true).unwrap();
        store.meta_put("token:ops", &42u32).unwrap();
        store
            .save(
                "crm",
                &StoredToken {
                    access_token: "secret-access-1234".into(),
                    expires_at: 9,
                    api_domain: None,
                },
            )
            .unwrap();
        store.flush().unwrap();
    }
    let store = open(&server, "acme");
    let back = store.link("customers", Side::To, "b1").unwrap().unwrap();
    assert_eq!(back.other, "a1");
    assert!(store.is_fired("customers", "a1:1").unwrap());
    assert!(store.is_paused("customers").unwrap());
    assert_eq!(store.meta_get::<u32>("token:ops").unwrap(), Some(42));
    assert_eq!(
        store.load("crm").unwrap().access_token,
        "secret-access-1234"
    );
    let runs = store.runs("customers", 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(
        store.begin_run("customers", RunTrigger::Manual).unwrap().id,
        2
    );
    assert_eq!(
        store
            .ledger("customers", 1, LedgerFilter::All, 0, 10)
            .unwrap()
            .len(),
        1
    );

    // Another workspace in the same database sees none of it.
    let other = open(&server, "globex");
    assert!(other.link("customers", Side::To, "b1").unwrap().is_none());
    assert!(other.runs("customers", 10).unwrap().is_empty());
    assert!(other.load("crm").is_none());
    assert_eq!(
        other.begin_run("customers", RunTrigger::Manual).unwrap().id,
        1
    );
}

#[test]
fn scans_page_through_more_rows_than_one_round_trip_reads() {
    let server = PgServer::start();
    let store = open(&server, "acme");
    for i in 0..1100 {
        let op = if i % 3 == 0 {
            LedgerOp::Skip
        } else {
            LedgerOp::Create
        };
        store
            .commit(
                "s",
                RecordCommit {
                    ledger: Some(row(1, i, op)),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let all = store.ledger("s", 1, LedgerFilter::All, 0, 5000).unwrap();
    assert_eq!(all.len(), 1100);
    let ids: Vec<&str> = all.iter().map(|r| r.source_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ledger rows keep their commit order");
    let page = store.ledger("s", 1, LedgerFilter::Skipped, 200, 3).unwrap();
    let page: Vec<&str> = page.iter().map(|r| r.source_id.as_str()).collect();
    assert_eq!(page, ["r0600", "r0603", "r0606"]);
    // Row numbers come in blocks per process: a process opening the state
    // next (a take-over) numbers its rows after every earlier one.
    drop(store);
    let store = open(&server, "acme");
    let rows: Vec<(String, RecordCommit)> = (1100..1105)
        .map(|i| {
            let commit = RecordCommit {
                ledger: Some(row(1, i, LedgerOp::Create)),
                ..Default::default()
            };
            ("s".to_string(), commit)
        })
        .collect();
    store.commit_all(rows).unwrap();
    let all = store.ledger("s", 1, LedgerFilter::All, 0, 5000).unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.source_id.as_str()).collect();
    assert_eq!(ids.len(), 1105);
    assert!(ids.is_sorted(), "rows after a take-over come last");
    for _ in 0..600 {
        store.begin_run("s", RunTrigger::Schedule).unwrap();
    }
    let runs = store.runs("s", 550).unwrap();
    assert_eq!(runs.len(), 550);
    assert_eq!(runs[0].id, 600, "newest first");
    assert_eq!(runs[549].id, 51);
}

#[test]
fn a_second_opener_waits_for_the_lease_to_be_released() {
    let server = PgServer::start();
    let first = open(&server, "acme");
    match EmbeddedStore::open_postgres_with_key(&options(&server, "acme"), key()) {
        Err(StoreError::InUse { path }) => {
            assert!(path.contains("workspace acme"), "{path}");
            assert!(path.contains("127.0.0.1"), "{path}");
        }
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a second opener must be refused"),
    }
    // Other workspaces are free meanwhile.
    drop(open(&server, "globex"));
    drop(first);
    let second = open(&server, "acme");
    second.begin_run("s", RunTrigger::Manual).unwrap();
}

#[test]
fn a_killed_holder_lets_go_after_its_ttl_and_its_run_ends_interrupted() {
    let server = PgServer::start();
    let killed = stalled(&server, "acme", Duration::from_secs(1));
    let run = killed.begin_run("s", RunTrigger::Manual).unwrap();
    // Killed: nothing released, nothing renewed.
    std::mem::forget(killed);
    assert!(matches!(
        EmbeddedStore::open_postgres_with_key(&options(&server, "acme"), key()),
        Err(StoreError::InUse { .. })
    ));
    std::thread::sleep(Duration::from_millis(1300));
    let next = open(&server, "acme");
    let stale = next.run("s", run.id).unwrap().unwrap();
    match stale.status {
        RunStatus::Failed(reason) => assert!(reason.contains("interrupted"), "{reason}"),
        other => panic!("the killed run must end interrupted, not {other:?}"),
    }
}

#[test]
fn a_holder_that_lost_its_lease_commits_nothing() {
    let server = PgServer::start();
    let old = stalled(&server, "acme", Duration::from_secs(1));
    old.commit(
        "s",
        RecordCommit {
            links: vec![(Side::From, "a".into(), link("b", 1))],
            ..Default::default()
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    // Past its TTL another process claims the workspace (a new epoch).
    let new = open(&server, "acme");
    let fenced = |r: Result<(), StoreError>| match r {
        Err(StoreError::Fenced { workspace, epoch }) => {
            assert_eq!((workspace.as_str(), epoch), ("acme", 1));
        }
        other => panic!("expected Fenced, got {other:?}"),
    };
    fenced(old.commit(
        "s",
        RecordCommit {
            links: vec![(Side::From, "a".into(), link("stale", 2))],
            ledger: Some(row(1, 0, LedgerOp::Create)),
            ..Default::default()
        },
    ));
    let intent = Intent {
        key: "t:a".into(),
        side: Side::To,
        source_id: "a".into(),
        op: IntentOp::Create,
        lookup: Default::default(),
        run: 1,
        created: 0,
        job: None,
    };
    fenced(old.put_intents("s", &[intent]));
    fenced(old.set_cursor("s", Side::From, &Default::default()));
    assert!(matches!(
        old.begin_run("s", RunTrigger::Manual),
        Err(StoreError::Fenced { .. })
    ));
    let message = old.set_paused("s", true).unwrap_err().to_string();
    assert!(message.contains("lost its lease"), "{message}");
    // Nothing of the stale commit landed; the new holder writes freely,
    // and the old one letting go does not release the new one's lease.
    assert_eq!(
        new.link("s", Side::From, "a").unwrap().unwrap().other,
        "b",
        "the fenced commit wrote nothing"
    );
    assert!(
        new.ledger("s", 1, LedgerFilter::All, 0, 10)
            .unwrap()
            .is_empty()
    );
    drop(old);
    new.commit(
        "s",
        RecordCommit {
            links: vec![(Side::From, "c".into(), link("d", 3))],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(
        EmbeddedStore::open_postgres_with_key(&options(&server, "acme"), key()),
        Err(StoreError::InUse { .. })
    ));
}

#[test]
fn of_claimers_racing_for_one_workspace_exactly_one_wins() {
    let server = PgServer::start();
    let leases = Leases::new(Pg::connect(&server.url()).unwrap());
    let barrier = Arc::new(Barrier::new(8));
    let won: Vec<_> = (0..8)
        .map(|i| {
            let (leases, barrier) = (leases.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                leases
                    .claim("acme", &format!("worker-{i}"), Duration::from_secs(30))
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(won.len(), 1, "{won:?}");
    let lease = &won[0];
    assert_eq!(lease.epoch, 1);
    assert!(leases.renew(lease, Duration::from_secs(30)).unwrap());
    assert!(
        leases
            .claim("acme", "late", Duration::from_secs(30))
            .unwrap()
            .is_none()
    );
    leases.release(lease).unwrap();
    assert!(!leases.renew(lease, Duration::from_secs(30)).unwrap());
    let next = leases
        .claim("acme", "late", Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert_eq!(next.epoch, 2, "every claim is a new epoch");
}

#[test]
fn due_workspaces_are_claimed_once_each_skipping_locked_rows() {
    let server = PgServer::start();
    let leases = Leases::new(Pg::connect(&server.url()).unwrap());
    for ws in ["a", "b", "c"] {
        leases.set_due(ws, Duration::ZERO).unwrap();
    }
    leases.set_due("later", Duration::from_secs(3600)).unwrap();
    let barrier = Arc::new(Barrier::new(6));
    let mut claimed: Vec<String> = (0..6)
        .map(|i| {
            let (leases, barrier) = (leases.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                leases
                    .claim_due(&format!("worker-{i}"), Duration::from_secs(30))
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .map(|lease| lease.workspace)
        .collect();
    claimed.sort();
    assert_eq!(claimed, ["a", "b", "c"], "each due workspace once");
    assert!(
        leases
            .claim_due("worker-9", Duration::from_secs(30))
            .unwrap()
            .is_none(),
        "nothing else is due"
    );
}

/// `ferry sync run --store postgres://…` on the sandbox: the run's links,
/// cursors and history are in PostgreSQL (none in the state directory),
/// and a second process finds them there: nothing is created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_runs_keep_their_state_in_postgres() {
    use support::bench::{BILLING, BOOKS, Bench, count};
    let server = PgServer::start();
    let sb = zoho_sandbox::Sandbox::builder()
        .seed(12)
        .start()
        .await
        .unwrap();
    let bench = Bench::new(
        &sb,
        &[BOOKS, BILLING],
        r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    fields:
      display_name: { expr: "'P ' + record.contact_name" }
      zcrm_account_id: contact_id
"#,
    );
    let customers = || count(&sb, "billing/30234695/customers");
    let before = customers();
    let url = server.url();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--store", url.as_str()]);
        let out = bench
            .ferry(&all)
            .env("FERRY_LEASE_TTL", "5s")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ferry {all:?}: {text}");
        text
    };
    run(&["sync", "run", "customers"]);
    assert_eq!(customers(), before + 12);
    assert_eq!(
        BackendKind::detect(&bench.state()),
        None,
        "no embedded store beside the workspace"
    );

    // A full re-read by a new process: every record is linked already.
    run(&["sync", "run", "customers", "--full"]);
    assert_eq!(customers(), before + 12, "nothing created twice");
    let history = run(&["history", "customers", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&history).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{history}");
    assert_eq!(runs[0]["counts"]["unchanged"], 12, "{history}");
    assert_eq!(runs[0]["counts"]["added"], 0, "{history}");

    // The links are rows of the workspace `workspace` (its file's name).
    let store = open(&server, "workspace");
    assert_eq!(store.all_links("customers").unwrap().len(), 12);
}

/// A `ferry` process killed with SIGKILL mid-run keeps the workspace until
/// its lease's TTL passes (another process is refused meanwhile); then the
/// next process takes it over, ends the killed run as interrupted, settles
/// its pending writes and resumes: every record exists exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_lets_go_after_its_ttl_and_the_next_resumes() {
    use support::bench::{BILLING, BOOKS, Bench, count};
    let server = PgServer::start();
    let sb = zoho_sandbox::Sandbox::builder()
        .seed(40)
        .start()
        .await
        .unwrap();
    let bench = Bench::new(
        &sb,
        &[BOOKS, BILLING],
        r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    fields:
      display_name: { expr: "'K ' + record.contact_name" }
      zcrm_account_id: contact_id
"#,
    );
    let customers = || count(&sb, "billing/30234695/customers");
    let before = customers();
    // Slow creates, so the kill lands mid-run.
    sb.faults(zoho_sandbox::FaultConfig {
        latency_ms: 40,
        only: "POST /billing/v1/customers".into(),
        ..Default::default()
    });
    let url = server.url();
    let ferry = |args: &[&str]| {
        let mut cmd = bench.ferry(args);
        cmd.args(["--store", url.as_str()])
            .env("FERRY_LEASE_TTL", "3s");
        cmd
    };
    let mut first = ferry(&["sync", "run", "customers"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while customers() < before + 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first run created nothing"
        );
        assert!(first.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let killed_at = std::time::Instant::now();
    let created = customers() - before;
    assert!(created < 40, "killed before the end ({created} created)");

    let out = ferry(&["sync", "run", "customers"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && said.contains("in use by another Ferry process"),
        "while the killed process's lease lives, the workspace is refused: {said}"
    );
    assert_eq!(customers() - before, created, "and nothing was written");

    tokio::time::sleep(Duration::from_secs(3).saturating_sub(killed_at.elapsed())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sb.faults(Default::default());
    let out = ferry(&["sync", "run", "customers"]).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert_eq!(customers(), before + 40, "every record once: {said}");

    let store = open(&server, "workspace");
    let runs = store.runs("customers", 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].status, RunStatus::Completed, "{runs:?}");
    assert!(
        matches!(&runs[1].status, RunStatus::Failed(r) if r.contains("interrupted")),
        "{runs:?}"
    );
    assert_eq!(store.all_links("customers").unwrap().len(), 40);
    assert!(store.pending_intents("customers").unwrap().is_empty());
}

/// Two `ferry serve` on one workspace in PostgreSQL: the second stands by
/// while the first holds it, and takes over once the first is killed with
/// SIGKILL and its lease expires, serving the same state (its API token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_service_takes_over_from_a_killed_one() {
    use support::bench::{BILLING, BOOKS, Bench};
    use support::served::Served;
    let server = PgServer::start();
    let sb = zoho_sandbox::Sandbox::builder()
        .seed(3)
        .start()
        .await
        .unwrap();
    let bench = Bench::new(
        &sb,
        &[BOOKS, BILLING],
        r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    fields:
      display_name: contact_name
    schedule: every 1h
"#,
    );
    let url = server.url();
    let serve = || {
        let mut cmd = bench.ferry(&["serve", "--listen", "127.0.0.1:0", "--manual-clock"]);
        cmd.args(["--store", url.as_str()])
            .env("FERRY_LEASE_TTL", "3s");
        cmd
    };
    let admin = {
        let out = support::stdout_of(
            &mut bench.ferry(&["tokens", "add", "root", "--role", "admin", "--store", &url]),
        );
        String::from_utf8(out).unwrap().trim().to_string()
    };
    let first = Served::spawn(serve());
    assert_eq!(
        first.status_of("customers", &admin).await["name"],
        "customers"
    );

    let log_path = bench.dir().join("standby.log");
    let standby = std::thread::spawn({
        let (cmd, log) = (serve(), std::fs::File::create(&log_path).unwrap());
        move || Served::spawn_logging(cmd, log)
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !standby.is_finished(),
        "the standby must not serve while the first holds the workspace"
    );
    drop(first); // SIGKILL
    let killed_at = std::time::Instant::now();
    let second = tokio::task::spawn_blocking(move || standby.join().unwrap())
        .await
        .unwrap();
    let took = killed_at.elapsed();
    // Not before the killed one's lease (3 s, renewed every second) ran out.
    assert!(
        took > Duration::from_millis(1000) && took < Duration::from_secs(15),
        "took over after {took:?}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("standing by to take it over"), "{log}");
    assert_eq!(
        second.status_of("customers", &admin).await["name"],
        "customers"
    );
}

/// A `ferry serve` stalled past its lease (SIGSTOP) while a standby took
/// the workspace over steps down when it resumes: it exits with an error
/// instead of serving a workspace it may no longer write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_lost_its_lease_steps_down() {
    use support::bench::{BILLING, BOOKS, Bench};
    use support::served::Served;
    let server = PgServer::start();
    let sb = zoho_sandbox::Sandbox::builder()
        .seed(3)
        .start()
        .await
        .unwrap();
    let bench = Bench::new(
        &sb,
        &[BOOKS, BILLING],
        "syncs:\n  customers:\n    from: books.contacts\n    to: billing.customers\n    fields:\n      display_name: contact_name\n    schedule: every 1h\n",
    );
    let url = server.url();
    let serve = || {
        let mut cmd = bench.ferry(&["serve", "--listen", "127.0.0.1:0", "--manual-clock"]);
        cmd.args(["--store", url.as_str()])
            .env("FERRY_LEASE_TTL", "3s");
        cmd
    };
    let added = bench
        .ferry(&["tokens", "add", "root", "--role", "admin", "--store", &url])
        .output()
        .unwrap();
    assert!(added.status.success());
    let log_path = bench.dir().join("first.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut first = std::panic::catch_unwind(|| Served::spawn_logging(serve(), log))
        .unwrap_or_else(|_| panic!("{}", std::fs::read_to_string(&log_path).unwrap()));
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    signal("-STOP", first.pid());
    let second = tokio::task::spawn_blocking({
        let cmd = serve();
        move || Served::spawn_logging(cmd, std::process::Stdio::null())
    })
    .await
    .unwrap();
    signal("-CONT", first.pid());
    let status = tokio::task::spawn_blocking(move || {
        let status = first.wait_exit(Duration::from_secs(20));
        (status, first)
    })
    .await
    .unwrap();
    let (status, _first) = status;
    let status = status.expect("the stalled service steps down by itself");
    assert!(!status.success(), "{status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("lost the workspace's lease"), "{log}");
    drop(second);
}

/// Rolling upgrades: once a newer Ferry has migrated the schema further,
/// a worker of this release still starts on it (migrations only add).
#[test]
fn an_older_release_starts_on_a_schema_a_newer_one_migrated() {
    let server = PgServer::start();
    drop(Pg::connect(&server.url()).unwrap());
    let url = server.url();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from a newer release', true, '\\x00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
            pool.close().await;
        });
    let pg = Pg::connect(&server.url());
    assert!(pg.is_ok(), "{:?}", pg.err());
}
