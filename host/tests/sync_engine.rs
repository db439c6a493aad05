//! The sync engine end to end: the `ferry` binary and the library against
//! the sandbox, with the real connector plugins. Books contacts flow to
//! Billing customers (and back, for two-way), linked by a custom field so
//! the sandbox's seeded customers never match by accident.

mod support;

use std::process::Stdio;
use std::time::Duration;

use ferry::store::{LedgerFilter, LedgerOp, RunStatus};
use ferry::sync::{self, Env, NoProgress, RunOptions};
use serde_json::{Value, json};
use support::bench::{BILLING, BOOKS, Bench};
use zoho_sandbox::{Product, Sandbox};

const BOOKS_ORG: &str = "10234695";
const BILLING_ORG: &str = "30234695";

/// A workspace of Books and Billing with these syncs.
fn bench(sb: &Sandbox, syncs: &str) -> Bench {
    Bench::new(sb, &[BOOKS, BILLING], &format!("syncs:\n{syncs}"))
}

/// One-way Books contacts → Billing customers, matched by the Books id kept
/// in a Billing custom field.
const ONE_WAY: &str = r#"  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_id: zcrm_account_id }
    on_duplicate: overwrite
    view: "record.contact_name != 'Customer 000003'"
    fields:
      display_name: { expr: "'B ' + record.contact_name" }
      company_name: company_name
      zcrm_account_id: contact_id
"#;

