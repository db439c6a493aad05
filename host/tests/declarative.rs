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
    sync_named(bench, "customers")
}

/// `ferry sync run <name> --json`: its run's report, in which no record
/// failed.
fn sync_named(bench: &Bench, name: &str) -> Value {
    let out = bench
        .ferry(&["sync", "run", name, "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let report = reports[0].clone();
    assert_eq!(report["counts"]["failed"], 0, "{stdout}");
    report
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

/// Books invoices to AP invoices, as AP's Zoho Books integration sends
/// them (the example `books-ap.yaml`, through the binary): the issued
/// invoices only, each once, each on the AP customer of its Books
/// customer (made first, once), with its lines and total; then payments
/// made in AP recorded in Books against those invoices (in full and in
/// part), those of AP's own invoices skipped; second runs write nothing
/// and nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_invoices_become_alternative_payments_invoices_once() {
    let sb = Sandbox::builder().seed(12).start().await.unwrap();
    let example = support::repo_root().join("connectors/examples/books-ap.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    let bench = Bench::new(&sb, &[BOOKS, AP], &example_without_connections(&text));
    let books_org = BOOKS.2.unwrap();
    // What Books holds: issued invoices, by number, with customer and total.
    let issued: Vec<(String, String, f64)> = sb.app().read(|st| {
        st.finance.data[&format!("books/{books_org}")].tables["invoices"]
            .rows
            .values()
            .filter(|r| {
                ["sent", "overdue", "partially_paid", "paid"]
                    .contains(&r.data["status"].as_str().unwrap_or_default())
            })
            .map(|r| {
                (
                    r.data["invoice_number"].as_str().unwrap().to_string(),
                    r.data["customer_id"].as_str().unwrap().to_string(),
                    r.data["total"].as_f64().unwrap(),
                )
            })
            .collect()
    });
    assert!(issued.len() >= 4, "{issued:?}");

    let report = sync_named(&bench, "invoices");
    assert_eq!(
        report["counts"]["added"],
        issued.len(),
        "{}",
        report["counts"]
    );
    let snapshot = sb.app().ap_snapshot();
    let invoices = snapshot["invoices"].as_array().unwrap();
    let customers = ap_customers(&sb);
    assert_eq!(invoices.len(), issued.len());
    for (number, books_customer, total) in &issued {
        let memo = format!("Zoho Books invoice {number}");
        let found: Vec<&Value> = invoices.iter().filter(|i| i["memo"] == memo).collect();
        assert_eq!(found.len(), 1, "{number} once: {invoices:?}");
        let invoice = found[0];
        assert_eq!(invoice["total"].as_f64().unwrap(), *total, "{invoice}");
        assert!(!invoice["line_items"].as_array().unwrap().is_empty());
        let customer = customers
            .iter()
            .find(|c| c["id"] == invoice["customer_id"])
            .unwrap_or_else(|| panic!("{number}: no AP customer {invoice}"));
        assert_eq!(
            customer["external_id"],
            *books_customer.as_str(),
            "{customer}"
        );
    }
    // One AP customer per Books customer invoiced, made by the invoices'
    // need: never twice.
    let mut invoiced: Vec<&str> = issued.iter().map(|(_, c, _)| c.as_str()).collect();
    invoiced.sort();
    invoiced.dedup();
    assert_eq!(customers.len(), invoiced.len(), "{customers:?}");

    // The customers sync finds them linked already; nothing new anywhere.
    let report = sync_named(&bench, "customers");
    assert_eq!(
        report["counts"]["added"],
        12 - invoiced.len(),
        "{}",
        report["counts"]
    );
    let report = sync_named(&bench, "invoices");
    assert_eq!(report["counts"]["added"], 0, "{}", report["counts"]);
    assert_eq!(
        sb.app().ap_snapshot()["invoices"].as_array().unwrap().len(),
        issued.len()
    );
    assert_eq!(distinct_emails(&ap_customers(&sb)), 12);

    // Payers pay in AP: one invoice in full, one in part; AP also holds
    // customers and invoices of its own, paid too (never sent to Books).
    sb.app().ap_seed(2, 1);
    let client = reqwest::Client::new();
    let pay = |id: String, amount: f64| {
        client
            .post(format!(
                "{}/__sandbox/ap/invoices/{id}/payments",
                sb.base_url()
            ))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({ "amount": amount, "payment_method": "standard_ach" })
                    .to_string(),
            )
            .send()
    };
    let twin = |number: &str| {
        invoices
            .iter()
            .find(|i| i["memo"] == format!("Zoho Books invoice {number}"))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let unpaid: Vec<&(String, String, f64)> = issued
        .iter()
        .filter(|(number, _, _)| books_invoice(&sb, number)["balance"].as_f64().unwrap() > 0.0)
        .collect();
    assert!(unpaid.len() >= 2, "{issued:?}");
    let (full, part) = (unpaid[0], unpaid[1]);
    let own = sb.app().ap_snapshot()["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            !i["memo"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Zoho Books")
        })
        .expect("AP's own invoice")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (id, amount) in [(twin(&full.0), full.2), (twin(&part.0), 10.0), (own, 1.0)] {
        let answer = pay(id, amount).await.unwrap();
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
    }
    let report = sync_named(&bench, "payments");
    assert_eq!(report["counts"]["added"], 2, "{}", report["counts"]);
    assert!(
        report["counts"]["skipped"].as_u64().unwrap() >= 1,
        "AP's own invoices' payments skipped: {}",
        report["counts"]
    );
    assert_eq!(books_invoice(&sb, &full.0)["status"], "paid");
    let partly = books_invoice(&sb, &part.0);
    assert_eq!(partly["status"], "partially_paid", "{partly}");
    assert_eq!(
        partly["balance"].as_f64().unwrap(),
        part.2 - 10.0,
        "{partly}"
    );
    let payments: Vec<Value> = sb.app().read(|st| {
        st.finance.data[&format!("books/{books_org}")].tables["customerpayments"]
            .rows
            .values()
            .map(|r| Value::Object(r.data.clone()))
            .filter(|p| p["description"] == "Paid through Alternative Payments")
            .collect()
    });
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert!(payments.iter().all(|p| p["payment_mode"] == "banktransfer"));
    // Nothing twice.
    let report = sync_named(&bench, "payments");
    assert_eq!(report["counts"]["added"], 0, "{}", report["counts"]);
}

/// Books changes reach AP (one way: AP's changes never go back): an
/// unpaid invoice's new due date and lines; a payment recorded in Books,
/// in part or in full, or a credit note applied there, lowers AP's amount
/// due and its status follows; an
/// invoice deleted in Books is archived in AP by the first run whose
/// `full_read: hourly` is due — not by the runs in between — and once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_changes_and_deletions_reach_alternative_payments() {
    let sb = Sandbox::builder().seed(12).start().await.unwrap();
    let example = support::repo_root().join("connectors/examples/books-ap.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    let bench = Bench::new(&sb, &[BOOKS, AP], &example_without_connections(&text));
    let books_org = BOOKS.2.unwrap();
    let customer: String = sb.app().read(|st| {
        st.finance.data[&format!("books/{books_org}")].tables["contacts"]
            .rows
            .values()
            .find(|r| {
                let email = r
                    .data
                    .get("email")
                    .or_else(|| r.data.get("contact_persons")?.get(0)?.get("email"));
                r.data.get("contact_type") == Some(&Value::from("customer"))
                    && email.and_then(Value::as_str).is_some_and(|e| !e.is_empty())
            })
            .map(|r| r.data["contact_id"].as_str().unwrap().to_string())
            .expect("a customer with an e-mail")
    });
    // Four fresh invoices, issued: 100, 200, 300 and 400.
    let env = bench.env().await;
    let books = env.connector("books").unwrap();
    let mut ids = Vec::new();
    for amount in [100, 200, 300, 400, 500] {
        let record = serde_json::json!({
            "customer_id": customer,
            "date": "2025-01-10",
            "due_date": "2025-02-10",
            "line_items": [{"name": "Support", "rate": amount, "quantity": 1}],
        });
        let made = books
            .create("invoices", &[record.as_object().unwrap().clone()])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let id = made["invoice_id"].as_str().unwrap().to_string();
        books
            .act("invoices", &id, "mark-sent", &Default::default())
            .await
            .unwrap();
        ids.push(id);
    }
    drop(env);
    sync_named(&bench, "customers");
    let report = sync_named(&bench, "invoices");
    assert!(
        report["counts"]["added"].as_u64().unwrap() >= 4,
        "{}",
        report["counts"]
    );
    let twin = |books_id: &str| -> Value {
        let number = books_invoice_by_id(&sb, books_id)["invoice_number"].clone();
        let memo = format!("Zoho Books invoice {}", number.as_str().unwrap());
        let found: Vec<Value> = sb.app().ap_snapshot()["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["memo"] == memo)
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "{memo}: {found:?}");
        found[0].clone()
    };
    for (id, total) in ids.iter().zip([100, 200, 300, 400, 500]) {
        let ap = twin(id);
        assert_eq!(
            (
                ap["total"].as_i64(),
                ap["amount_due"].as_i64(),
                ap["status"].as_str()
            ),
            (Some(total), Some(total), Some("open")),
            "{ap}"
        );
    }

    // In Books: the first gets a new due date and amount; the second is
    // paid in part, the third in full; the fourth is deleted; a credit
    // note pays part of the fifth.
    sb.advance_clock(std::time::Duration::from_secs(120));
    let env = bench.env().await;
    let books = env.connector("books").unwrap();
    let change = serde_json::json!({
        "invoice_id": ids[0],
        "due_date": "2025-03-31",
        "line_items": [{"name": "Support", "rate": 150, "quantity": 1}],
    });
    books
        .update("invoices", &[change.as_object().unwrap().clone()])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    for (id, amount) in [(&ids[1], 50), (&ids[2], 300)] {
        let payment = serde_json::json!({
            "customer_id": customer,
            "amount": amount,
            "date": "2025-01-20",
            "payment_mode": "check",
            "invoices": [{"invoice_id": id, "amount_applied": amount}],
        });
        books
            .create("customerpayments", &[payment.as_object().unwrap().clone()])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
    }
    let deleted_twin = twin(&ids[3])["id"].as_str().unwrap().to_string();
    books
        .delete("invoices", std::slice::from_ref(&ids[3]))
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    drop(env);
    apply_credit(&sb, &customer, &ids[4], 120.0);

    let report = sync_named(&bench, "invoices");
    assert_eq!(report["counts"]["updated"], 4, "{}", report["counts"]);
    assert_eq!(
        report["counts"]["deleted"], 0,
        "not a whole read: {}",
        report["counts"]
    );
    let changed = twin(&ids[0]);
    assert_eq!(
        (
            changed["due_date"].as_str(),
            changed["total"].as_i64(),
            changed["amount_due"].as_i64()
        ),
        (Some("2025-03-31"), Some(150), Some(150)),
        "{changed}"
    );
    let part = twin(&ids[1]);
    assert_eq!(
        (part["status"].as_str(), part["amount_due"].as_i64()),
        (Some("partially_paid"), Some(150)),
        "{part}"
    );
    let full = twin(&ids[2]);
    assert_eq!(
        (full["status"].as_str(), full["amount_due"].as_i64()),
        (Some("paid"), Some(0)),
        "{full}"
    );
    let credited = twin(&ids[4]);
    assert_eq!(
        (credited["status"].as_str(), credited["amount_due"].as_i64()),
        (Some("partially_paid"), Some(380)),
        "{credited}"
    );
    let archived = |id: &str| {
        sb.app().ap_snapshot()["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i.get("archived_at").is_some())
            .unwrap()
    };
    assert!(!archived(&deleted_twin));

    // An hour on (the last whole read moved back two hours in the state):
    // the run reads Books whole and archives the deleted invoice's twin.
    let env = bench.env().await;
    let mut cursor = env
        .store
        .cursor("invoices", ferry::mapping::Side::From)
        .unwrap()
        .unwrap();
    cursor.full_read = cursor.full_read.map(|t| t - 7200);
    env.store
        .set_cursor("invoices", ferry::mapping::Side::From, &cursor)
        .unwrap();
    drop(env);
    let report = sync_named(&bench, "invoices");
    assert_eq!(
        (
            report["counts"]["deleted"].as_u64(),
            report["counts"]["added"].as_u64()
        ),
        (Some(1), Some(0)),
        "{}",
        report["counts"]
    );
    assert!(archived(&deleted_twin));
    assert!(
        ids[..3]
            .iter()
            .all(|id| twin(id).get("archived_at").is_none())
    );
    // Once.
    let out = bench.ferry_ok(&["sync", "run", "invoices", "--full", "--json"]);
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["counts"]["deleted"], 0, "{out}");
    assert_eq!(reports[0]["counts"]["failed"], 0, "{out}");
}

/// A person in Books raises a credit note of `amount` for `customer` and
/// applies it to `invoice`.
fn apply_credit(sb: &Sandbox, customer: &str, invoice: &str, amount: f64) {
    use zoho_sandbox::Product;
    use zoho_sandbox::finance::{ops::Route, routes, spec::Kind};
    let org = BOOKS.2.unwrap();
    let run = |route, params: &[String], body: Value| {
        routes::run(
            sb.app(),
            Product::Books,
            org,
            route,
            params,
            &Default::default(),
            &Default::default(),
            body.to_string().as_bytes(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"))
        .1
    };
    let note = run(
        Route::Create(Kind::CreditNotes),
        &[],
        serde_json::json!({
            "customer_id": customer,
            "date": "2025-01-21",
            "line_items": [{"name": "Goodwill", "rate": amount, "quantity": 1}],
        }),
    );
    let note_id = note["creditnote"]["creditnote_id"]
        .as_str()
        .unwrap()
        .to_string();
    run(
        Route::InvoiceApplyCredits,
        &[invoice.to_string()],
        serde_json::json!({"apply_creditnotes": [{"creditnote_id": note_id, "amount_applied": amount}]}),
    );
}

/// A Books invoice, by number, as the sandbox holds it.
fn books_invoice(sb: &Sandbox, number: &str) -> Value {
    books_invoice_where(sb, "invoice_number", number)
}

/// A Books invoice, by id, as the sandbox holds it.
fn books_invoice_by_id(sb: &Sandbox, id: &str) -> Value {
    books_invoice_where(sb, "invoice_id", id)
}

fn books_invoice_where(sb: &Sandbox, field: &str, value: &str) -> Value {
    let org = BOOKS.2.unwrap();
    sb.app().read(|st| {
        st.finance.data[&format!("books/{org}")].tables["invoices"]
            .rows
            .values()
            .find(|r| r.data[field] == value)
            .map(|r| Value::Object(r.data.clone()))
            .unwrap_or_else(|| panic!("no Books invoice with {field} {value}"))
    })
}

/// An example workspace's text without its `version` and `connections`
/// (a bench gives its own, pointed at the sandbox).
fn example_without_connections(text: &str) -> String {
    let start = text.find("\nconnections:").unwrap();
    let end = text.find("\nsyncs:").unwrap();
    format!("{}{}", &text[..start], &text[end..]).replacen("version: 1\n", "", 1)
}
