//! A rollup at scale against the sandbox with its limits off, as a user
//! runs it (`ferry sync run receivables`): N invoices of M customers in
//! Zoho Invoice summed onto M CRM Accounts. Measures the first run and an
//! incremental run after C invoices changed: time, API calls the sandbox
//! served, and peak memory of the `ferry` process.
//!
//! `cargo bench -p ferry --bench rollup` (after `scripts/build-plugins`).
//! `FERRY_BENCH_N` sets N (default 100 000), `FERRY_BENCH_ACCOUNTS` M
//! (10 000), `FERRY_BENCH_CHANGES` C (100).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use support::bench::{Bench, CRM};
use zoho_sandbox::finance::{ops, spec};
use zoho_sandbox::{Product, Sandbox};

const ORG: &str = "20234695";

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

struct Outcome {
    seconds: f64,
    peak: u64,
    calls: BTreeMap<String, u64>,
    stdout: String,
}

/// `ferry sync run <name>` as a process.
fn run(sb: &Sandbox, bench: &Bench, name: &str) -> Outcome {
    let before = sb.app().requests();
    let started = Instant::now();
    let mut child = bench
        .ferry(&["sync", "run", name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ferry runs");
    let pid = child.id();
    let mut peak = 0;
    loop {
        if let Some(p) = peak_rss(pid) {
            peak = peak.max(p);
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "ferry sync run {name} failed: {stdout}"
    );
    let calls = sb
        .app()
        .requests()
        .into_iter()
        .map(|(k, v)| {
            let d = v - before.get(&k).copied().unwrap_or(0);
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    Outcome {
        seconds: started.elapsed().as_secs_f64(),
        peak,
        calls,
        stdout,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `accounts` customers and `invoices` invoices (spread evenly over them,
/// due dates across two months either side of the sandbox's today) in the
/// Invoice organisation, made through the sandbox's own write code.
fn seed(sb: &Sandbox, accounts: usize, invoices: usize) -> Vec<String> {
    let now = sb.now_ms();
    sb.app().mutate(|st, events| {
        let org = st
            .finance
            .orgs
            .iter()
            .find(|o| o.product == Product::Invoice && o.organization_id == ORG)
            .cloned()
            .expect("the Invoice organisation");
        let mut cx = ops::Ctx {
            product: Product::Invoice,
            org,
            now,
            events,
            trusted: true,
        };
        let contacts = spec::spec(Product::Invoice, spec::Kind::Contacts);
        let customers: Vec<Value> = (0..accounts)
            .map(|i| {
                let c = ops::create(
                    st,
                    &mut cx,
                    &contacts,
                    &obj(json!({"contact_name": format!("Customer {i:06}"), "contact_type": "customer"})),
                )
                .expect("contact");
                c.data[contacts.id_field].clone()
            })
            .collect();
        let spec = spec::spec(Product::Invoice, spec::Kind::Invoices);
        let today = now.div_euclid(86_400_000);
        (0..invoices)
            .map(|i| {
                // Made over the last minutes, ten a second, as real ones
                // are spread in time: an incremental read starts at the
                // latest change it saw.
                cx.now = now - ((invoices - i) as i64) * 100;
                let due = zoho_sandbox::clock::fmt_date((today - 60 + (i % 120) as i64) * 86_400_000);
                let inv = ops::create(
                    st,
                    &mut cx,
                    &spec,
                    &obj(json!({
                        "customer_id": customers[i % accounts],
                        "date": zoho_sandbox::clock::fmt_date((today - 90) * 86_400_000),
                        "due_date": due,
                        "line_items": [{"name": "Service", "rate": (i % 500) as f64 + 0.5, "quantity": 1}],
                    })),
                )
                .expect("invoice");
                inv.data[spec.id_field].as_str().map(str::to_owned).unwrap_or_else(|| inv.data[spec.id_field].to_string())
            })
            .collect()
    })
}

const BODY: &str = r#"syncs:
  accounts:
    from: invoice.contacts
    to: crm.Accounts
    fields: { Account_Name: contact_name }
rollups:
  receivables:
    from: invoice.invoices
    parent: customer_id
    to: crm.Accounts
    link: accounts
    view: "record.status != 'void'"
    fields:
      Total_Receivables: { sum: balance }
      Overdue_Amount: { sum: balance, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Overdue_Count: { count: true, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Overdue_Since: { min: due_date, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Last_Payment_Date: { max: last_payment_date }
"#;

fn report(label: &str, o: &Outcome) {
    println!(
        "{label}: {:.1} s, peak memory {:.0} MiB",
        o.seconds,
        o.peak as f64 / 1048576.0
    );
    println!("  {}", o.stdout.lines().last().unwrap_or(""));
    let total: u64 = o.calls.values().sum();
    println!("  API calls {total}: {:?}", o.calls);
}

fn main() {
    let n = env_number("FERRY_BENCH_N", 100_000);
    let m = env_number("FERRY_BENCH_ACCOUNTS", 10_000);
    let changes = env_number("FERRY_BENCH_CHANGES", 100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    support::plugin("well_behaved");
    // An hour ago: a read that sees changes younger than two minutes keeps
    // its cursor (pages may have shifted under it).
    let an_hour_ago = chrono::Utc::now().timestamp_millis() - 3_600_000;
    let sb = rt
        .block_on(Sandbox::builder().fixed_clock(an_hour_ago).start())
        .expect("sandbox");
    let seeding = Instant::now();
    let ids = seed(&sb, m, n);
    println!(
        "== rollup of {n} invoices onto {m} CRM Accounts (seeded in {:.1} s)",
        seeding.elapsed().as_secs_f64()
    );
    let bench = Bench::new(&sb, &[CRM, ("invoice", "zoho-invoice", Some(ORG))], BODY);
    let accounts = run(&sb, &bench, "accounts");
    println!("accounts sync (set-up): {:.1} s", accounts.seconds);

    let first = run(&sb, &bench, "receivables");
    report("first run", &first);

    sb.advance_clock(Duration::from_secs(5));
    // Spread over invoices and customers: the j-th change is invoice
    // j·(step+1), so each belongs to another customer.
    let step = (n / changes.max(1)).max(1);
    for id in (0..changes).filter_map(|j| ids.get(j * (step + 1) % n)) {
        sb.app()
            .ui_finance_write(
                Product::Invoice,
                ORG,
                "invoices",
                id,
                json!({"reference_number": "changed", "due_date": "2000-01-01"}),
            )
            .expect("edit");
    }
    let again = run(&sb, &bench, "receivables");
    report(
        &format!("incremental run after {changes} invoices changed"),
        &again,
    );
}