fn count(sb: &Sandbox, product: &str, org: &str, resource: &str) -> u64 {
    support::bench::count(sb, &format!("{product}/{org}/{resource}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_creates_and_links_then_a_resync_writes_nothing() {
    let sb = Sandbox::builder().seed(30).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let env = bench.env().await;
    let before = count(&sb, "billing", BILLING_ORG, "customers");

    let run = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.counts.read, 30);
    assert_eq!(run.counts.added, 29, "{run:?}");
    assert_eq!(run.counts.skipped, 1, "the view filter excludes one");
    assert_eq!(count(&sb, "billing", BILLING_ORG, "customers"), before + 29);
    let skipped = env
        .store
        .ledger("customers", run.id, LedgerFilter::Skipped, 0, 10)
        .unwrap();
    assert_eq!(skipped.len(), 1);
    // The ledger names the filter and the value that failed it.
    assert_eq!(
        skipped[0].reason.as_deref(),
        Some(
            "the sync's view `record.contact_name != 'Customer 000003'` excludes it (contact_name = \"Customer 000003\")"
        )
    );

    // Nothing changed: the incremental read finds nothing to write.
    let again = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.status, RunStatus::Completed);
    assert_eq!(again.counts.added + again.counts.updated, 0, "{again:?}");
    // Even a full re-read writes nothing.
    let full = sync::run(
        &env,
        "customers",
        &RunOptions {
            full: true,
            ..Default::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(full.counts.read, 30);
    assert_eq!(full.counts.added + full.counts.updated, 0, "{full:?}");
    assert_eq!(full.counts.unchanged, 29);
    assert_eq!(count(&sb, "billing", BILLING_ORG, "customers"), before + 29);

    // A person edits one Books contact: exactly that one is updated.
    let links = env.store.all_links("customers").unwrap();
    assert_eq!(links.len(), 29);
    let (books_id, billing_id, _) = &links[0];
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "contacts",
            books_id,
            json!({"company_name": "Renamed Ltd"}),
        )
        .unwrap();
    let changed = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(changed.counts.updated, 1, "{changed:?}");
    assert_eq!(changed.counts.added, 0);
    let rows = env
        .store
        .ledger("customers", changed.id, LedgerFilter::All, 0, 10)
        .unwrap();
    let update = rows.iter().find(|r| r.op == LedgerOp::Update).unwrap();
    assert_eq!(update.target_id.as_deref(), Some(billing_id.as_str()));
    assert!(
        update
            .diff
            .iter()
            .any(|d| d.field == "company_name" && d.after == json!("Renamed Ltd")),
        "{update:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_previews_and_writes_nothing() {
    let sb = Sandbox::builder().seed(5).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let env = bench.env().await;
    let before = sb.counts();
    let run = sync::run(
        &env,
        "customers",
        &RunOptions {
            dry_run: true,
            ..Default::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(run.status, RunStatus::DryRun);
    assert_eq!(run.counts.added, 4);
    assert_eq!(sb.counts(), before, "a dry run writes nothing");
    assert!(env.store.all_links("customers").unwrap().is_empty());
    // A preview is kept apart from the sync's history: no run number.
    assert_eq!(run.sync, "preview:customers");
    assert!(env.store.runs("customers", 10).unwrap().is_empty());
    let rows = env
        .store
        .ledger(&run.sync, run.id, LedgerFilter::All, 0, 10)
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.reason.as_deref() == Some("would create"))
    );
    // The real run afterwards still creates everything, as run #1.
    let real = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(real.counts.added, 4, "{real:?}");
    assert_eq!(real.id, 1, "{real:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_follow_on_duplicate() {
    for (policy, expect_created, expect_linked, expect_skipped) in [
        ("skip", 0, 0, 3),
        ("overwrite", 0, 3, 0),
        ("clone", 0, 0, 0),
    ] {
        let sb = Sandbox::builder().seed(3).start().await.unwrap();
        // Matching by name: every seeded Books contact has a Billing twin.
        let syncs = format!(
            "  customers:\n    from: books.contacts\n    to: billing.customers\n    match: {{ contact_name: display_name }}\n    on_duplicate: {policy}\n    fields:\n      display_name: contact_name\n      company_name: company_name\n"
        );
        let bench = bench(&sb, &syncs);
        let env = bench.env().await;
        let before = count(&sb, "billing", BILLING_ORG, "customers");
        let run = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
            .await
            .unwrap();
        let ledger = env
            .store
            .ledger("customers", run.id, LedgerFilter::All, 0, 100)
            .unwrap();
        let ops = |op| ledger.iter().filter(|r| r.op == op).count();
        assert_eq!(
            ops(LedgerOp::Create),
            expect_created,
            "{policy}: {ledger:?}"
        );
        assert_eq!(ops(LedgerOp::Link), expect_linked, "{policy}");
        assert_eq!(ops(LedgerOp::Skip), expect_skipped, "{policy}");
        assert_eq!(
            count(&sb, "billing", BILLING_ORG, "customers"),
            before + expect_created as u64,
            "{policy}"
        );
        if policy == "clone" {
            // Clone creates another record; Billing refuses a second
            // customer of the same name, and the ledger says so.
            assert_eq!(ops(LedgerOp::Fail), 3);
            assert!(
                ledger[0]
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("already exists")
            );
        }
        if policy == "skip" {
            assert!(
                ledger[0]
                    .reason
                    .as_deref()
                    .unwrap()
                    .contains("on_duplicate: skip")
            );
        }
    }
}

/// Two-way: a change on either side reaches the other, Ferry's own writes
/// are not sent back, and a change on both sides is settled by policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_sync_suppresses_echoes_and_settles_conflicts() {
    let sb = Sandbox::builder().seed(4).start().await.unwrap();
    let syncs = r#"  customers:
    from: books.contacts
    to: billing.customers
    direction: two-way
    match: { contact_id: zcrm_account_id }
    conflict: from
    fields:
      display_name: { expr: "'B ' + record.contact_name", direction: one-way }
      company_name: company_name
      zcrm_account_id: { from: contact_id, direction: one-way }
"#;
    let bench = bench(&sb, syncs);
    let env = bench.env().await;
    let first = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.counts.added, 4, "{first:?}");
    // The reverse pass sees the four new customers as Ferry's own writes.
    assert_eq!(first.counts.updated, 0, "echo sent back: {first:?}");

    let links = env.store.all_links("customers").unwrap();
    let (books_id, billing_id, _) = links[0].clone();
    sb.advance_clock(Duration::from_secs(5));
    // A person edits the Billing side: it flows back to Books.
    sb.app()
        .ui_finance_write(
            Product::Billing,
            BILLING_ORG,
            "customers",
            &billing_id,
            json!({"company_name": "From Billing"}),
        )
        .unwrap();
    let back = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(back.counts.updated, 1, "{back:?}");
    let books = books_record(&env, &books_id).await;
    assert_eq!(books["company_name"], "From Billing");
    // ...and that write is not echoed into a third run.
    let quiet = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(quiet.counts.updated + quiet.counts.added, 0, "{quiet:?}");

    // Both sides change: `conflict: from` keeps the Books value.
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "contacts",
            &books_id,
            json!({"company_name": "Books wins"}),
        )
        .unwrap();
    sb.app()
        .ui_finance_write(
            Product::Billing,
            BILLING_ORG,
            "customers",
            &billing_id,
            json!({"company_name": "Billing loses"}),
        )
        .unwrap();
    let conflict = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(conflict.counts.conflicts, 1, "{conflict:?}");
    assert_eq!(
        books_record(&env, &books_id).await["company_name"],
        "Books wins"
    );
    let ledger = env
        .store
        .ledger("customers", conflict.id, LedgerFilter::All, 0, 100)
        .unwrap();
    assert!(
        ledger.iter().any(|r| r
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("`from` side wins"))),
        "{ledger:?}"
    );
}

async fn books_record(env: &Env, id: &str) -> Value {
    Value::Object(
        env.connector("books")
            .unwrap()
            .get("contacts", id)
            .await
            .unwrap(),
    )
}

