//! The engine against in-memory fake vendors (`ferry::connector::fake`):
//! each defect found by trying Ferry as a user would has a regression test
//! here that runs in milliseconds, without plugins or a sandbox.

mod support;

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use ferry::connector::fake::{FakeClock, FakeModule, FakeVendor, Fault, Op};
use ferry::connector::{Manifest, Operation};
use ferry::mapping::Side;
use ferry::store::{LedgerFilter, LedgerOp, RunStatus};
use ferry::sync::{self, NoProgress, RunOptions};
use ferry::trigger::{self, Rules, TriggerOptions};
use serde_json::{Value, json};
use support::fakes::{World, world};

/// A clock at the current second: the engine stamps its snapshots with
/// the real time, and the same-second rules compare the two.
fn clock() -> FakeClock {
    FakeClock::at(Utc::now().trunc_subsecs(0))
}

/// Books-like contacts: one-second times, list rows without `website`.
fn books(clock: &FakeClock) -> FakeVendor {
    FakeVendor::new("books").with_clock(clock.clone()).module(
        FakeModule::new("contacts", "contact_id")
            .modified("last_modified_time")
            .fields(&["contact_name", "website", "phone", "currency_code"])
            .list_omits(&["website"]),
    )
}

/// Billing-like customers and invoices, with actions.
fn billing(clock: &FakeClock) -> FakeVendor {
    FakeVendor::new("billing")
        .with_clock(clock.clone())
        .module(
            FakeModule::new("customers", "customer_id")
                .modified("last_modified_time")
                .fields(&["display_name", "website", "phone"]),
        )
        .module(
            FakeModule::new("invoices", "invoice_id")
                .modified("last_modified_time")
                .fields(&["customer_name", "total", "status", "cf_contact_id"])
                .action("mark-sent", "status", "sent")
                .action("accept", "status", "accepted"),
        )
}

async fn run(w: &World, name: &str) -> ferry::store::RunRecord {
    sync::run(&w.env, name, &RunOptions::default(), &NoProgress)
        .await
        .unwrap()
}

fn field(records: &[serde_json::Map<String, Value>], key: &str) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| r.get(key).and_then(Value::as_str).unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}

const TWO_WAY: &str = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    direction: two-way
    conflict: CONFLICT
    match: { contact_name: display_name }
    fields:
      display_name: contact_name
      phone: phone
"#;

