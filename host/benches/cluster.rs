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
//!   of `FERRY_BENCH_LEASE_TTL` (default 10s).
//!
//! `cargo bench -p ferry --bench cluster --profile dev` (after
//! `scripts/build-plugins`): the tests' build serves, as the bounds here are
//! the vendor's latency and limits, not Ferry's CPU.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ferry::store::postgres::{Leases, Pg};
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
    rt.block_on(async {
        throughput(n, latency).await;
        rate_limited(n).await;
        take_over(&ttl).await;
    });
}