/// `ferry sync pause` holds across processes; `history` exports the
/// skipped records; `--record` syncs one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_pauses_resumes_and_exports_history() {
    let sb = Sandbox::builder().seed(5).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let run = |args: &[&str]| {
        let out = bench.ferry(args).stdin(Stdio::null()).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["sync", "pause", "customers"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["sync", "run", "customers"]);
    assert!(!ok, "a paused sync must not run");
    assert!(err.contains("paused"), "{err}");
    let (ok, out, _) = run(&["sync", "status"]);
    assert!(
        ok && out.contains("customers") && out.contains("yes"),
        "{out}"
    );
    assert!(
        out.contains("state.redb (redb)"),
        "status names the store and its engine: {out}"
    );
    let (ok, _, err) = run(&["sync", "resume", "customers"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["sync", "run", "customers"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("added 4") && out.contains("skipped 1"),
        "{out}"
    );
    let (ok, out, _) = run(&[
        "history",
        "customers",
        "--run",
        "1",
        "--skipped",
        "--format",
        "csv",
    ]);
    assert!(ok);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("run,side,source_id,target_id,operation,reason,diff,source_title,target_title")
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(",skip,") && row.contains("view `") && row.ends_with(",Customer 000003,"),
        "{row}"
    );
    // The table names each record beside its id.
    let (ok, out, _) = run(&["history", "customers", "--run", "1", "--skipped"]);
    assert!(ok);
    assert!(out.starts_with("skip      Customer 000003 ["), "{out}");
    assert_eq!(lines.next(), None);
    // Both sides by name: the partner as Ferry wrote it.
    let (ok, out, _) = run(&["history", "customers", "--run", "1"]);
    assert!(ok);
    let added: Vec<&str> = out.lines().filter(|l| l.starts_with("create ")).collect();
    assert_eq!(added.len(), 4, "{out}");
    for line in added {
        let (from, to) = line.split_once(" → ").unwrap();
        let name = from
            .trim_start_matches("create")
            .trim()
            .split(" [")
            .next()
            .unwrap();
        assert!(to.starts_with(&format!("B {name} [")), "{line}");
    }
    let (ok, out, _) = run(&["history", "customers", "--format", "json"]);
    assert!(ok);
    let runs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs[0]["counts"]["added"], 4);
    assert_eq!(runs[0]["trigger"], "manual");
}

