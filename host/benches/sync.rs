//! First syncs of N records against the sandbox with its limits off, as a
//! user runs them (`ferry sync run`), counting the API calls the sandbox
//! served and the `ferry` process's peak memory:
//!
//! * CRM Accounts → Books contacts: above the connector's Bulk Read
//!   threshold (10 000) the read is ceil(N/200 000) export jobs and the
//!   listing's first page (else ceil(N/200) list calls); writes one per record
//!   (finance takes one record a request);
//! * the same first sync at each size of `FERRY_BENCH_BULK` (default
//!   `100000,1000000`): peak memory, which should stay within 1.3× of the
//!   smallest (part `bulk-memory`);
//! * Books contacts → CRM Accounts: creates gathered into Bulk Write jobs
//!   of 25 000 (above the connector's `bulk_write_above`, 1 000), each an
//!   upload, a job and its result; a remainder of 1 000 or fewer in
//!   ordinary creates of 100;
//! * a re-sync with nothing changed: one list call (the incremental read)
//!   and nothing else but token refreshes;
//! * writes overlapped: a first sync of `FERRY_BENCH_WRITES` (default
//!   10 000) CRM Accounts → Books contacts with every request answered at
//!   once and after 50 ms: at 50 ms the time should be about
//!   writes × 50 ms ÷ the connection's concurrency (5);
//! * reads: `ferry run` over four CRM modules of `FERRY_BENCH_READS`
//!   (default 100 000) records each, every record filtered out by its
//!   sync's view: time and CPU a record, against a minimal client reading
//!   the same pages one at a time (the listing: `bulk_read_above: false`),
//!   and the same read through Bulk Read.
//!
//! Call counts are read from the sandbox's counters over its control API
//! (`GET /__sandbox/requests`), and the bench fails when they are off.
//!
//! `cargo bench -p ferry --bench sync` (after `scripts/build-plugins`).
//! `FERRY_BENCH_N` sets N (default 100 000; CRM lists at most 100 000
//! records), `FERRY_BENCH_MEMORY` the sizes whose peak memory is compared
//! on a generated source (default `100000,1000000`). `ferry` runs with the
//! default store; `FERRY_STORE=sled` measures the sled backend instead.
//! `FERRY_BENCH_ONLY` takes a comma-separated list of parts
//! (`crm-to-books`, `books-to-crm`, `memory`, `bulk-memory`, `writes`,
//! `reads`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::bench::{BOOKS, Bench, CRM};
use zoho_sandbox::Sandbox;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of a process so far, in bytes (Linux).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system) a process has used so far, in seconds (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: state is the
    // 3rd field, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on Linux.
    Some(ticks as f64 / 100.0)
}

struct Outcome {
    seconds: f64,
    /// CPU time of the `ferry` process (sampled every 20 ms).
    cpu: f64,
    peak: u64,
    calls: BTreeMap<String, u64>,
    stdout: String,
}

/// `ferry sync run <sync>` as a process; its time, peak memory and the
/// API calls the sandbox served meanwhile.
fn run(sb: &Sandbox, bench: &Bench, sync: &str) -> Outcome {
    run_ferry(sb, bench, &["sync", "run", sync])
}