/// Two-way, the other side wins: its values are written back, both sides
/// agree, and the next run (even a full one) finds no conflict — for
/// `conflict: to`, and for `newest` when the `to` side is newer.
#[tokio::test]
async fn a_conflict_the_other_side_wins_is_written_back() {
    for policy in ["to", "newest"] {
        let clock = clock();
        let (books, billing) = (books(&clock), billing(&clock));
        let id = books.insert("contacts", json!({"contact_name": "Acme", "phone": "1"}));
        let w = world(
            &TWO_WAY.replace("CONFLICT", policy),
            &[&books, &billing],
            vec![],
        )
        .await;
        assert_eq!(run(&w, "customers").await.counts.added, 1, "{policy}");
        let partner = billing.records("customers")[0]["customer_id"]
            .as_str()
            .unwrap()
            .to_string();
        clock.advance(Duration::from_secs(5));
        books.edit("contacts", &id, json!({"phone": "from-books"}));
        clock.advance(Duration::from_secs(5));
        billing.edit("customers", &partner, json!({"phone": "from-billing"}));
        clock.advance(Duration::from_secs(5));

        let r = run(&w, "customers").await;
        assert_eq!(r.status, RunStatus::Completed, "{policy}: {r:?}");
        assert_eq!(r.counts.conflicts, 1, "{policy}: counted once: {r:?}");
        assert_eq!(
            books.get_now("contacts", &id).unwrap()["phone"],
            "from-billing",
            "{policy}: the winner's value is written back"
        );
        assert_eq!(
            billing.get_now("customers", &partner).unwrap()["phone"],
            "from-billing"
        );
        clock.advance(Duration::from_secs(5));
        let again = sync::run(
            &w.env,
            "customers",
            &RunOptions {
                full: true,
                ..RunOptions::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
        assert_eq!(again.counts.conflicts, 0, "{policy}: settled: {again:?}");
        assert_eq!(again.counts.updated, 0, "{policy}: {again:?}");
    }
}

/// An edit in the same second as the last read (one-second times) is not
/// taken for "unchanged", though the list row leaves the edited field out
/// and shows the same modified time.
#[tokio::test]
async fn an_edit_in_the_same_second_is_synced() {
    let clock = clock();
    let (books, billing) = (books(&clock), billing(&clock));
    let id = books.insert(
        "contacts",
        json!({"contact_name": "Acme", "website": "a.example"}),
    );
    let w = world(
        "syncs:\n  customers:\n    from: books.contacts\n    to: billing.customers\n    fields:\n      display_name: contact_name\n      website: website\n",
        &[&books, &billing],
        vec![],
    )
    .await;
    assert_eq!(run(&w, "customers").await.counts.added, 1);
    // The same second: the row's time does not move.
    books.edit("contacts", &id, json!({"website": "b.example"}));
    let r = run(&w, "customers").await;
    assert_eq!(r.counts.updated, 1, "{r:?}");
    assert_eq!(
        field(&billing.records("customers"), "website"),
        ["b.example"]
    );
}

/// One record listed twice in one page is created once.
#[tokio::test]
async fn a_record_twice_in_a_page_is_created_once() {
    let clock = clock();
    let books = FakeVendor::new("books").with_clock(clock.clone()).module(
        FakeModule::new("contacts", "contact_id")
            .modified("last_modified_time")
            .fields(&["contact_name"])
            .repeat_rows(),
    );
    let billing = billing(&clock);
    books.insert("contacts", json!({"contact_name": "Acme"}));
    let w = world(
        "syncs:\n  customers:\n    from: books.contacts\n    to: billing.customers\n    fields:\n      display_name: contact_name\n",
        &[&books, &billing],
        vec![],
    )
    .await;
    let r = run(&w, "customers").await;
    assert_eq!(r.counts.added, 1, "{r:?}");
    assert_eq!(billing.records("customers").len(), 1);
}

/// A rule whose step is two actions, the second failing once for a
/// passing reason: the next run does the second action (not the first
/// again, and not "done"); a sibling rule that had nothing to do with the
/// failure completes.
#[tokio::test]
async fn a_two_action_step_goes_on_after_a_passing_failure() {
    let clock = clock();
    let (books, billing) = (books(&clock), billing(&clock));
    let id = books.insert("contacts", json!({"contact_name": "Acme", "phone": "0"}));
    let invoice = billing.insert(
        "invoices",
        json!({"customer_name": "Acme", "status": "draft", "cf_contact_id": id}),
    );
    let body = format!(
        r#"triggers:
  send-and-accept:
    on: books.contacts
    when: {{ field: phone, changes: true }}
    act: {{ on: billing.invoices, id: "'{invoice}'", action: [mark-sent, accept] }}
    manual_guard: false
  noticed:
    on: books.contacts
    when: {{ field: phone, changes: true }}
    update: {{ on: billing.invoices, id: "'{invoice}'" }}
    manual_guard: false
    fields:
      customer_name: contact_name
"#
    );
    let w = world(&body, &[&books, &billing], vec![]).await;
    let options = TriggerOptions::default();
    let rules = || trigger::run(&w.env, Rules::All, &options, &NoProgress);
    rules().await.unwrap();
    clock.advance(Duration::from_secs(5));
    books.edit("contacts", &id, json!({"phone": "1"}));
    clock.advance(Duration::from_secs(5));
    // `mark-sent` works; `accept` fails for a passing reason.
    billing.fail_next(Op::Act, Fault::Pass);
    billing.fail_next(Op::Act, Fault::Transient);
    let runs = rules().await.unwrap();
    let status = |runs: &[ferry::store::RunRecord], name: &str| {
        runs.iter().find(|r| r.sync == name).unwrap().status.clone()
    };
    assert_eq!(status(&runs, "noticed"), RunStatus::Completed, "{runs:?}");
    assert!(matches!(
        status(&runs, "send-and-accept"),
        RunStatus::Failed(_)
    ));
    assert_eq!(
        billing.get_now("invoices", &invoice).unwrap()["status"],
        "sent"
    );

    let runs = rules().await.unwrap();
    assert_eq!(
        status(&runs, "send-and-accept"),
        RunStatus::Completed,
        "{runs:?}"
    );
    assert_eq!(
        billing.get_now("invoices", &invoice).unwrap()["status"],
        "accepted"
    );
    let acts = billing.writes().iter().filter(|w| w.op == Op::Act).count();
    assert_eq!(acts, 2, "mark-sent once, accept once");
}

/// A job whose every rule is paused runs none of them.
#[tokio::test]
async fn no_rule_selected_runs_no_rule() {
    let clock = clock();
    let (books, billing) = (books(&clock), billing(&clock));
    let body = "triggers:\n  noticed:\n    on: books.contacts\n    when: { field: phone, changes: true }\n    create: billing.customers\n    fields:\n      display_name: contact_name\n";
    let w = world(body, &[&books, &billing], vec![]).await;
    let runs = trigger::run(
        &w.env,
        Rules::Only(&[]),
        &TriggerOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(runs.is_empty(), "{runs:?}");
    assert_eq!(books.calls(Op::List), 0);
}

/// `--dry-run` writes nothing, not even the parent a `missing: create`
/// link would make; and a paused sync makes no parent for another.
#[tokio::test]
async fn dry_runs_and_paused_syncs_create_no_parents() {
    let clock = clock();
    let (books, billing) = (books(&clock), billing(&clock));
    let contact = books.insert("contacts", json!({"contact_name": "Acme"}));
    books.insert(
        "contacts",
        json!({"contact_name": "Child", "phone": contact}),
    );
    let body = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    fields:
      display_name: contact_name
  invoices:
    from: books.contacts
    to: billing.invoices
    view: "record.contact_name == 'Child'"
    fields:
      customer_name: contact_name
      cf_contact_id: { link: customers, from: phone, missing: create }
"#;
    let w = world(body, &[&books, &billing], vec![]).await;
    let dry = sync::run(
        &w.env,
        "invoices",
        &RunOptions {
            dry_run: true,
            ..RunOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(billing.records("customers").is_empty(), "{dry:?}");
    assert!(billing.records("invoices").is_empty());

    w.env.store.set_paused("customers", true).unwrap();
    let r = run(&w, "invoices").await;
    assert!(billing.records("customers").is_empty(), "{r:?}");
    let rows = w
        .env
        .store
        .ledger("invoices", r.id, LedgerFilter::Failed, 0, 10)
        .unwrap();
    assert!(
        rows.iter().any(|row| row.op == LedgerOp::Fail
            && row.reason.as_deref().is_some_and(|r| r.contains("paused"))),
        "{rows:?}"
    );
}

/// A manifest for a fake connector whose organisation (one record of
/// module `organization`) names its base currency.
fn manifest_with_currency(name: &str) -> Manifest {
    serde_yaml::from_str(&format!(
        "name: fake-{name}\ncomponent: none.wasm\norganization: {{ module: organization, currency: currency_code }}\n"
    ))
    .unwrap()
}

/// Trigger rules that copy money between organisations check base
/// currencies as syncs do: a USD figure never becomes an EUR invoice.
#[tokio::test]
async fn trigger_rules_check_base_currencies() {
    let clock = clock();
    let org = || FakeModule::new("organization", "organization_id").fields(&["currency_code"]);
    let books = books(&clock).module(org());
    let billing = billing(&clock).module(org());
    books.insert("organization", json!({"currency_code": "USD"}));
    billing.insert("organization", json!({"currency_code": "EUR"}));
    let id = books.insert("contacts", json!({"contact_name": "Acme", "phone": "0"}));
    let body = r#"triggers:
  invoice:
    on: books.contacts
    when: { field: phone, changes: true }
    first_run: fire
    create: billing.invoices
    fields:
      customer_name: contact_name
      currency_code: currency_code
"#;
    let w = world(
        body,
        &[&books, &billing],
        vec![
            manifest_with_currency("books"),
            manifest_with_currency("billing"),
        ],
    )
    .await;
    books.edit("contacts", &id, json!({"phone": "1"}));
    let err = trigger::run(&w.env, Rules::All, &TriggerOptions::default(), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("base currency is USD") && err.contains("EUR"),
        "{err}"
    );
    assert!(billing.records("invoices").is_empty());
}

/// A create whose answer was lost is found again, not made twice, though
/// the vendor's search has not caught up with the write yet — for syncs
/// and for trigger rules.
#[tokio::test]
async fn an_interrupted_create_is_settled_though_search_lags() {
    let clock = clock();
    let books = books(&clock);
    let billing = billing(&clock).search_lag(50);
    let id = books.insert("contacts", json!({"contact_name": "Acme", "phone": "0"}));
    let body = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_name: display_name }
    fields:
      display_name: contact_name
triggers:
  invoice:
    on: books.contacts
    when: { field: phone, changes: true }
    create: billing.invoices
    fields:
      customer_name: contact_name
      cf_contact_id: contact_id
"#;
    let w = world(body, &[&books, &billing], vec![]).await;
    let options = TriggerOptions::default();
    trigger::run(&w.env, Rules::All, &options, &NoProgress)
        .await
        .unwrap();
    billing.fail_next(Op::Create, Fault::LostAnswer);
    run(&w, "customers").await;
    run(&w, "customers").await;
    assert_eq!(billing.records("customers").len(), 1);

    clock.advance(Duration::from_secs(5));
    books.edit("contacts", &id, json!({"phone": "1"}));
    billing.fail_next(Op::Create, Fault::LostAnswer);
    for _ in 0..2 {
        trigger::run(&w.env, Rules::All, &options, &NoProgress)
            .await
            .unwrap();
    }
    assert_eq!(billing.records("invoices").len(), 1);
}

/// Rules on one module keep their own view of it: while rule `b` is
/// paused (or only `a` is run), a change `a` fires on is not used up for
/// `b`, which fires once it runs again — and `a` does not fire twice.
#[tokio::test]
async fn a_paused_rule_sees_every_change_after_resume() {
    let clock = clock();
    let (books, billing) = (books(&clock), billing(&clock));
    let id = books.insert("contacts", json!({"contact_name": "Acme", "phone": "0"}));
    let rule = |name: &str| {
        format!(
            "  {name}:\n    on: books.contacts\n    when: {{ field: phone, changes: true }}\n    create: billing.invoices\n    fields:\n      customer_name: {{ const: {name} }}\n      cf_contact_id: contact_id\n    match: [customer_name, cf_contact_id]\n"
        )
    };
    let body = format!("triggers:\n{}{}", rule("a"), rule("b"));
    let w = world(&body, &[&books, &billing], vec![]).await;
    let options = TriggerOptions::default();
    trigger::run(&w.env, Rules::All, &options, &NoProgress)
        .await
        .unwrap();
    let made = |name: &str| {
        billing
            .records("invoices")
            .iter()
            .filter(|r| r["customer_name"] == name)
            .count()
    };

    // `b` paused: `a` fires.
    w.env.store.set_paused("b", true).unwrap();
    clock.advance(Duration::from_secs(5));
    books.edit("contacts", &id, json!({"phone": "1"}));
    trigger::run(&w.env, Rules::All, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((made("a"), made("b")), (1, 0));
    // Only `a` asked for: still nothing used up for `b`.
    let only_a = ["a".to_string()];
    trigger::run(&w.env, Rules::Only(&only_a), &options, &NoProgress)
        .await
        .unwrap();
    // `b` resumed: it fires for the change it missed; `a` not again.
    w.env.store.set_paused("b", false).unwrap();
    trigger::run(&w.env, Rules::All, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((made("a"), made("b")), (1, 1));
    trigger::run(&w.env, Rules::All, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!((made("a"), made("b")), (1, 1));
}

/// In a two-way sync, the `to` side's listing meets Ferry's own writes of
/// the `from` pass moments earlier; they must not hold its cursor back,
/// or every run re-reads a growing window.
#[tokio::test]
async fn own_writes_do_not_hold_a_two_way_cursor_back() {
    let clock = FakeClock::at(Utc::now().trunc_subsecs(0) - chrono::Duration::hours(1));
    let (books, billing) = (books(&clock), billing(&clock));
    books.insert("contacts", json!({"contact_name": "Acme", "phone": "1"}));
    let w = world(
        &TWO_WAY.replace("CONFLICT", "newest"),
        &[&books, &billing],
        vec![],
    )
    .await;
    // Ferry's writes land now; the person's edit was an hour ago.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(run(&w, "customers").await.counts.added, 1);
    let written = billing.records("customers")[0]["last_modified_time"]
        .as_str()
        .unwrap()
        .to_string();
    let cursor = w
        .env
        .store
        .cursor("customers", ferry::mapping::Side::To)
        .unwrap()
        .and_then(|c| c.since);
    assert_eq!(cursor.as_deref(), Some(written.as_str()));
}

/// Books with three contacts, two named to be left out by a view on
/// `Skip…`, and an empty Billing.
fn two_skipped_one_kept() -> (FakeVendor, FakeVendor) {
    let clock = clock();
    let books = books(&clock);
    for name in ["Skip one", "Keep", "Skip two"] {
        books.insert("contacts", json!({"contact_name": name}));
    }
    (books, billing(&clock))
}

/// The rows of run `run` of sync `customers` that say it skipped a record.
fn skipped_rows(w: &World, run: u64) -> Vec<ferry::store::LedgerRow> {
    w.env
        .store
        .ledger("customers", run, LedgerFilter::Skipped, 0, 10)
        .unwrap()
}

/// Books contacts → Billing customers, the view leaving out names that
/// start `Skip`; `options` are more sync keys, `fields` more mappings
/// (each a line, indented).
fn skipping_sync(options: &str, fields: &str) -> String {
    format!(
        "syncs:\n  customers:\n    from: books.contacts\n    to: billing.customers\n    view: \"!record.contact_name.startsWith('Skip')\"\n{options}    fields:\n      display_name: contact_name\n{fields}"
    )
}

/// Rows of filtered records wait for the page's commit (one transaction
/// for a page, not one each); a pass that fails mid-page still ledgers the
/// records it skipped before the failure, and the next run reads them
/// again and creates only what the view lets through.
#[tokio::test]
async fn a_pass_failing_mid_page_keeps_the_rows_of_what_it_skipped() {
    let (books, billing) = two_skipped_one_kept();
    let body = skipping_sync("", "      website: website\n");
    let w = world(&body, &[&books, &billing], vec![]).await;
    // List rows leave `website` out, so each record is read in full: the
    // first read passes, the second fails and ends the pass mid-page.
    books.fail_next(Op::Get, Fault::Pass);
    books.fail_next(Op::Get, Fault::Server5xx);
    let failed = run(&w, "customers").await;
    assert!(matches!(failed.status, RunStatus::Failed(_)), "{failed:?}");
    let skipped = skipped_rows(&w, failed.id);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].op, LedgerOp::Skip);
    assert!(billing.records("customers").is_empty());

    let again = run(&w, "customers").await;
    assert_eq!(again.status, RunStatus::Completed, "{again:?}");
    assert_eq!(
        field(&billing.records("customers"), "display_name"),
        ["Keep"]
    );
    let skipped = skipped_rows(&w, again.id);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
}

/// `ledger: changes`: records the view leaves out are counted, with no
/// row each (a large filtered read adds nothing to the state per record);
/// what is written still has its row. The default keeps a row for every
/// record, so its skipped records can be exported.
#[tokio::test]
async fn ledger_changes_counts_skipped_records_without_a_row_each() {
    for (ledger, skipped_rows) in [("all", 2), ("changes", 0)] {
        let (books, billing) = two_skipped_one_kept();
        let body = skipping_sync(&format!("    ledger: {ledger}\n"), "");
        let w = world(&body, &[&books, &billing], vec![]).await;
        let r = run(&w, "customers").await;
        assert_eq!(
            (r.counts.skipped, r.counts.added),
            (2, 1),
            "{ledger}: {r:?}"
        );
        let rows = |filter| {
            w.env
                .store
                .ledger("customers", r.id, filter, 0, 10)
                .unwrap()
                .len()
        };
        assert_eq!(rows(LedgerFilter::Skipped), skipped_rows, "{ledger}");
        assert_eq!(rows(LedgerFilter::All), skipped_rows + 1, "{ledger}");
    }
}

/// A source without a deleted-records feed (as Zoho Books): a deletion
/// shows only as a whole read no longer listing a linked record. Runs
/// that read what changed notice nothing; the run `full_read` makes due
/// archives the partner of each linked record not listed, once; the link
/// goes, so a later whole read archives nothing again.
#[tokio::test]
async fn a_due_whole_read_archives_what_a_feedless_source_no_longer_lists() {
    let clock = clock();
    let books = FakeVendor::new("books").with_clock(clock.clone()).module(
        FakeModule::new("invoices", "invoice_id")
            .modified("last_modified_time")
            .fields(&["number"])
            .without(Operation::DeletedFeed),
    );
    let ap = FakeVendor::new("ap").with_clock(clock.clone()).module(
        FakeModule::new("invoices", "id")
            .modified("updated_at")
            .fields(&["number", "status"])
            .action("archive", "status", "archived"),
    );
    books.insert("invoices", json!({"number": "INV-1"}));
    let gone = books.insert("invoices", json!({"number": "INV-2"}));
    let body = r#"syncs:
  invoices:
    from: books.invoices
    to: ap.invoices
    deletes: archive
    full_read: hourly
    fields:
      number: number
"#;
    let w = world(body, &[&books, &ap], vec![]).await;
    assert_eq!(run(&w, "invoices").await.counts.added, 2);
    books.remove("invoices", &gone);
    let archived = || field(&ap.records("invoices"), "status");

    // Read whole a moment ago: this run reads what changed and sees no
    // deletion.
    let r = run(&w, "invoices").await;
    assert_eq!(r.counts.deleted, 0, "{r:?}");
    assert_eq!(archived(), ["", ""]);

    // The last whole read two hours back: this run reads whole.
    let store = &w.env.store;
    let mut cursor = store.cursor("invoices", Side::From).unwrap().unwrap();
    let last = cursor.full_read.expect("a first run reads whole");
    cursor.full_read = Some(last - 7200);
    store.set_cursor("invoices", Side::From, &cursor).unwrap();
    let r = run(&w, "invoices").await;
    assert_eq!(r.status, RunStatus::Completed, "{r:?}");
    assert_eq!((r.counts.deleted, r.counts.read), (1, 1), "{r:?}");
    let by_number: Vec<(String, String)> = ap
        .records("invoices")
        .iter()
        .map(|r| {
            (
                r["number"].as_str().unwrap().into(),
                r.get("status").and_then(Value::as_str).unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        by_number.contains(&("INV-2".into(), "archived".into())),
        "{by_number:?}"
    );
    assert!(
        by_number.contains(&("INV-1".into(), "".into())),
        "{by_number:?}"
    );
    let rows = store
        .ledger("invoices", r.id, LedgerFilter::All, 0, 10)
        .unwrap();
    assert!(
        rows.iter().any(|row| row.op == LedgerOp::Delete
            && row.reason.as_deref() == Some("deleted at the source; archived")),
        "{rows:?}"
    );
    let next = store.cursor("invoices", Side::From).unwrap().unwrap();
    assert!(next.full_read > Some(last - 7200), "{next:?}");

    // Once: `--full` reads whole again and has nothing left to archive.
    let full = RunOptions {
        full: true,
        ..RunOptions::default()
    };
    let r = sync::run(&w.env, "invoices", &full, &NoProgress)
        .await
        .unwrap();
    assert_eq!((r.counts.deleted, r.counts.read), (0, 1), "{r:?}");
}

/// Under `ledger: changes`, a record that failed in an earlier run and is
/// now left out by the view is no longer listed as failing: its skip
/// still gets a row (which clears the failure); the others are counted.
#[tokio::test]
async fn ledger_changes_clears_a_failure_the_view_now_skips() {
    let (books, billing) = two_skipped_one_kept();
    let body = skipping_sync("    ledger: changes\n", "");
    let w = world(&body, &[&books, &billing], vec![]).await;
    billing.fail_next(
        Op::Create,
        Fault::Error(ferry::connector::ConnectorError::Invalid {
            field: "display_name".into(),
            message: "refused".into(),
        }),
    );
    let first = run(&w, "customers").await;
    assert_eq!(first.counts.failed, 1, "{first:?}");
    assert_eq!(w.env.store.failing("customers").unwrap().len(), 1);

    let keep = books
        .records("contacts")
        .into_iter()
        .find(|r| r["contact_name"] == "Keep")
        .unwrap()["contact_id"]
        .as_str()
        .unwrap()
        .to_string();
    books.edit("contacts", &keep, json!({"contact_name": "Skip now"}));
    let second = run(&w, "customers").await;
    assert_eq!(second.status, RunStatus::Completed, "{second:?}");
    assert!(
        w.env.store.failing("customers").unwrap().is_empty(),
        "{:?}",
        w.env.store.failing("customers")
    );
    let rows = skipped_rows(&w, second.id);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].source_id, keep);
}

/// Billing customers taking creates of `min` to ten records as jobs, each
/// answering "running" to its first poll; a run waits a second for one.
fn billing_with_jobs(clock: &FakeClock, min: u32) -> FakeVendor {
    FakeVendor::new("billing").with_clock(clock.clone()).module(
        FakeModule::new("customers", "customer_id")
            .modified("last_modified_time")
            .fields(&["display_name", "website", "phone"])
            .unique("display_name")
            .page_size(2)
            .create_jobs(min, 10, 1)
            .job_patience(1),
    )
}

const ONE_WAY: &str = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    match: { contact_name: display_name }
    fields:
      display_name: contact_name
"#;

/// What a create job's start and answers mean, case by case: each ends
/// with every contact once in Billing, linked, and no intent left.
#[tokio::test]
async fn create_jobs_end_exactly_once_whatever_their_start_and_answers() {
    struct Case {
        name: &'static str,
        fault: Option<(Op, Fault)>,
        /// Records the first run leaves (incomplete) for the second.
        first_run_creates: usize,
        wait_out_jobs: bool,
    }
    let cases = [
        Case {
            name: "the job runs and answers",
            fault: None,
            first_run_creates: 3,
            wait_out_jobs: false,
        },
        Case {
            name: "it could not start for a passing reason: the next run writes them",
            fault: Some((Op::StartJob, Fault::Transient)),
            first_run_creates: 0,
            wait_out_jobs: false,
        },
        Case {
            name: "its start's answer was lost: settled by lookup",
            fault: Some((Op::StartJob, Fault::LostAnswer)),
            first_run_creates: 0,
            wait_out_jobs: true,
        },
        Case {
            name: "a poll's answer was lost: asked again",
            fault: Some((Op::PollJob, Fault::LostAnswer)),
            first_run_creates: 3,
            wait_out_jobs: false,
        },
        Case {
            name: "the vendor forgot the job: settled by lookup",
            fault: Some((
                Op::PollJob,
                Fault::Error(ferry::connector::ConnectorError::NotFound(
                    "no such job".into(),
                )),
            )),
            first_run_creates: 0,
            wait_out_jobs: false,
        },
    ];
    for case in cases {
        let clock = clock();
        let books = books(&clock);
        let billing = billing_with_jobs(&clock, 2);
        for name in ["Acme", "Globex", "Initech"] {
            books.insert("contacts", json!({"contact_name": name}));
        }
        let w = world(ONE_WAY, &[&books, &billing], vec![]).await;
        if let Some((op, fault)) = case.fault.clone() {
            billing.fail_next(op, fault);
        }
        run(&w, "customers").await;
        if case.wait_out_jobs {
            // A job whose handle was lost is taken as over only after the
            // module's patience.
            tokio::time::sleep(Duration::from_millis(2100)).await;
        }
        let made = billing.records("customers").len();
        assert!(
            made == case.first_run_creates || made == 3,
            "{}: {made} after the first run",
            case.name
        );
        let second = run(&w, "customers").await;
        assert_eq!(
            second.status,
            RunStatus::Completed,
            "{}: {second:?}",
            case.name
        );
        assert_eq!(
            field(&billing.records("customers"), "display_name"),
            ["Acme", "Globex", "Initech"],
            "{}",
            case.name
        );
        assert_eq!(
            w.env.store.all_links("customers").unwrap().len(),
            3,
            "{}",
            case.name
        );
        assert!(w.env.store.pending_intents("customers").unwrap().is_empty());
        assert_eq!(
            billing.calls(Op::Create),
            0,
            "{}: no ordinary creates",
            case.name
        );
    }
}

/// A row the job refused fails alone, in the ledger; the others are
/// linked. Fewer creates than the job minimum go as ordinary creates.
#[tokio::test]
async fn a_row_a_job_refuses_fails_alone() {
    let clock = clock();
    let books = books(&clock);
    let billing = billing_with_jobs(&clock, 3);
    // A customer a person made already: the job's copy of it is refused.
    billing.insert("customers", json!({"display_name": "Globex"}));
    for name in ["Acme", "globex", "Initech"] {
        books.insert("contacts", json!({"contact_name": name}));
    }
    let body = ONE_WAY.replace("    match: { contact_name: display_name }\n", "");
    let w = world(&body, &[&books, &billing], vec![]).await;
    let first = run(&w, "customers").await;
    assert_eq!(billing.calls(Op::StartJob), 1);
    assert_eq!(billing.calls(Op::Create), 0);
    assert_eq!(
        (first.counts.added, first.counts.failed),
        (2, 1),
        "{first:?}"
    );
    let failed = w
        .env
        .store
        .ledger("customers", first.id, LedgerFilter::Failed, 0, 10)
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].op, LedgerOp::Fail);
    assert!(w.env.store.pending_intents("customers").unwrap().is_empty());

    // The failed one again and one more: below the job minimum, one
    // ordinary create call.
    books.insert("contacts", json!({"contact_name": "Umbrella"}));
    run(&w, "customers").await;
    assert_eq!(billing.calls(Op::StartJob), 1);
    assert_eq!(billing.calls(Op::Create), 1);
}