/// Every Billing customer carrying a Books id, counted by that id.
async fn billing_copies(env: &Env) -> std::collections::HashMap<String, usize> {
    let billing = env.connector("billing").unwrap();
    let mut copies = std::collections::HashMap::new();
    let mut cursor = None;
    loop {
        let page = billing
            .list("customers", None, cursor.as_deref())
            .await
            .unwrap();
        for record in page.records {
            if let Some(id) = record.get("zcrm_account_id").and_then(Value::as_str)
                && !id.is_empty()
            {
                *copies.entry(id.to_string()).or_insert(0) += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    copies
}

/// Nothing missing, nothing doubled: each Books contact but the one the
/// view excludes has exactly one Billing copy.
async fn assert_exactly_once(env: &Env, contacts: usize) {
    let copies = billing_copies(env).await;
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    assert_eq!(copies.len(), contacts - 1, "missing records");
    assert_eq!(
        env.store.all_links("customers").unwrap().len(),
        contacts - 1
    );
}

/// `SIGKILL` at varied points of a 10 000-record first sync; each restart
/// settles what the killed run left, and the end state is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sync_resumes_without_losing_or_doubling_records() {
    // FERRY_CRASH_N shrinks it while working on the engine.
    let n: usize = std::env::var("FERRY_CRASH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sb = Sandbox::builder().seed(n).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let before = count(&sb, "billing", BILLING_ORG, "customers");
    let mut kills = 0;
    for share in [0.05, 0.3, 0.6, 0.9] {
        let target = before + (n as f64 * share) as u64;
        let mut child = bench
            .ferry(&["sync", "run", "customers"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                assert!(status.success(), "ferry failed: {err}");
                break;
            }
            if count(&sb, "billing", BILLING_ORG, "customers") >= target {
                child.kill().unwrap(); // SIGKILL: no cleanup of any kind
                kills += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 2, "the sync finished before it could be killed");
    let out = bench.ferry(&["sync", "run", "customers"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let env = bench.env().await;
    assert_exactly_once(&env, n).await;
    assert_eq!(
        count(&sb, "billing", BILLING_ORG, "customers"),
        before + n as u64 - 1
    );
    // And a last run has nothing left to do.
    let last = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(last.counts.added + last.counts.updated, 0, "{last:?}");
}

/// 10 % 5xx, 5 % 429 and dropped connections: a run still completes with
/// every record copied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_under_injected_faults_completes_exactly_once() {
    const N: usize = 300;
    let sb = Sandbox::builder().seed(N).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let env = bench.env().await;
    sb.faults(zoho_sandbox::FaultConfig {
        seed: 11,
        error_rate: 0.10,
        rate_limit_rate: 0.05,
        drop_rate: 0.03,
        ..Default::default()
    });
    let run = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    sb.faults(zoho_sandbox::FaultConfig::default());
    assert_exactly_once(&env, N).await;
}

/// CRM ⇄ Billing, two-way: CRM answers a write with only the id and times,
/// and Billing's list rows leave out addresses. Ferry reads such records in
/// full, so a run after the first writes nothing either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_way_sync_with_partial_answers_settles_after_one_run() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let bench = Bench::new(
        &sb,
        &[support::bench::CRM, BILLING],
        r#"syncs:
  customers:
    from: crm.Accounts
    to: billing.customers
    direction: two-way
    match: { Account_Name: display_name }
    on_duplicate: overwrite
    fields:
      display_name: Account_Name
      phone: Phone
      billing_address.street: Billing_Street
      billing_address.city: Billing_City
      zcrm_account_id: { from: id, direction: one-way }
"#,
    );
    let env = bench.env().await;
    let first = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.counts.added, 12, "{first:?}");
    for _ in 0..2 {
        let again = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
            .await
            .unwrap();
        assert_eq!(again.counts.added + again.counts.updated, 0, "{again:?}");
    }
    // An address changed in Billing (a while later: Zoho's times have
    // whole seconds) reaches CRM.
    let (account, customer, _) = env.store.all_links("customers").unwrap().remove(0);
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Billing,
            BILLING_ORG,
            "customers",
            &customer,
            json!({"billing_address": {"street": "9 New Road", "city": "Leeds"}}),
        )
        .unwrap();
    let back = sync::run(&env, "customers", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(back.counts.updated, 1, "{back:?}");
    let crm = env
        .connector("crm")
        .unwrap()
        .get("Accounts", &account)
        .await
        .unwrap();
    assert_eq!(crm["Billing_Street"], "9 New Road");
}

/// A sync that maps amounts or currencies between organisations whose base
/// currencies differ is refused with a clear message; between two USD
/// organisations it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_amounts_across_base_currencies_is_refused() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let money = "  customers:\n    from: books.contacts\n    to: billing.customers\n    fields:\n      display_name: { expr: \"'B ' + record.contact_name\" }\n      currency_code: currency_code\n";
    for (org, refused) in [("10234696", true), ("10234695", false)] {
        let bench = Bench::new(
            &sb,
            &[("books", "zoho-books", Some(org)), BILLING],
            &format!("syncs:\n{money}"),
        );
        let env = bench.env().await;
        let result = sync::run(&env, "customers", &RunOptions::default(), &NoProgress).await;
        if refused {
            let e = result.unwrap_err().to_string();
            assert!(
                e.contains("base currency is EUR") && e.contains("USD"),
                "{e}"
            );
        } else {
            let run = result.unwrap();
            assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        }
    }
}

/// CRM Products ⇄ Books items with no `fields`: the connectors' default
/// pairs (name, rate, description, SKU) apply both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_and_items_pair_by_default_both_ways() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(
        &sb,
        &[support::bench::CRM, BOOKS],
        "syncs:\n  products:\n    from: crm.Products\n    to: books.items\n    direction: two-way\n    match: { Product_Name: name }\n    on_duplicate: overwrite\n",
    );
    let env = bench.env().await;
    assert_eq!(env.workspace.syncs["products"].fields.len(), 4);
    let first = sync::run(&env, "products", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Completed, "{first:?}");
    assert_eq!(
        first.counts.added, 6,
        "3 products to Books, 3 items to CRM: {first:?}"
    );
    let (product, item, _) = env.store.all_links("products").unwrap().remove(0);
    let crm = env.connector("crm").unwrap();
    let books = env.connector("books").unwrap();
    let p = crm.get("Products", &product).await.unwrap();
    let i = books.get("items", &item).await.unwrap();
    assert_eq!(i["name"], p["Product_Name"]);
    assert_eq!(i["sku"], p["Product_Code"]);
    assert_eq!(i["rate"].as_f64(), p["Unit_Price"].as_f64());
    let again = sync::run(&env, "products", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(again.counts.added + again.counts.updated, 0, "{again:?}");
    sb.advance_clock(Duration::from_secs(5));
    sb.app()
        .ui_finance_write(
            Product::Books,
            BOOKS_ORG,
            "items",
            &item,
            json!({"rate": 99.5}),
        )
        .unwrap();
    let back = sync::run(&env, "products", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(back.counts.updated, 1, "{back:?}");
    assert_eq!(
        crm.get("Products", &product).await.unwrap()["Unit_Price"].as_f64(),
        Some(99.5)
    );
}

/// CRM Accounts with their Contacts → Books contacts with contact persons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_their_contacts_become_contacts_with_contact_persons() {
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(
        &sb,
        &[support::bench::CRM, BOOKS],
        r#"syncs:
  accounts:
    from: crm.Accounts
    to: books.contacts
    match: { Account_Name: contact_name }
    on_duplicate: overwrite
    fields:
      contact_name: Account_Name
      company_name: Account_Name
    children:
      contact_persons:
        from: crm.Contacts
        parent: Account_Name.id
        match: { Email: email }
        fields:
          first_name: First_Name
          last_name: Last_Name
          email: Email
"#,
    );
    let env = bench.env().await;
    let run = sync::run(&env, "accounts", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(run.counts.added, 3, "{run:?}");
    let (account, contact, _) = env.store.all_links("accounts").unwrap().remove(0);
    let persons = env
        .connector("books")
        .unwrap()
        .get("contacts", &contact)
        .await
        .unwrap()["contact_persons"]
        .clone();
    let crm_contacts = env
        .connector("crm")
        .unwrap()
        .find(
            "Contacts",
            &json!({"Account_Name": account})
                .as_object()
                .unwrap()
                .clone(),
        )
        .await
        .unwrap();
    assert!(!crm_contacts.is_empty());
    for c in &crm_contacts {
        assert!(
            persons
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["email"] == c["Email"] && p["last_name"] == c["Last_Name"]),
            "{persons} lacks {c:?}"
        );
    }
}

/// Through the `ferry` binary: two-way with `conflict: to`, both sides
/// changed — Billing's value is written back to Books, both sides agree,
/// and a later full run finds no conflict (the conflict used to be
/// reported, and nothing written, on every run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_the_other_side_wins_is_written_back_by_the_binary() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let syncs = r#"  customers:
    from: books.contacts
    to: billing.customers
    direction: two-way
    match: { contact_id: zcrm_account_id }
    conflict: to
    fields:
      display_name: { expr: "'B ' + record.contact_name", direction: one-way }
      company_name: company_name
      zcrm_account_id: { from: contact_id, direction: one-way }
"#;
    let bench = bench(&sb, syncs);
    let ferry = |args: &[&str]| {
        let out = bench.ferry(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The sandbox's own Billing customers cannot become Books
        // contacts (nothing maps a Books name back): every run fails those
        // two records, is partial, and exits 2.
        let partial = args[0] == "sync" && out.status.code() == Some(2);
        assert!(out.status.success() || partial, "ferry {args:?}: {text}");
        text
    };
    ferry(&["sync", "run", "customers"]);
    let books = support::bench::sandbox_find(
        &sb,
        &format!("books/{BOOKS_ORG}/contacts?fields=contact_id"),
    )
    .await;
    let books_id = books[0]["contact_id"].as_str().unwrap().to_string();
    let links = ferry(&["links", "list", "customers", "--id", &books_id]);
    let billing_id = links
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("no link: {links}"))
        .to_string();

    sb.advance_clock(Duration::from_secs(5));
    let write = |product, org, resource, id: &str, name: &str| {
        sb.app()
            .ui_finance_write(product, org, resource, id, json!({"company_name": name}))
            .unwrap();
    };
    write(
        Product::Books,
        BOOKS_ORG,
        "contacts",
        &books_id,
        "Books loses",
    );
    sb.advance_clock(Duration::from_secs(5));
    write(
        Product::Billing,
        BILLING_ORG,
        "customers",
        &billing_id,
        "Billing wins",
    );
    sb.advance_clock(Duration::from_secs(5));
    let said = ferry(&["sync", "run", "customers"]);
    let ledger = ferry(&["history", "customers", "--run", "2"]);
    assert!(said.contains("conflicts 1"), "{said}\n{ledger}");

    let company = |product: &str, org: &str, resource: &str, key: &str, id: &str| {
        let url = format!(
            "{}/__sandbox/find/{product}/{org}/{resource}?{key}={id}&fields=company_name",
            sb.base_url()
        );
        async move {
            let v: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            v["records"][0]["company_name"].clone()
        }
    };
    assert_eq!(
        company("books", BOOKS_ORG, "contacts", "contact_id", &books_id).await,
        "Billing wins"
    );
    assert_eq!(
        company(
            "billing",
            BILLING_ORG,
            "customers",
            "customer_id",
            &billing_id
        )
        .await,
        "Billing wins"
    );
    sb.advance_clock(Duration::from_secs(5));
    let again = ferry(&["sync", "run", "customers", "--full"]);
    assert!(!again.contains("conflicts"), "settled for good: {again}");
}

