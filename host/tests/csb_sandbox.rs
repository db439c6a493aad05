//! The `invoice-csb` example end to end: `ferry` run as a process against
//! the sandbox, Zoho Invoice to CustomerSuccessBox through the Python
//! connector. Invoices of customers with a CSB account id arrive in CSB
//! with their figures, and the accounts get their overdue attributes;
//! a customer without the id is skipped and reported; a second run writes
//! nothing.

mod support;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::bench::Bench;
use zoho_sandbox::Sandbox;

const INVOICE: (&str, &str, Option<&str>) = ("invoice", "zoho-invoice", Some("20234695"));
const CSB: (&str, &str, Option<&str>) = ("csb", "customersuccessbox", None);

/// The example's syncs and rollups, without its connections (the bench
/// points those at the sandbox). The sandbox's Invoice organisation has a
/// contact custom field labelled "CRM Account ID", not "CSB Account ID":
/// the example reads that one here.
fn example_body() -> String {
    let text =
        std::fs::read_to_string(support::repo_root().join("connectors/examples/invoice-csb.yaml"))
            .unwrap();
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("version:") {
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            skipping = line.starts_with("connections:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.replace("CSB Account ID", "CRM Account ID")
}

fn day(at: DateTime<Utc>, days: i64) -> String {
    (at + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// `ferry <args>`: its output, whatever its exit status.
fn ferry(bench: &Bench, args: &[&str]) -> String {
    let out = bench.ferry(args).output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn invoices_of_customers_with_the_id_reach_csb_once() {
    let sb = Sandbox::builder().start().await.unwrap();
    let bench = Bench::new(&sb, &[INVOICE, CSB], &example_body());
    let today = DateTime::<Utc>::from_timestamp_millis(sb.now_ms()).unwrap();

    let env = bench.env().await;
    let invoice = env.connector("invoice").unwrap().clone();
    let mut customers = Vec::new();
    for (name, csb_id) in [("Acme", Some("acme-001")), ("Globex", None)] {
        let mut contact = json!({"contact_name": name, "contact_type": "customer"});
        if let Some(id) = csb_id {
            contact["custom_fields"] = json!([{"label": "CRM Account ID", "value": id}]);
        }
        let made = invoice
            .create("contacts", &[contact.as_object().unwrap().clone()])
            .await
            .unwrap();
        let made = made.into_iter().next().unwrap().unwrap();
        customers.push(made["contact_id"].as_str().unwrap().to_string());
    }
    let mut invoices = Vec::new();
    // (customer, amount, due in days)
    for (customer, amount, due) in [(0, 100, 10), (0, 250, -5), (1, 40, -3)] {
        let made = invoice
            .create(
                "invoices",
                &[json!({
                    "customer_id": customers[customer],
                    "date": day(today, -20),
                    "due_date": day(today, due),
                    "line_items": [{"name": "Service", "rate": amount, "quantity": 1}],
                })
                .as_object()
                .unwrap()
                .clone()],
            )
            .await
            .unwrap();
        let id = made.into_iter().next().unwrap().unwrap()["invoice_id"]
            .as_str()
            .unwrap()
            .to_string();
        invoice
            .act("invoices", &id, "mark-sent", &Default::default())
            .await
            .unwrap();
        invoices.push(id);
    }
    drop(invoice);
    drop(env);

    let out = bench.ferry(&["run", "--json"]).output().unwrap();
    let first = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Globex's invoice follows its customer out, skipped: the run is a
    // success, not a failure.
    assert!(out.status.success(), "{first}");
    let csb = sb.csb();
    assert_eq!(csb.accounts.len(), 1, "{first}\n{csb:?}");
    let acme = &csb.accounts["acme-001"];
    assert_eq!(acme["name"], "Acme", "{first}");
    assert_eq!(
        acme["custom_traits"],
        json!({"overdue_amount": 250, "overdue_invoice_count": 1, "overdue_since": day(today, -5)}),
        "{first}"
    );
    assert_eq!(csb.invoices.len(), 2, "{first}\n{csb:?}");
    let inv: &Value = &csb.invoices[&invoices[1]];
    assert_eq!(inv["account_id"], "acme-001");
    assert_eq!(inv["total"].as_f64(), Some(250.0), "{inv}");
    assert_eq!(inv["amount_paid"].as_f64(), Some(0.0), "{inv}");
    assert_eq!(inv["amount_due"].as_f64(), Some(250.0), "{inv}");
    assert!(!csb.invoices.contains_key(&invoices[2]), "Globex's invoice");

    // Globex is skipped, and the ledger says why.
    let history = ferry(&bench, &["history", "accounts", "--format", "json"]);
    let runs: Value = serde_json::from_str(&history[history.find('[').unwrap()..]).unwrap();
    let run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["trigger"] == "manual")
        .unwrap();
    assert_eq!(run["counts"]["skipped"], 1, "{history}");
    assert_eq!(run["counts"]["added"], 1, "{history}");
    let ledger = ferry(
        &bench,
        &["history", "accounts", "--run", "1", "--format", "json"],
    );
    assert!(
        ledger.contains(&customers[1]),
        "Globex is in the ledger: {ledger}"
    );

    let history = ferry(&bench, &["history", "invoices", "--format", "json"]);
    let runs: Value = serde_json::from_str(&history[history.find('[').unwrap()..]).unwrap();
    let run = &runs[0];
    assert_eq!(run["counts"]["failed"], 0, "{history}");
    assert_eq!(run["counts"]["skipped"], 1, "Globex's invoice: {history}");
    let ledger = ferry(
        &bench,
        &["history", "invoices", "--run", "1", "--format", "json"],
    );
    assert!(
        ledger.contains(&invoices[2]) && ledger.contains("is skipped by `accounts`"),
        "Globex's invoice, and why: {ledger}"
    );

    // Nothing changed: nothing is written.
    let writes = csb.writes;
    let second = ferry(&bench, &["run", "--json"]);
    assert_eq!(sb.csb().writes, writes, "{second}");
}