/// Wait for `child`, sampling every 20 ms: its output, peak resident
/// memory and the CPU time it had used at the last sample.
fn watch(mut child: std::process::Child) -> (std::process::Output, u64, f64) {
    let pid = child.id();
    let mut peak = 0;
    let mut cpu = 0.0;
    loop {
        if let Some(p) = peak_rss(pid) {
            peak = peak.max(p);
        }
        if let Some(c) = cpu_seconds(pid) {
            cpu = c;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("output"), peak, cpu)
}

/// `ferry <args>` as a process, measured as [`run`] measures it.
fn run_ferry(sb: &Sandbox, bench: &Bench, args: &[&str]) -> Outcome {
    let before = requests(sb);
    let started = Instant::now();
    let child = bench
        .ferry(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ferry runs");
    let (out, peak, cpu) = watch(child);
    assert!(out.status.success(), "ferry {args:?} failed");
    let seconds = started.elapsed().as_secs_f64();
    let after = requests(sb);
    let calls = after
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    Outcome {
        seconds,
        cpu,
        peak,
        calls,
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    }
}

/// The sandbox's counters of API requests served, by method and route,
/// read over its control API as any client of the sandbox would.
fn requests(sb: &Sandbox) -> BTreeMap<String, u64> {
    let url = format!("{}/__sandbox/requests", sb.base_url());
    let text = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async { reqwest::get(url).await?.text().await })
        .expect("the sandbox's counters");
    let body: serde_json::Value = serde_json::from_str(&text).expect("counters as JSON");
    serde_json::from_value(body["requests"].clone()).expect("counts by route")
}

/// Calls other than token refreshes.
fn api_calls(o: &Outcome) -> BTreeMap<&str, u64> {
    o.calls
        .iter()
        .filter(|(route, _)| !route.contains("/oauth/"))
        .map(|(route, n)| (route.as_str(), *n))
        .collect()
}

fn calls(o: &Outcome, route: &str) -> u64 {
    o.calls.get(route).copied().unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

const TO_BOOKS: &str = "syncs:\n  accounts:\n    from: crm.Accounts\n    to: books.contacts\n    fields:\n      contact_name: Account_Name\n      company_name: Account_Name\n      website: Website\n";
const TO_CRM: &str = "syncs:\n  contacts:\n    from: books.contacts\n    to: crm.Accounts\n    fields:\n      Account_Name: contact_name\n      Description: company_name\n";

/// CRM Accounts → Books contacts, first and again. The records were last
/// changed ten minutes ago: a read that sees changes younger than two
/// minutes keeps its cursor (pages may have shifted under it).
fn crm_to_books(rt: &tokio::runtime::Runtime, n: usize) -> (Outcome, Outcome) {
    let ten_minutes_ago = chrono::Utc::now().timestamp_millis() - 600_000;
    let sb = rt
        .block_on(Sandbox::builder().fixed_clock(ten_minutes_ago).start())
        .expect("sandbox");
    sb.app().seed_only(&["crm/Accounts"], n).expect("seed");
    let bench = Bench::new(&sb, &[CRM, BOOKS], TO_BOOKS);
    let first = run(&sb, &bench, "accounts");
    let again = run(&sb, &bench, "accounts");
    (first, again)
}

fn main() {
    let n = env_number("FERRY_BENCH_N", 100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    support::plugin("well_behaved");
    let only = std::env::var("FERRY_BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p.trim() == name);
    if part("crm-to-books") {
        crm_to_books_report(&rt, n);
    }
    if part("books-to-crm") {
        books_to_crm_report(&rt, n);
    }
    if part("memory") {
        memory_report(&rt);
    }
    if part("bulk-memory") {
        bulk_memory_report(&rt);
    }
    if part("writes") {
        writes_report(&rt, env_number("FERRY_BENCH_WRITES", 10_000));
    }
    if part("reads") {
        reads_report(&rt, env_number("FERRY_BENCH_READS", 100_000));
    }
}

/// CRM modules read by the reads part, with a field each to map.
const READ_MODULES: [(&str, &str); 4] = [
    ("Accounts", "Account_Name"),
    ("Contacts", "Last_Name"),
    ("Deals", "Deal_Name"),
    ("Products", "Product_Name"),
];

/// Reads at the sandbox's floor: `ferry run` over four syncs whose views
/// let no record through (every record read, filtered and ledgered as
/// skipped, nothing written), against a minimal client reading the same
/// pages one at a time and parsing them, and nothing else.
fn reads_report(rt: &tokio::runtime::Runtime, n: usize) {
    println!("\n== Reads: 4 CRM modules × {n} records, every record filtered out");
    let sb = rt.block_on(Sandbox::builder().start()).expect("sandbox");
    let seeds: Vec<String> = READ_MODULES
        .iter()
        .map(|(m, _)| format!("crm/{m}"))
        .collect();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    sb.app().seed_only(&seeds, n).expect("seed");
    let floor = rt.block_on(minimal_client(&sb));
    assert_eq!(floor.1, 4 * n, "the minimal client reads every record");
    // Each way of ledgering skipped records, on a fresh state: a row each
    // (the default), and counts only (`ledger: changes`); through the
    // listing, as the minimal client reads, and through Bulk Read.
    for (ledger, bulk) in [("all", false), ("changes", false), ("changes", true)] {
        let mut body = String::from("syncs:\n");
        for (module, field) in READ_MODULES {
            body.push_str(&format!(
                "  {m}:\n    from: crm.{module}\n    to: books.contacts\n    view: \"false\"\n    ledger: {ledger}\n    fields:\n      contact_name: {field}\n",
                m = module.to_lowercase()
            ));
        }
        let above = if bulk { "10000" } else { "false" };
        let bench = Bench::new(&sb, &[CRM, BOOKS], &body)
            .settings("zoho-crm", &format!("{{ bulk_read_above: {above} }}"));
        println!(
            "ledger: {ledger}, {}",
            if bulk { "Bulk Read" } else { "the listing" }
        );
        reads_run(&sb, &bench, n, floor.0, bulk);
    }
}

/// One `ferry run` of the reads part, reported.
fn reads_run(sb: &Sandbox, bench: &Bench, n: usize, floor: f64, bulk: bool) {
    let o = run_ferry(sb, bench, &["run"]);
    let records = 4 * n;
    let lists: u64 = READ_MODULES
        .iter()
        .map(|(m, _)| calls(&o, &format!("GET /crm/v8/{m}")))
        .sum();
    println!(
        "ferry run: {:.1} s ({:.2}× the minimal client's {:.1} s), {:.1} s of CPU = {:.1} µs a record, peak memory {:.0} MiB, {lists} list calls",
        o.seconds,
        o.seconds / floor,
        floor,
        o.cpu,
        o.cpu * 1e6 / records as f64,
        mib(o.peak)
    );
    println!("  all calls: {:?}", o.calls);
    if bulk && n > BULK_READ_ABOVE {
        assert_eq!(
            lists, 4,
            "each listing's first page alone, beside the exports"
        );
    } else {
        assert_eq!(lists as usize, 4 * n.div_ceil(200), "list calls");
    }
    let state = dir_size(&bench.state());
    println!(
        "  state after the run: {:.0} MiB ({records} records skipped)",
        mib(state)
    );
}

/// Read every page of the reads part's modules one at a time, as a plain
/// client would: a token, then `GET`s with the same fields and page
/// tokens, each page parsed. Its time and the records it read.
async fn minimal_client(sb: &Sandbox) -> (f64, usize) {
    let creds = sb.client_credentials();
    let http = reqwest::Client::new();
    let form = format!(
        "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        creds.client_id, creds.client_secret, creds.refresh_token
    );
    let token: serde_json::Value = serde_json::from_str(
        &http
            .post(sb.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token")
            .text()
            .await
            .expect("token body"),
    )
    .expect("token JSON");
    let token = token["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let get = |url: String| {
        let request = http
            .get(url)
            .header("Authorization", format!("Zoho-oauthtoken {token}"));
        async move {
            let text = request
                .send()
                .await
                .expect("GET")
                .text()
                .await
                .expect("body");
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON")
        }
    };
    // The same pages as Ferry's: every field of the module.
    let mut fields = BTreeMap::new();
    for (module, _) in READ_MODULES {
        let body = get(format!(
            "{}/crm/v8/settings/fields?module={module}",
            sb.base_url()
        ))
        .await;
        let names: Vec<&str> = body["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["api_name"].as_str())
            .collect();
        fields.insert(module, names.join(","));
    }
    let started = Instant::now();
    let mut records = 0;
    for (module, _) in READ_MODULES {
        let mut page_token: Option<String> = None;
        let mut page = 1;
        loop {
            let mut url = format!(
                "{}/crm/v8/{module}?fields={}&sort_by=Modified_Time&sort_order=asc&per_page=200",
                sb.base_url(),
                fields[module]
            );
            match &page_token {
                Some(t) => url.push_str(&format!("&page_token={t}")),
                None => url.push_str(&format!("&page={page}")),
            }
            let body = get(url).await;
            records += body["data"].as_array().map_or(0, Vec::len);
            if body["info"]["more_records"] != true {
                break;
            }
            page += 1;
            page_token = body["info"]["next_page_token"].as_str().map(str::to_owned);
        }
    }
    (started.elapsed().as_secs_f64(), records)
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Writes overlapped up to the connection's concurrency: the same first
/// sync with no added latency and with 50 ms on every request.
fn writes_report(rt: &tokio::runtime::Runtime, n: usize) {
    println!("\n== Writes overlapped: CRM Accounts → Books contacts, N = {n}");
    for latency_ms in [0u64, 50] {
        let sb = rt.block_on(Sandbox::builder().start()).expect("sandbox");
        sb.app().seed_only(&["crm/Accounts"], n).expect("seed");
        sb.faults(zoho_sandbox::FaultConfig {
            latency_ms,
            ..Default::default()
        });
        let bench = Bench::new(&sb, &[CRM, BOOKS], TO_BOOKS);
        let o = run(&sb, &bench, "accounts");
        let writes = calls(&o, "POST /books/v3/contacts");
        assert_eq!(writes as usize, n, "one write a record");
        let all: u64 = o.calls.values().sum();
        let floor = writes as f64 * latency_ms as f64 / 1000.0 / 5.0;
        println!(
            "latency {latency_ms} ms: {:.1} s, {:.0} records/s, {writes} writes, {all} calls in all; calls × latency ÷ 5 = {floor:.1} s",
            o.seconds,
            n as f64 / o.seconds
        );
    }
}

/// The zoho-crm connector's default `bulk_read_above`.
const BULK_READ_ABOVE: usize = 10_000;
/// Records a Bulk Read job exports.
const BULK_PAGE: usize = 200_000;

fn crm_to_books_report(rt: &tokio::runtime::Runtime, n: usize) {
    println!("== CRM Accounts → Books contacts, N = {n}");
    let (first, again) = crm_to_books(rt, n);
    let lists = calls(&first, "GET /crm/v8/Accounts");
    let jobs = calls(&first, "POST /crm/bulk/v8/read");
    let writes = calls(&first, "POST /books/v3/contacts");
    println!("{}", first.stdout);
    println!(
        "first sync: {:.1} s, {:.0} records/s, peak memory {:.0} MiB",
        first.seconds,
        n as f64 / first.seconds,
        mib(first.peak)
    );
    println!(
        "  list calls {lists}, Bulk Read jobs {jobs}, writes {writes} (N = {n}); describe reads settings/fields once per module"
    );
    if n > BULK_READ_ABOVE {
        assert_eq!(jobs as usize, n.div_ceil(BULK_PAGE), "Bulk Read jobs");
        assert_eq!(
            lists, 1,
            "the listing's first page alone, beside the export"
        );
    } else {
        assert_eq!(lists as usize, n.div_ceil(200), "first sync's list calls");
    }
    println!("  all calls: {:?}", first.calls);
    let again_writes =
        calls(&again, "POST /books/v3/contacts") + calls(&again, "PUT /books/v3/contacts/{id}");
    println!(
        "re-sync: {:.1} s, writes {again_writes}, list calls {}",
        again.seconds,
        calls(&again, "GET /crm/v8/Accounts")
    );
    assert_eq!(writes as usize, n, "first sync's writes");
    assert_eq!(
        api_calls(&again),
        [("GET /crm/v8/Accounts", 1)].into(),
        "a re-sync with nothing to do: one list call, nothing else but tokens"
    );
}

fn books_to_crm_report(rt: &tokio::runtime::Runtime, n: usize) {
    println!("\n== Books contacts → CRM Accounts, N = {n}");
    let sb = rt.block_on(Sandbox::builder().start()).expect("sandbox");
    sb.app().seed_only(&["books/contacts"], n).expect("seed");
    let bench = Bench::new(&sb, &[BOOKS, CRM], TO_CRM);
    let first = run(&sb, &bench, "contacts");
    println!("{}", first.stdout);
    println!(
        "first sync: {:.1} s, {:.0} records/s, peak memory {:.0} MiB",
        first.seconds,
        n as f64 / first.seconds,
        mib(first.peak)
    );
    // Jobs of 25 000; what is left at the end goes as a job only above
    // the threshold.
    let (full, rest) = (n / BULK_WRITE_JOB, n % BULK_WRITE_JOB);
    let jobs = full + usize::from(rest > BULK_WRITE_ABOVE);
    let creates = if rest > BULK_WRITE_ABOVE {
        0
    } else {
        rest.div_ceil(100)
    };
    println!(
        "  list calls {} (ceil(N/200) = {}, plus describe's one probe per module), Bulk Write jobs {} ({jobs} expected: uploads {}, result files {}), CRM create calls {} ({creates} expected)",
        calls(&first, "GET /books/v3/contacts"),
        n.div_ceil(200),
        calls(&first, "POST /crm/bulk/v8/write"),
        calls(&first, "POST /crm/v8/upload"),
        calls(&first, "GET /crm/bulk/v8/write/{id}/result"),
        calls(&first, "POST /crm/v8/Accounts"),
    );
    println!("  all calls: {:?}", first.calls);
    assert_eq!(
        calls(&first, "POST /crm/bulk/v8/write") as usize,
        jobs,
        "Bulk Write jobs"
    );
    assert_eq!(calls(&first, "POST /crm/v8/upload") as usize, jobs);
    assert_eq!(
        calls(&first, "POST /crm/v8/Accounts") as usize,
        creates,
        "CRM create calls"
    );
}

/// Records one Bulk Write job takes, and the creates a batch must exceed
/// to go as one (the Zoho CRM plugin's defaults).
const BULK_WRITE_JOB: usize = 25_000;
const BULK_WRITE_ABOVE: usize = 1_000;

/// First syncs of CRM Accounts → Books contacts at each size, read
/// through Bulk Read: peak memory against the smallest.
fn bulk_memory_report(rt: &tokio::runtime::Runtime) {
    let sizes: Vec<usize> = std::env::var("FERRY_BENCH_BULK")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    println!("\n== Peak memory of a first sync CRM Accounts → Books contacts by size (Bulk Read)");
    let mut peaks = Vec::new();
    for size in &sizes {
        let (first, _) = crm_to_books(rt, *size);
        let jobs = calls(&first, "POST /crm/bulk/v8/read");
        println!(
            "N = {size}: {:.0} MiB, {:.1} s, {:.0} records/s, {jobs} Bulk Read jobs, {:.1} s of CPU = {:.1} µs a record",
            mib(first.peak),
            first.seconds,
            *size as f64 / first.seconds,
            first.cpu,
            first.cpu * 1e6 / *size as f64
        );
        assert_eq!(jobs as usize, size.div_ceil(BULK_PAGE), "Bulk Read jobs");
        assert_eq!(calls(&first, "POST /books/v3/contacts") as usize, *size);
        peaks.push(first.peak);
    }
    if peaks.len() >= 2 {
        println!(
            "largest / smallest: {:.2}× (target ≤ 1.3×)",
            *peaks.last().unwrap() as f64 / peaks[0] as f64
        );
    }
}

fn memory_report(rt: &tokio::runtime::Runtime) {
    let sizes: Vec<usize> = std::env::var("FERRY_BENCH_MEMORY")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    if sizes.len() >= 2 {
        println!("\n== Peak memory of a first sync by size (a generated source)");
        let mut peaks = Vec::new();
        for size in &sizes {
            let o = generated(rt, *size);
            println!(
                "N = {size}: {:.0} MiB, {:.1} s, {:.0} records/s",
                mib(o.peak),
                o.seconds,
                *size as f64 / o.seconds
            );
            peaks.push(o.peak);
        }
        println!(
            "largest / smallest: {:.2}× (target ≤ 1.3×)",
            *peaks.last().unwrap() as f64 / peaks[0] as f64
        );
    }
}

/// A first sync of `n` records from a generated source (a local server
/// paging records out for the well-behaved test connector) into the same
/// connector, which echoes its writes: what grows with N here is Ferry's
/// own memory, not a vendor's or the sandbox's (Zoho CRM lists at most
/// 100 000 records, and the sandbox's finance listings cost O(N) a page).
fn generated(rt: &tokio::runtime::Runtime, n: usize) -> Outcome {
    use axum::extract::Query;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/items",
        axum::routing::get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let first = (page - 1) * 200;
                let items: Vec<serde_json::Value> = (first..(first + 200).min(n))
                    .map(|i| {
                        serde_json::json!({
                            "id": i.to_string(),
                            "name": format!("Item {i:07}"),
                            "price": (i % 997) as f64 + 0.5,
                            "modified": "2024-01-01T00:00:00+00:00",
                        })
                    })
                    .collect();
                axum::Json(serde_json::json!({ "items": items, "more": first + 200 < n }))
            },
        ),
    );
    let server = rt.spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let connectors = dir.path().join("connectors");
    std::fs::create_dir_all(&connectors).expect("mkdir");
    std::fs::write(
        connectors.join("generated.yaml"),
        format!(
            "name: generated\ncomponent: test_plugin_well_behaved.wasm\nsandbox: {{ url: \"{url}\" }}\nrate_limit: {{ concurrency: 4 }}\n"
        ),
    )
    .expect("manifest");
    std::fs::write(
        dir.path().join("workspace.yaml"),
        format!(
            "version: 1\nconnections:\n  src: {{ connector: generated, sandbox: {url} }}\n  dst: {{ connector: generated, sandbox: {url} }}\nsyncs:\n  items:\n    from: src.items\n    to: dst.items\n    fields:\n      name: name\n      price: price\n      key: id\n"
        ),
    )
    .expect("workspace");
    let started = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sync", "run", "items", "--workspace"])
        .arg(dir.path().join("workspace.yaml"))
        .arg("--connectors")
        .arg(&connectors)
        .arg("--plugin-dir")
        .arg(Bench::plugin_dir())
        .arg("--state")
        .arg(dir.path().join("state"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ferry runs");
    let (out, peak, cpu) = watch(child);
    assert!(out.status.success(), "ferry sync run items failed");
    server.abort();
    Outcome {
        seconds: started.elapsed().as_secs_f64(),
        cpu,
        peak,
        calls: BTreeMap::new(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
    }
}