/// A run in which records failed for good is not a success: the binary
/// says `completed with failures`, names the failures, and exits 2 (1 stays for a run that
/// failed or could not start); history keeps the status and its reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_records_fail_is_partial_and_exits_2_through_the_binary() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    // A contact's name is no number: every record fails to map.
    let syncs = r#"  customers:
    from: books.contacts
    to: billing.customers
    fields:
      display_name: { expr: "string(int(record.contact_name))" }
"#;
    let bench = bench(&sb, syncs);
    let before = count(&sb, "billing", BILLING_ORG, "customers");
    let out = bench.ferry(&["sync", "run", "customers"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("customers run #1: completed with failures"),
        "{text}"
    );
    assert!(
        text.contains("--run 1 --failed` lists them; `ferry sync retry customers` retries them"),
        "{text}"
    );
    assert_eq!(
        count(&sb, "billing", BILLING_ORG, "customers"),
        before,
        "nothing was created: {text}"
    );

    let out = bench
        .ferry(&["history", "customers", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["status"]["status"], "partial", "{runs}");
    assert!(
        run["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("records failed"),
        "{runs}"
    );
    // Times are RFC 3339 for programs, with the run's length.
    let started = run["started"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "{runs}"
    );
    assert!(run["ended"].is_string(), "{runs}");
    assert!(run["duration_seconds"].is_u64(), "{runs}");
    // People see when it started and how long it took.
    let out = bench.ferry(&["history", "customers"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let day = &started[..10];
    assert!(
        table.contains(day) && table.contains("completed with failures"),
        "{table}"
    );

    // A later run (which reads them again only if they are modified, or
    // near its cursor as here) leaves them failing until dealt with.
    // `ferry run` ends the same way; `--json` gives the runs and their rows.
    let again = bench.ferry(&["run", "--json"]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    let runs: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(runs[0]["status"]["status"], "partial", "{runs}");
    assert!(
        runs[0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["op"] == "fail" && r["title"].is_string()),
        "{runs}"
    );
    let status = bench.ferry(&["sync", "status", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status[0]["failing"], 2, "{status}");

    // Mend the mapping: a retry sends every failing record, whichever run
    // it failed in.
    let path = bench.workspace();
    let yaml = std::fs::read_to_string(&path).unwrap().replace(
        "string(int(record.contact_name))",
        "'R ' + record.contact_name",
    );
    std::fs::write(&path, yaml).unwrap();
    let retry = bench
        .ferry(&["sync", "retry", "customers"])
        .output()
        .unwrap();
    assert!(
        retry.status.success(),
        "{}{}",
        String::from_utf8_lossy(&retry.stdout),
        String::from_utf8_lossy(&retry.stderr)
    );
    assert_eq!(count(&sb, "billing", BILLING_ORG, "customers"), before + 2);
    let status = bench.ferry(&["sync", "status", "--json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status[0]["failing"], 0, "{status}");
}

/// The state remembers where each connection's records live: the same
/// workspace pointed at another sandbox (or data centre, or organisation)
/// is refused before anything is read, unless rebound on purpose; and
/// `--sandbox` keeps a state of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_refuses_a_workspace_pointed_elsewhere_through_the_binary() {
    let first = Sandbox::builder().seed(2).start().await.unwrap();
    let other = Sandbox::builder().seed(2).start().await.unwrap();
    let syncs = r#"  customers:
    from: books.contacts
    to: billing.customers
    fields:
      display_name: { expr: "'S ' + record.contact_name" }
"#;
    let bench = bench(&first, syncs);
    let run = |extra: &[&str]| {
        let mut args = vec!["sync", "run", "customers"];
        args.extend_from_slice(extra);
        let out = bench.ferry(&args).output().unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, said) = run(&[]);
    assert_eq!(code, Some(0), "{said}");

    let path = bench.workspace();
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, yaml.replace(&first.base_url(), &other.base_url())).unwrap();
    let before = count(&other, "billing", BILLING_ORG, "customers");
    let (code, said) = run(&[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("connection `books`")
            && said.contains(&first.base_url())
            && said.contains("--rebind"),
        "{said}"
    );
    assert_eq!(
        count(&other, "billing", BILLING_ORG, "customers"),
        before,
        "nothing written"
    );
    let (code, said) = run(&["--rebind"]);
    assert!(!said.contains("made against other endpoints"), "{said}");
    assert_ne!(code, None, "{said}");

    // Without `--state`: a state per workspace file, and `--sandbox` keeps
    // its own beside it; a state an older Ferry kept in `.ferry/` itself
    // goes on being used.
    let bare = |workspace: &std::path::Path, extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["sync", "run", "customers", "--workspace"])
            .arg(workspace)
            .args(extra)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let dot = bench.dir().join(".ferry");
    let stem = bench.workspace().file_stem().unwrap().to_owned();
    bare(&bench.workspace(), &["--sandbox", &first.base_url()]);
    assert!(dot.join(&stem).join("sandbox").is_dir(), "no sandbox state");
    assert!(
        !dot.join(&stem).join("state.redb").exists(),
        "the real state was used"
    );
    let twin = bench.dir().join("twin.yaml");
    std::fs::copy(bench.workspace(), &twin).unwrap();
    bare(&twin, &["--sandbox", &first.base_url()]);
    assert!(
        dot.join("twin").join("sandbox").is_dir(),
        "twin shares a state"
    );
    std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["sync", "status", "--workspace"])
        .arg(bench.workspace())
        .arg("--state")
        .arg(&dot)
        .output()
        .unwrap();
    assert!(
        dot.join("state.redb").exists(),
        "no state as an older Ferry kept it"
    );
    std::fs::remove_dir_all(dot.join(&stem)).unwrap();
    let note = bare(&bench.workspace(), &[]);
    assert!(note.contains("older Ferry"), "{note}");
    assert!(!dot.join(&stem).exists(), "a second state was made: {note}");
}

/// A run uses what the connections described recently (kept in the state)
/// instead of describing them again — for Books a call per module on every
/// run — and describes them again when the workspace names something that
/// description lacks (a custom field added since), or when it is too old.
#[tokio::test(flavor = "multi_thread")]
async fn runs_reuse_a_recent_describe_and_ask_again_when_it_falls_short() {
    let sb = Sandbox::builder().seed(2).start().await.unwrap();
    let bench = bench(&sb, ONE_WAY);
    let args = |max_age: Duration| ferry::cli::sync::RunArgs {
        workspace: bench.workspace(),
        connectors: Some(support::repo_root().join("connectors")),
        plugin_dir: Some(Bench::plugin_dir()),
        state: Some(bench.state()),
        engine: Default::default(),
        sandbox: None,
        rebind: false,
        json: false,
        schema_max_age: max_age,
        component_cache: None,
    };
    let day = Duration::from_secs(24 * 3600);
    let calls = |env: &Env| env.api_usage("books").unwrap().today().1;

    let first = args(day).env().await.unwrap();
    assert!(calls(&first) > 0, "the first run describes Books");
    assert!(!first.described_from_cache());
    drop(first);
    let again = args(day).env().await.unwrap();
    assert_eq!(calls(&again), 0, "described a minute ago: not again");
    assert!(again.described_from_cache());
    drop(again);
    let stale = args(Duration::ZERO).env().await.unwrap();
    assert!(calls(&stale) > 0, "too old: described again");
    drop(stale);

    // The kept description lacks a field the workspace reads: it is
    // described again, and the workspace validates.
    let kept = bench.state().join("schema/books.json");
    let mut info: Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    for module in info["modules"].as_array_mut().unwrap() {
        module["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["name"] != "contact_name");
    }
    std::fs::write(&kept, serde_json::to_vec(&info).unwrap()).unwrap();
    let fixed = args(day).env().await.unwrap();
    assert!(calls(&fixed) > 0);
    assert!(!fixed.described_from_cache());
    let kept: Value = serde_json::from_slice(&std::fs::read(&kept).unwrap()).unwrap();
    assert!(kept.to_string().contains("\"contact_name\""), "kept again");
}

/// Through the binary: a whole read of a CRM module of more than a page
/// and above `bulk_read_above` goes through Bulk Read jobs (several, paged
/// by token, each polled until done) and writes every record once,
/// lookups' names included; the next, incremental run uses the listing;
/// `--full` exports again and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_whole_read_of_crm_goes_through_bulk_read_jobs() {
    // Records modified long before the read, so the next run reads on
    // from the watermark rather than again from the start.
    let sb = Sandbox::builder()
        .fixed_clock(1_736_942_400_000)
        .start()
        .await
        .unwrap();
    sb.app()
        .seed_only(&["crm/Accounts", "crm/Contacts"], 250)
        .unwrap();
    sb.app()
        .bulk
        .set_config(zoho_sandbox::crm::bulk::BulkConfig {
            per_page: 100,
            polls_to_complete: 2,
            ..Default::default()
        });
    let bench = Bench::new(
        &sb,
        &[support::bench::CRM, BOOKS],
        r#"syncs:
  people:
    from: crm.Contacts
    to: books.contacts
    match: { Full_Name: contact_name }
    fields:
      contact_name: Full_Name
      company_name: Account_Name.name
"#,
    )
    .settings("zoho-crm", "{ bulk_read_above: 200 }");
    let requests = |route: &str| sb.app().requests().get(route).copied().unwrap_or(0);

    bench.ferry_ok(&["sync", "run", "people"]);
    assert_eq!(
        requests("POST /crm/bulk/v8/read"),
        3,
        "250 records, 100 a job"
    );
    assert_eq!(requests("GET /crm/bulk/v8/read/{id}/result"), 3);
    assert!(
        requests("GET /crm/bulk/v8/read/{id}") >= 6,
        "each job polled until done"
    );
    assert_eq!(
        requests("GET /crm/v8/Contacts"),
        1,
        "only the listing's first page, which showed more to read"
    );
    assert_eq!(requests("GET /crm/v8/Contacts/actions/count"), 1);
    let crm = support::bench::sandbox_find(&sb, "crm/Contacts").await;
    let books = support::bench::sandbox_find(&sb, &format!("books/{BOOKS_ORG}/contacts")).await;
    assert_eq!(crm.len(), 250);
    for contact in &crm {
        let copies: Vec<_> = books
            .iter()
            .filter(|b| b["contact_name"] == contact["Full_Name"])
            .collect();
        assert_eq!(copies.len(), 1, "{contact} written once");
        assert_eq!(
            copies[0]["company_name"], contact["Account_Name"]["name"],
            "the lookup's name came through the export"
        );
    }

    // Incremental: the listing, no export.
    bench.ferry_ok(&["sync", "run", "people"]);
    assert_eq!(requests("POST /crm/bulk/v8/read"), 3);
    assert!(requests("GET /crm/v8/Contacts") >= 1);
    // A full read exports again and finds nothing to write.
    let out = bench.ferry_ok(&["sync", "run", "people", "--full", "--json"]);
    assert_eq!(requests("POST /crm/bulk/v8/read"), 6);
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["counts"]["read"], 250, "{out}");
    assert_eq!(reports[0]["counts"]["unchanged"], 250, "{out}");
    let after = support::bench::sandbox_find(&sb, &format!("books/{BOOKS_ORG}/contacts")).await;
    assert_eq!(after.len(), books.len());
}

const INTO_CRM: &str = r#"syncs:
  accounts:
    from: books.contacts
    to: crm.Accounts
    match: { contact_name: Account_Name }
    fields:
      Account_Name: contact_name
"#;

/// Books contacts into CRM with Bulk Write above 100 creates, and jobs
/// that complete after `polls` status polls.
fn into_crm(sb: &Sandbox, polls: u32) -> Bench {
    sb.app().seed_only(&["books/contacts"], 250).unwrap();
    sb.app()
        .bulk
        .set_config(zoho_sandbox::crm::bulk::BulkConfig {
            write_polls_to_complete: polls,
            ..Default::default()
        });
    Bench::new(sb, &[support::bench::CRM, BOOKS], INTO_CRM)
        .settings("zoho-crm", "{ bulk_write_above: 100 }")
}

/// Each Books contact is one CRM Account, linked to it.
async fn assert_each_contact_one_account(sb: &Sandbox, bench: &Bench) {
    let books = support::bench::sandbox_find(sb, &format!("books/{BOOKS_ORG}/contacts")).await;
    let crm = support::bench::sandbox_find(sb, "crm/Accounts").await;
    assert_eq!(books.len(), 250);
    assert_eq!(crm.len(), 250, "one account per contact, none twice");
    for contact in &books {
        let copies = crm
            .iter()
            .filter(|a| a["Account_Name"] == contact["contact_name"])
            .count();
        assert_eq!(copies, 1, "{contact}");
    }
    let env = bench.env().await;
    assert_eq!(env.store.all_links("accounts").unwrap().len(), 250);
    assert!(env.store.pending_intents("accounts").unwrap().is_empty());
}

/// A first sync of 250 Books contacts into CRM, above the connection's
/// `bulk_write_above`, is one Bulk Write job: gathered across the listing's
/// pages, uploaded, polled until done, and each result linked to its
/// contact; no 100-record create calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_creates_into_crm_go_as_one_bulk_write_job() {
    let sb = Sandbox::builder().start().await.unwrap();
    let bench = into_crm(&sb, 2);
    let requests = |route: &str| sb.app().requests().get(route).copied().unwrap_or(0);

    let out = bench.ferry_ok(&["sync", "run", "accounts", "--json"]);
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["counts"]["added"], 250, "{out}");
    assert_eq!(requests("POST /crm/v8/upload"), 1);
    assert_eq!(requests("POST /crm/bulk/v8/write"), 1);
    assert!(
        requests("GET /crm/bulk/v8/write/{id}") >= 3,
        "polled until done"
    );
    assert_eq!(requests("GET /crm/bulk/v8/write/{id}/result"), 1);
    assert_eq!(requests("POST /crm/v8/Accounts"), 0, "no ordinary creates");
    assert_each_contact_one_account(&sb, &bench).await;

    // Nothing changed: nothing is written.
    let out = bench.ferry_ok(&["sync", "run", "accounts", "--json"]);
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["counts"]["added"], 0, "{out}");
    assert_eq!(requests("POST /crm/bulk/v8/write"), 1);
}

/// `SIGKILL` while a Bulk Write job runs: its handle was stored with the
/// creates' intents, so the next run asks the job what it wrote and links
/// that — never a second job, no search, no account twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_while_its_bulk_write_job_runs_settles_from_the_job() {
    let sb = Sandbox::builder().start().await.unwrap();
    // Never done while the first run waits.
    let bench = into_crm(&sb, 1_000_000);
    let requests = |route: &str| sb.app().requests().get(route).copied().unwrap_or(0);
    let mut child = bench
        .ferry(&["sync", "run", "accounts"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while requests("GET /crm/bulk/v8/write/{id}") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never polled"
        );
        assert!(child.try_wait().unwrap().is_none(), "ferry ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no cleanup of any kind
    child.wait().unwrap();
    assert_eq!(requests("POST /crm/bulk/v8/write"), 1);
    assert!(
        support::bench::sandbox_find(&sb, "crm/Accounts")
            .await
            .is_empty()
    );

    // The job completes at its next poll; the next run asks it.
    sb.app()
        .bulk
        .set_config(zoho_sandbox::crm::bulk::BulkConfig {
            write_polls_to_complete: 0,
            ..Default::default()
        });
    bench.ferry_ok(&["sync", "run", "accounts"]);
    assert_eq!(requests("POST /crm/bulk/v8/write"), 1, "no second job");
    assert_eq!(
        requests("POST /crm/v8/Accounts"),
        0,
        "nothing created again"
    );
    assert_eq!(
        requests("GET /crm/v8/Accounts/search"),
        0,
        "settled from the job, not by search"
    );
    assert_each_contact_one_account(&sb, &bench).await;
}
