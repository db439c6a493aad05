//! A cluster of `ferry serve --workspaces` workers on a PostgreSQL of its
//! own and the sandbox, as processes:
//!
//! * **throughput** — `FERRY_BENCH_WORKSPACES` workspaces (default 8, at
//!   most 10) of 20 Books contacts each, synced to Billing, every create
//!   answered after `FERRY_BENCH_LATENCY_MS` (default 50: a vendor's round
//!   trip), run by 1, 2 and 4 workers: the time until every workspace is
//!   done, and records a second;
//! * **one rate-limited account** — the same workspaces to one Alternative
//!   Payments account (5 requests a second, enforced by the sandbox), by 1,
//!   2 and 4 workers: the shared pace is the bound, whatever the workers;
//! * **take-over** — two workers on one workspace with slow creates; the
//!   holder is killed (SIGKILL) mid-run: the time until the other claims
//!   the workspace and until its first record after the kill, with leases
//!   of `FERRY_BENCH_LEASE_TTL` (default 10s);
//! * **PostgreSQL** — record commits a second (each a link both ways, two
//!   snapshots and a ledger row in one transaction, fenced by the lease's
//!   epoch, as a sync commits a record) from 1 and 4 workspaces at once,
//!   and pacing reservations a second on one account from 4 workers at
//!   once: what the database does before a vendor's limit comes into it.
//!
//! `cargo bench -p ferry --bench cluster --profile dev` (after
//! `scripts/build-plugins`): the tests' build serves, as the bounds here are
//! the vendor's latency and limits, not Ferry's CPU (the PostgreSQL part's
//! figures are the database's and the driver's). `FERRY_BENCH_ONLY` takes
//! a comma-separated list of parts (`throughput`, `rate-limited`,
//! `take-over`, `postgres`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use std::sync::Arc;

use ferry::capability::Pacer;
use ferry::install_key::InstallationKey;
use ferry::store::postgres::{Leases, Pg, PgOptions, PgPacer};
use ferry::store::{
    EmbeddedStore, LedgerOp, LedgerRow, Link, LinkOrigin, RecordCommit, RunTrigger, Side, Snapshot,
    StateStore,
};
use support::bench::{AP, BILLING, ap_customers, count};
use support::cluster::{TO_AP, TO_BILLING, Worker, all_done, held, logs, spawn_worker, workspaces};
use support::postgres::PgServer;
use zoho_sandbox::{FaultConfig, Sandbox};

/// Contacts in the sandbox: 20 for each last digit.
const CONTACTS: usize = 200;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Start `workers` workers on `n` workspaces syncing to `other`; the time
/// until every workspace is done.
async fn cluster_run(
    other: (&str, &str, Option<&str>),
    sync: &str,
    n: usize,
    workers: usize,
    faults: FaultConfig,
) -> (f64, u64, Sandbox) {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(CONTACTS).start().await.unwrap();
    sb.faults(faults);
    let bench = workspaces(&sb, other, n, sync);
    let before = billing_customers(&sb);
    let logs_dir = tempfile::tempdir().unwrap();
    let log = |i: usize| logs_dir.path().join(format!("worker-{i}.log"));
    let started = Instant::now();
    let running: Vec<Worker> = (0..workers)
        .map(|i| spawn_worker(bench.dir(), &url, &log(i), &[], "30s").0)
        .collect();
    let leases = Leases::new(Pg::connect(&url).unwrap());
    all_done(&leases, n, || (0..workers).map(|i| logs(&log(i))).collect()).await;
    let seconds = started.elapsed().as_secs_f64();
    drop(running);
    let made = billing_customers(&sb) - before;
    (seconds, made, sb)
}

fn billing_customers(sb: &Sandbox) -> u64 {
    count(sb, &format!("billing/{}/customers", BILLING.2.unwrap()))
}

async fn throughput(n: usize, latency_ms: u64) {
    println!(
        "\nthroughput: {n} workspaces × 20 contacts, Books → Billing, {latency_ms} ms a create"
    );
    println!(
        "{:>8} {:>10} {:>12} {:>10}",
        "workers", "seconds", "records/s", "speed-up"
    );
    let mut one = None;
    for workers in [1, 2, 4] {
        let faults = FaultConfig {
            latency_ms,
            only: "POST /billing/v1/customers".into(),
            ..Default::default()
        };
        let (seconds, made, _) = cluster_run(BILLING, TO_BILLING, n, workers, faults).await;
        let records = (n * 20) as f64;
        let base = *one.get_or_insert(seconds);
        println!(
            "{workers:>8} {seconds:>10.1} {:>12.1} {:>9.2}x   ({made} customers made)",
            records / seconds,
            base / seconds
        );
    }
}

async fn rate_limited(n: usize) {
    println!(
        "\none rate-limited account: {n} workspaces × 20 contacts → one Alternative Payments account (5 requests/s)"
    );
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10}",
        "workers", "seconds", "records/s", "throttled", "peak/s"
    );
    for workers in [1, 2, 4] {
        let (seconds, _, sb) = cluster_run(AP, TO_AP, n, workers, FaultConfig::default()).await;
        let stats = sb.ap_stats();
        println!(
            "{workers:>8} {seconds:>10.1} {:>12.1} {:>10} {:>10}   ({} customers)",
            (n * 20) as f64 / seconds,
            stats.throttled,
            stats.peak_per_second,
            ap_customers(&sb).len()
        );
    }
}

