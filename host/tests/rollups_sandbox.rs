//! The `invoice-receivables` example end to end: `ferry` run as a process
//! against the Zoho sandbox, with the real connectors. Invoice customers
//! become CRM Accounts and their receivables land on them; the sandbox's
//! clock moves due dates past, and the figures follow; a voided invoice
//! drops out, and a deleted one on `--full`.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use support::bench::{Bench, CRM};
use zoho_sandbox::{Product, Sandbox};

const INVOICE: (&str, &str, Option<&str>) = ("invoice", "zoho-invoice", Some("20234695"));

/// The example's syncs and rollups (and its `x-` anchor), without its
/// connections: the bench points those at the sandbox.
fn example_body() -> String {
    let text = std::fs::read_to_string(
        support::repo_root().join("connectors/examples/invoice-receivables.yaml"),
    )
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
    out
}

fn day(at: DateTime<Utc>, days: i64) -> String {
    (at + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// The CRM Account named `name`, as the sandbox keeps it.
async fn account(sb: &Sandbox, name: &str) -> Value {
    let found =
        support::bench::sandbox_find(sb, &format!("crm/Accounts?Account_Name={name}")).await;
    let rec = &found[0];
    json!({
        "Total_Receivables": rec["Total_Receivables"],
        "Overdue_Amount": rec["Overdue_Amount"],
        "Overdue_Count": rec["Overdue_Count"],
        "Overdue_Since": rec["Overdue_Since"],
        "Last_Payment_Date": rec["Last_Payment_Date"],
    })
}

/// The one run `ferry … --json` printed for `name`.
fn run_of(out: &str, name: &str) -> Value {
    let start = out.find(['[', '{']).unwrap_or(0);
    let v: Value = serde_json::Deserializer::from_str(&out[start..])
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("no JSON in {out}"));
    let runs = match v {
        Value::Array(runs) => runs,
        Value::Object(ref o) if o.contains_key("runs") => o["runs"].as_array().unwrap().clone(),
        other => vec![other],
    };
    runs.into_iter()
        .find(|r| r["sync"] == name || r["run"]["sync"] == name)
        .unwrap_or_else(|| panic!("no run of {name} in {out}"))
}

fn counts(run: &Value) -> (u64, u64) {
    let c = if run["counts"].is_object() {
        &run["counts"]
    } else {
        &run["run"]["counts"]
    };
    (
        c["updated"].as_u64().unwrap_or(0),
        c["unchanged"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn receivables_land_on_crm_accounts_and_follow_the_clock() {
    let sb = Sandbox::builder().start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, INVOICE], &example_body());
    let today = DateTime::<Utc>::from_timestamp_millis(sb.now_ms()).unwrap();

    // Customers and invoices, as people make them in Zoho Invoice.
    let env = bench.env().await;
    let invoice = env.connector("invoice").unwrap().clone();
    let mut customers = Vec::new();
    for name in ["Acme", "Globex"] {
        let made = invoice
            .create(
                "contacts",
                &[json!({"contact_name": name, "contact_type": "customer"})
                    .as_object()
                    .unwrap()
                    .clone()],
            )
            .await
            .unwrap();
        let made = made.into_iter().next().unwrap().unwrap();
        customers.push(made["contact_id"].as_str().unwrap().to_string());
    }
    let mut invoices = Vec::new();
    // (customer, amount, due in days, sent)
    for (customer, amount, due, sent) in [
        (0, 100, 10, true),
        (0, 250, -5, true),
        (0, 200, -5, false),
        (1, 40, 30, true),
    ] {
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
        if sent {
            invoice
                .act("invoices", &id, "mark-sent", &Default::default())
                .await
                .unwrap();
        }
        invoices.push(id);
    }
    // The connector holds the state (its tokens) open: let it go first.
    drop(invoice);
    drop(env);

    // One run of the workspace: the sync links the Accounts, the rollup
    // writes their figures.
    let out = bench.ferry_ok(&["run", "--json"]);
    assert_eq!(counts(&run_of(&out, "receivables")), (2, 0), "{out}");
    assert_eq!(
        account(&sb, "Acme").await,
        json!({"Total_Receivables": 350, "Overdue_Amount": 250, "Overdue_Count": 1,
               "Overdue_Since": day(today, -5), "Last_Payment_Date": null})
    );
    assert_eq!(
        account(&sb, "Globex").await,
        json!({"Total_Receivables": 40, "Overdue_Amount": 0, "Overdue_Count": 0,
               "Overdue_Since": null, "Last_Payment_Date": null})
    );

    // Nothing changed: nothing is written.
    let out = bench.ferry_ok(&["sync", "run", "receivables", "--json"]);
    assert_eq!(counts(&run_of(&out, "receivables")), (0, 0), "{out}");

    // Twenty days on (the sandbox's clock, and the figures' `--now`): no
    // invoice changed, yet Acme's first invoice is overdue now. Globex's
    // figures are the same and not written again.
    sb.advance_clock(Duration::from_secs(20 * 86_400));
    let later = (today + chrono::Duration::days(20)).to_rfc3339();
    let out = bench.ferry_ok(&["sync", "run", "receivables", "--now", &later, "--json"]);
    assert_eq!(counts(&run_of(&out, "receivables")), (1, 1), "{out}");
    assert_eq!(
        account(&sb, "Acme").await,
        json!({"Total_Receivables": 350, "Overdue_Amount": 350, "Overdue_Count": 2,
               "Overdue_Since": day(today, -5), "Last_Payment_Date": null})
    );

    // A person voids the older invoice: only Acme is recomputed.
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_act(
            Product::Invoice,
            "20234695",
            "invoices",
            &invoices[1],
            "void",
        )
        .unwrap();
    let out = bench.ferry_ok(&["sync", "run", "receivables", "--now", &later, "--json"]);
    assert_eq!(counts(&run_of(&out, "receivables")), (1, 0), "{out}");
    assert_eq!(
        account(&sb, "Acme").await,
        json!({"Total_Receivables": 100, "Overdue_Amount": 100, "Overdue_Count": 1,
               "Overdue_Since": day(today, 10), "Last_Payment_Date": null})
    );

    // An invoice deleted in Zoho Invoice (which has no deleted feed) is
    // not in an incremental read; `--full` finds it gone.
    let env = bench.env().await;
    let invoice = env.connector("invoice").unwrap().clone();
    invoice
        .delete("invoices", std::slice::from_ref(&invoices[0]))
        .await
        .unwrap();
    drop(invoice);
    drop(env);
    let out = bench.ferry_ok(&["sync", "run", "receivables", "--now", &later, "--json"]);
    assert_eq!(counts(&run_of(&out, "receivables")), (0, 0), "{out}");
    let out = bench.ferry_ok(&[
        "sync",
        "run",
        "receivables",
        "--full",
        "--now",
        &later,
        "--json",
    ]);
    assert_eq!(counts(&run_of(&out, "receivables")), (1, 1), "{out}");
    assert_eq!(
        account(&sb, "Acme").await,
        json!({"Total_Receivables": 0, "Overdue_Amount": 0, "Overdue_Count": 0,
               "Overdue_Since": null, "Last_Payment_Date": null})
    );

    // The history has the rollup's runs, and its ledger names the Account.
    let history = bench.ferry_ok(&["history", "receivables", "--run", "1", "--format", "json"]);
    assert!(history.contains("\"op\": \"update\""), "{history}");
}
