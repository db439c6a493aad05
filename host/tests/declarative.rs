//! A connector from YAML alone: Alternative Payments, run by the generic
//! REST component, end to end through the `ferry` binary against the
//! sandbox's emulation — client-credentials tokens, cursor pages, its
//! 5-requests-a-second limit, record and replay.

mod support;

use serde_json::Value;
use support::bench::{AP, BOOKS, Bench, ap_customers, distinct_emails};
use zoho_sandbox::Sandbox;

/// Books contacts become AP customers, matched by email.
const CUSTOMERS: &str = r#"syncs:
  customers:
    from: books.contacts
    to: ap.customers
    match: [email]
    fields:
      name: contact_name
      email: email
"#;

/// `ferry sync run customers --json`: its run's report.
fn sync(bench: &Bench) -> Value {
    let out = bench
        .ferry(&["sync", "run", "customers", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    reports[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_contacts_become_alternative_payments_customers_once() {
    let sb = Sandbox::builder().seed(40).start().await.unwrap();
    let bench = Bench::new(&sb, &[BOOKS, AP], CUSTOMERS);
    let out = bench.ferry_ok(&["validate"]);
    assert!(out.contains("valid"), "{out}");

    let report = sync(&bench);
    let added = report["counts"]["added"].as_u64().unwrap_or(0);
    let out = report["counts"].to_string();
    let customers = ap_customers(&sb);
    assert_eq!(added, 40, "{out}");
    assert_eq!(customers.len() as u64, added, "every contact once: {out}");
    assert_eq!(
        distinct_emails(&customers),
        customers.len(),
        "no duplicates"
    );

    // A second run writes nothing.
    let report = sync(&bench);
    assert_eq!(report["counts"]["added"], 0, "{}", report["counts"]);
    assert_eq!(ap_customers(&sb).len(), customers.len());

    // The host paced every request: AP's limit was never hit.
    let stats = sb.ap_stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    assert!(stats.peak_per_second <= 5, "{stats:?}");
}

/// AP customers read into Books: more than one page of AP's cursors, each
/// customer once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alternative_payments_customers_are_read_page_after_page() {
    let sb = Sandbox::builder().start().await.unwrap();
    sb.app().ap_seed(230, 0);
    let bench = Bench::new(
        &sb,
        &[BOOKS, AP],
        r#"syncs:
  customers:
    from: ap.customers
    to: books.contacts
    match: { name: contact_name }
    fields:
      contact_name: name
      company_name: name
"#,
    );
    let report = sync(&bench);
    assert_eq!(report["counts"]["read"], 230, "{}", report["counts"]);
    assert_eq!(report["counts"]["added"], 230, "{}", report["counts"]);
    assert_eq!(report["counts"]["failed"], 0, "{}", report["counts"]);
    // Three pages of 100, and the token once.
    let stats = sb.ap_stats();
    let requests: u64 = stats.clients.values().map(|c| c.requests).sum();
    assert_eq!(requests, 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alternative_payments_connector_replays_offline() {
    let sb = Sandbox::builder().start().await.unwrap();
    sb.app().ap_seed(3, 2);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("ap.json");
    let connectors = support::repo_root().join("connectors");
    let plugins = Bench::plugin_dir();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["plugins", "test", "alternative-payments", "--connectors"])
            .arg(&connectors)
            .arg("--plugin-dir")
            .arg(&plugins)
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let url = sb.base_url();
    let path = cassette.to_str().unwrap();
    let (ok, out) = tokio::task::block_in_place(|| run(&["--sandbox", &url, "--record", path]));
    assert!(ok, "{out}");
    for module in ["customers", "invoices", "payments", "payouts"] {
        assert!(out.contains(module), "{out}");
    }
    assert!(out.contains("check: ok") && out.contains("get "), "{out}");
    let text = std::fs::read_to_string(&cassette).unwrap();
    let client = sb.ap_client_credentials();
    assert!(
        !text.contains(&client.client_secret),
        "a secret was recorded"
    );
    drop(sb);

    let (ok, out) = run(&["--replay", path]);
    assert!(ok, "{out}");
    assert!(out.contains("same outcome"), "{out}");
}