async fn take_over(ttl: &str) {
    let server = PgServer::start();
    let url = server.url();
    let sb = Sandbox::builder().seed(CONTACTS).start().await.unwrap();
    sb.faults(FaultConfig {
        latency_ms: 300,
        only: "POST /billing/v1/customers".into(),
        ..Default::default()
    });
    let bench = workspaces(&sb, BILLING, 1, TO_BILLING);
    let logs_dir = tempfile::tempdir().unwrap();
    let log = |i: usize| logs_dir.path().join(format!("worker-{i}.log"));
    let mut running: Vec<Worker> = (0..2)
        .map(|i| spawn_worker(bench.dir(), &url, &log(i), &[], ttl).0)
        .collect();
    let leases = Leases::new(Pg::connect(&url).unwrap());
    let made = || billing_customers(&sb);
    let before = made();
    // Mid-run: some records made.
    let holder = loop {
        if made() >= before + 3
            && let Some(h) = held(&leases).remove("ws0")
        {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let i = running.iter().position(|w| w.holder == holder).unwrap();
    drop(running.remove(i)); // SIGKILL
    let killed = Instant::now();
    let at_kill = made();
    let claimed = loop {
        if held(&leases).get("ws0").is_some_and(|h| *h != holder) {
            break killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let resumed = loop {
        if made() > at_kill {
            break killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    all_done(&leases, 1, || logs(&log(0)) + &logs(&log(1))).await;
    println!(
        "\ntake-over (leases of {ttl}): claimed by the other worker {:.1} s after the kill, first record after it {:.1} s; {} customers for 20 contacts",
        claimed.as_secs_f64(),
        resumed.as_secs_f64(),
        made() - before
    );
}

/// Records committed by each workspace in [`postgres`].
const COMMITS: usize = 1000;

/// One record's commit, as a sync makes it after creating `i`'s copy.
fn record_commit(run: u64, i: usize) -> RecordCommit {
    let snapshot = Snapshot {
        fingerprint: format!("{i:064x}"),
        modified: Some("2026-12-04T10:00:00+00:00".into()),
        state: Some(
            serde_json::json!({ "display_name": format!("Customer {i}"), "email": format!("c{i}@example.com") }),
        ),
        version: 1,
        taken: 1,
    };
    RecordCommit {
        links: vec![(
            Side::From,
            format!("a{i}"),
            Link {
                other: format!("b{i}"),
                origin: LinkOrigin::Sync,
                created: 1,
                change: None,
            },
        )],
        snapshots: vec![
            (Side::From, format!("a{i}"), snapshot.clone()),
            (Side::To, format!("b{i}"), snapshot),
        ],
        ledger: Some(LedgerRow {
            run,
            from_side: Side::From,
            source_id: format!("a{i}"),
            target_id: Some(format!("b{i}")),
            op: LedgerOp::Create,
            reason: None,
            diff: vec![],
            rule: None,
            title: Some(format!("Customer {i}")),
            target_title: None,
        }),
        ..Default::default()
    }
}

async fn postgres() {
    let server = PgServer::start();
    let url = server.url();
    let key = Arc::new(InstallationKey::from_secret("bench".into(), &[7; 32]));
    for stores in [1usize, 4] {
        let started = Instant::now();
        std::thread::scope(|s| {
            for w in 0..stores {
                let (url, key) = (url.clone(), key.clone());
                s.spawn(move || {
                    let options = PgOptions {
                        url,
                        workspace: format!("commits-{stores}-{w}"),
                        ttl: Duration::from_secs(60),
                    };
                    let store = EmbeddedStore::open_postgres_with_key(&options, key).unwrap();
                    let run = store.begin_run("customers", RunTrigger::Manual).unwrap();
                    for i in 0..COMMITS {
                        store.commit("customers", record_commit(run.id, i)).unwrap();
                    }
                    store.flush().unwrap();
                });
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "postgres: {stores} workspace(s) committing at once: {:.0} record commits/s ({} in {seconds:.1} s)",
            (stores * COMMITS) as f64 / seconds,
            stores * COMMITS
        );
    }
    let pacer = Arc::new(PgPacer::new(Pg::connect(&url).unwrap()));
    let started = Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let pacer = pacer.clone();
            tokio::spawn(async move {
                for _ in 0..COMMITS {
                    pacer.reserve("one-account", Duration::ZERO).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "postgres: pacing on one account from 4 workers: {:.0} reservations/s",
        (4 * COMMITS) as f64 / seconds
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let n = env_number("FERRY_BENCH_WORKSPACES", 8).min(10) as usize;
    let latency = env_number("FERRY_BENCH_LATENCY_MS", 50);
    let ttl = std::env::var("FERRY_BENCH_LEASE_TTL").unwrap_or_else(|_| "10s".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `FERRY_BENCH_ONLY=postgres,take-over` runs some parts only.
    let only = std::env::var("FERRY_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
    rt.block_on(async {
        if part("throughput") {
            throughput(n, latency).await;
        }
        if part("rate-limited") {
            rate_limited(n).await;
        }
        if part("take-over") {
            take_over(&ttl).await;
        }
        if part("postgres") {
            postgres().await;
        }
    });
}
