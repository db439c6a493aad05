//! Rollups against in-memory fake vendors: invoices per customer summed,
//! counted and dated onto the linked CRM Accounts; incremental (a changed
//! invoice rewrites only its account), daily (the date alone moves
//! invoices overdue), the deleted feed (deleted invoices drop out) and
//! passing failures; and a property test against figures computed from scratch.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use ferry::connector::fake::{FakeClock, FakeModule, FakeVendor, Fault, Op};
use ferry::rollup::{self, RollupOptions};
use ferry::store::{RunRecord, RunStatus};
use ferry::sync::{self, NoProgress, RunOptions};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use support::fakes::{World, world};

const WS: &str = r#"syncs:
  accounts:
    from: invoice.contacts
    to: crm.Accounts
    match: { contact_name: Account_Name }
    fields: { Account_Name: contact_name }
rollups:
  receivables:
    from: invoice.invoices
    parent: customer_id
    to: crm.Accounts
    link: accounts
    view: "record.status != 'draft' && record.status != 'void'"
    fields:
      Total_Receivables: { sum: balance }
      Overdue_Amount: { sum: balance, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Overdue_Invoices: { count: true, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Oldest_Overdue: { min: due_date, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Last_Payment: { max: last_payment_date }
"#;

/// An hour ago: records modified close to a read hold its cursor back
/// (pages may have shifted), and these tests count what a read reads.
fn clock() -> FakeClock {
    FakeClock::at(Utc::now().trunc_subsecs(0) - chrono::Duration::hours(1))
}

fn invoice_vendor(clock: &FakeClock) -> FakeVendor {
    FakeVendor::new("invoice")
        .with_clock(clock.clone())
        .module(
            FakeModule::new("contacts", "contact_id")
                .modified("last_modified_time")
                .fields(&["contact_name"]),
        )
        .module(
            FakeModule::new("invoices", "invoice_id")
                .modified("last_modified_time")
                .fields(&[
                    "customer_id",
                    "status",
                    "balance",
                    "due_date",
                    "last_payment_date",
                ])
                .page_size(7),
        )
}

/// CRM takes two updates a call and three calls at once here, answering
/// out of order: the figures must still reach the right Accounts.
fn crm_vendor(clock: &FakeClock) -> FakeVendor {
    FakeVendor::new("crm")
        .with_clock(clock.clone())
        .with_concurrency(3)
        .module(
            FakeModule::new("Accounts", "id")
                .modified("Modified_Time")
                .fields(&[
                    "Account_Name",
                    "Total_Receivables",
                    "Overdue_Amount",
                    "Overdue_Invoices",
                    "Oldest_Overdue",
                    "Last_Payment",
                ])
                .batch(2),
        )
}

struct Setup {
    w: World,
    invoice: FakeVendor,
    crm: FakeVendor,
    clock: FakeClock,
    /// Customer id by name.
    customers: BTreeMap<String, String>,
}

async fn setup(names: &[&str]) -> Setup {
    let clock = clock();
    let (invoice, crm) = (invoice_vendor(&clock), crm_vendor(&clock));
    let customers = names
        .iter()
        .map(|n| {
            (
                n.to_string(),
                invoice.insert("contacts", json!({ "contact_name": n })),
            )
        })
        .collect();
    let w = world(WS, &[&invoice, &crm], vec![]).await;
    Setup {
        w,
        invoice,
        crm,
        clock,
        customers,
    }
}

fn day(d: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{d}T09:00:00+00:00")).unwrap()
}

impl Setup {
    async fn sync_accounts(&self) {
        let r = sync::run(&self.w.env, "accounts", &RunOptions::default(), &NoProgress)
            .await
            .unwrap();
        assert_eq!(r.status, RunStatus::Completed, "{r:?}");
    }

    async fn rollup(&self, at: &str, full: bool) -> RunRecord {
        self.clock.advance(Duration::from_secs(3));
        let options = RollupOptions {
            full,
            now: Some(day(at)),
            ..Default::default()
        };
        rollup::run(&self.w.env, "receivables", &options)
            .await
            .unwrap()
    }

    fn invoice(&self, customer: &str, fields: Value) -> String {
        let mut f = fields.as_object().unwrap().clone();
        f.insert(
            "customer_id".into(),
            self.customers[customer].clone().into(),
        );
        f.entry("status").or_insert("sent".into());
        self.invoice.insert("invoices", Value::Object(f))
    }

    /// The figures on the CRM Account named `name`.
    fn account(&self, name: &str) -> Value {
        let rec = self
            .crm
            .records("Accounts")
            .into_iter()
            .find(|r| r["Account_Name"] == name)
            .unwrap_or_else(|| panic!("no account {name}"));
        let keys = [
            "Total_Receivables",
            "Overdue_Amount",
            "Overdue_Invoices",
            "Oldest_Overdue",
            "Last_Payment",
        ];
        Value::Object(
            keys.iter()
                .filter_map(|k| rec.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect(),
        )
    }
}

#[tokio::test]
async fn receivables_follow_invoices_the_date_and_deletions() {
    let s = setup(&["Acme", "Globex", "Initech"]).await;
    s.sync_accounts().await;
    let a1 = s.invoice(
        "Acme",
        json!({"balance": "1,000.00", "due_date": "2024-03-31", "last_payment_date": "2024-03-20"}),
    );
    s.invoice("Acme", json!({"balance": 250.5, "due_date": "2024-04-20"}));
    s.invoice(
        "Acme",
        json!({"balance": 99, "due_date": "2024-01-01", "status": "draft"}),
    );
    let g1 = s.invoice("Globex", json!({"balance": 40, "due_date": "2024-06-01"}));

    let r = s.rollup("2024-04-10", false).await;
    assert_eq!(r.status, RunStatus::Completed, "{r:?}");
    assert_eq!((r.counts.read, r.counts.updated), (4, 2), "{r:?}");
    assert_eq!(
        s.account("Acme"),
        json!({"Total_Receivables": 1250.5, "Overdue_Amount": 1000, "Overdue_Invoices": 1,
               "Oldest_Overdue": "2024-03-31", "Last_Payment": "2024-03-20"})
    );
    assert_eq!(
        s.account("Globex"),
        json!({"Total_Receivables": 40, "Overdue_Amount": 0, "Overdue_Invoices": 0,
               "Oldest_Overdue": null, "Last_Payment": null})
    );
    // Initech has no invoices: nothing to write.
    assert_eq!(s.account("Initech"), json!({}));

    // Nothing changed, same day: one listing, nothing written.
    let lists = s.invoice.calls(Op::List);
    let updates = s.crm.calls(Op::Update);
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!(
        (r.counts.updated, r.status.clone()),
        (0, RunStatus::Completed),
        "{r:?}"
    );
    assert_eq!(s.invoice.calls(Op::List) - lists, 1);
    assert_eq!(s.crm.calls(Op::Update), updates);

    // One invoice paid: only Globex's account is recomputed and written.
    // (The read is incremental from the latest time it saw, inclusive, so
    // invoices stamped in that same second come again, unchanged.)
    s.clock.advance(Duration::from_secs(3));
    s.invoice.edit(
        "invoices",
        &g1,
        json!({"balance": 0, "status": "paid", "last_payment_date": "2024-04-12"}),
    );
    let before = s.crm.writes().len();
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!((r.counts.updated, r.counts.unchanged), (1, 0), "{r:?}");
    let writes = s.crm.writes();
    assert_eq!(writes.len() - before, 1);
    assert_eq!(
        s.account("Globex"),
        json!({"Total_Receivables": 0, "Overdue_Amount": 0, "Overdue_Invoices": 0,
               "Oldest_Overdue": null, "Last_Payment": "2024-04-12"})
    );

    // A month on, no invoice changed: the date alone makes Acme's second
    // invoice overdue. Globex's figures are the same and not rewritten.
    let r = s.rollup("2024-05-01", false).await;
    assert_eq!((r.counts.updated, r.counts.unchanged), (1, 1), "{r:?}");
    assert_eq!(s.account("Acme")["Overdue_Amount"], json!(1250.5));
    assert_eq!(s.account("Acme")["Overdue_Invoices"], json!(2));

    // An invoice moved to another customer rewrites both accounts.
    s.clock.advance(Duration::from_secs(3));
    s.invoice.edit(
        "invoices",
        &a1,
        json!({"customer_id": s.customers["Initech"].clone()}),
    );
    let r = s.rollup("2024-05-01", false).await;
    assert_eq!((r.counts.updated, r.counts.unchanged), (2, 0), "{r:?}");
    assert_eq!(s.account("Acme")["Total_Receivables"], json!(250.5));
    assert_eq!(s.account("Initech")["Total_Receivables"], json!(1000));

    // A deleted invoice leaves through the deleted feed: only its account
    // is recomputed. (Modules without one: `--full`, tested end to end.)
    s.invoice.remove("invoices", &a1);
    let r = s.rollup("2024-05-01", false).await;
    assert_eq!((r.counts.updated, r.counts.unchanged), (1, 0), "{r:?}");
    assert_eq!(
        s.account("Initech"),
        json!({"Total_Receivables": 0, "Overdue_Amount": 0, "Overdue_Invoices": 0,
               "Oldest_Overdue": null, "Last_Payment": null})
    );
}

#[tokio::test]
async fn a_parent_without_a_linked_record_waits_for_its_link() {
    let s = setup(&["Acme"]).await;
    s.invoice("Acme", json!({"balance": 10, "due_date": "2030-01-01"}));
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!((r.counts.skipped, r.counts.updated), (1, 0), "{r:?}");
    let rows =
        s.w.env
            .store
            .ledger("receivables", r.id, Default::default(), 0, 10)
            .unwrap();
    assert!(
        rows[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("no `crm.Accounts` record is linked to it through sync `accounts` yet"),
        "{rows:?}"
    );
    // The account sync links it; no invoice changed, yet the figures go.
    s.sync_accounts().await;
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!((r.counts.updated, r.counts.skipped), (1, 0), "{r:?}");
    assert_eq!(s.account("Acme")["Total_Receivables"], json!(10));
}

#[tokio::test]
async fn a_failed_write_is_retried_by_the_next_run() {
    let s = setup(&["Acme"]).await;
    s.sync_accounts().await;
    s.invoice("Acme", json!({"balance": 10, "due_date": "2030-01-01"}));
    s.crm.fail_next(Op::Update, Fault::Transient);
    let r = s.rollup("2024-04-10", false).await;
    assert!(matches!(r.status, RunStatus::Failed(_)), "{r:?}");
    assert_eq!(s.account("Acme"), json!({}));
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!(
        (r.status.clone(), r.counts.updated),
        (RunStatus::Completed, 1),
        "{r:?}"
    );
    assert_eq!(s.account("Acme")["Total_Receivables"], json!(10));
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_keeps_no_state() {
    let s = setup(&["Acme"]).await;
    s.sync_accounts().await;
    s.invoice("Acme", json!({"balance": 10, "due_date": "2030-01-01"}));
    let options = RollupOptions {
        dry_run: true,
        ..Default::default()
    };
    let r = rollup::run(&s.w.env, "receivables", &options)
        .await
        .unwrap();
    assert_eq!(
        (r.status.clone(), r.counts.updated),
        (RunStatus::DryRun, 1),
        "{r:?}"
    );
    assert_eq!(s.account("Acme"), json!({}));
    let r = s.rollup("2024-04-10", false).await;
    assert_eq!((r.counts.read, r.counts.updated), (1, 1), "{r:?}");
}

/// One step of a random history of invoices.
#[derive(Debug, Clone)]
enum Step {
    Add {
        customer: usize,
        balance: u32,
        due: u8,
    },
    Pay {
        invoice: usize,
        paid: u32,
    },
    Move {
        invoice: usize,
        customer: usize,
    },
    Void {
        invoice: usize,
    },
    Remove {
        invoice: usize,
    },
    NextDay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4usize, 0..500u32, 1..28u8).prop_map(|(customer, balance, due)| Step::Add { customer, balance, due }),
        2 => (0..20usize, 0..300u32).prop_map(|(invoice, paid)| Step::Pay { invoice, paid }),
        1 => (0..20usize, 0..4usize).prop_map(|(invoice, customer)| Step::Move { invoice, customer }),
        1 => (0..20usize).prop_map(|invoice| Step::Void { invoice }),
        1 => (0..20usize).prop_map(|invoice| Step::Remove { invoice }),
        1 => Just(Step::NextDay),
    ]
}

/// The figures computed from scratch from the invoices as they are.
fn expected(invoices: &[Map<String, Value>], customer: &str, today: &str) -> Value {
    let mine: Vec<&Map<String, Value>> = invoices
        .iter()
        .filter(|r| r["customer_id"] == customer && r["status"] != "void")
        .collect();
    let balance = |r: &Map<String, Value>| r["balance"].as_f64().unwrap();
    let overdue: Vec<_> = mine
        .iter()
        .filter(|r| balance(r) > 0.0 && r["due_date"].as_str().unwrap() < today)
        .collect();
    json!({
        "Total_Receivables": mine.iter().map(|r| balance(r)).sum::<f64>(),
        "Overdue_Amount": overdue.iter().map(|r| balance(r)).sum::<f64>(),
        "Overdue_Invoices": overdue.len(),
        "Oldest_Overdue": overdue.iter().map(|r| r["due_date"].as_str().unwrap().to_string()).min(),
        "Last_Payment": mine.iter().filter_map(|r| r.get("last_payment_date").and_then(Value::as_str)).max(),
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-6
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever happens to the invoices, incremental runs (and a full run
    /// after deletions) leave every account with the figures computed
    /// from scratch.
    #[test]
    fn incremental_figures_equal_figures_from_scratch(steps in prop::collection::vec(step(), 1..25)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let names = ["A", "B", "C", "D"];
            let s = setup(&names).await;
            s.sync_accounts().await;
            let mut ids: Vec<String> = Vec::new();
            let mut today = 10u8;
            let mut removed = false;
            for (n, st) in steps.iter().enumerate() {
                s.clock.advance(Duration::from_secs(2));
                match st {
                    Step::Add { customer, balance, due } => ids.push(s.invoice(
                        names[*customer],
                        json!({"balance": *balance as f64, "due_date": format!("2024-05-{due:02}")}),
                    )),
                    Step::Pay { invoice, paid } if !ids.is_empty() => {
                        let id = &ids[invoice % ids.len()];
                        if let Some(r) = s.invoice.get_now("invoices", id) {
                            let b = (r["balance"].as_f64().unwrap() - *paid as f64).max(0.0);
                            s.invoice.edit("invoices", id, json!({"balance": b, "last_payment_date": format!("2024-05-{today:02}")}));
                        }
                    }
                    Step::Move { invoice, customer } if !ids.is_empty() => {
                        let id = &ids[invoice % ids.len()];
                        if s.invoice.get_now("invoices", id).is_some() {
                            s.invoice.edit("invoices", id, json!({"customer_id": s.customers[names[*customer]].clone()}));
                        }
                    }
                    Step::Void { invoice } if !ids.is_empty() => {
                        let id = &ids[invoice % ids.len()];
                        if s.invoice.get_now("invoices", id).is_some() {
                            s.invoice.edit("invoices", id, json!({"status": "void"}));
                        }
                    }
                    Step::Remove { invoice } if !ids.is_empty() => {
                        let id = ids[invoice % ids.len()].clone();
                        if s.invoice.get_now("invoices", &id).is_some() {
                            s.invoice.remove("invoices", &id);
                            removed = true;
                        }
                    }
                    Step::NextDay => today += 1,
                    _ => {}
                }
                // Deletions are seen by full runs only; run one now and then.
                let full = removed && n % 3 == 0;
                if full {
                    removed = false;
                }
                let r = s.rollup(&format!("2024-05-{today:02}"), full).await;
                prop_assert_eq!(&r.status, &RunStatus::Completed, "{:?}", r);
            }
            let r = s.rollup(&format!("2024-05-{today:02}"), true).await;
            prop_assert_eq!(&r.status, &RunStatus::Completed, "{:?}", r);
            let invoices = s.invoice.records("invoices");
            for name in names {
                let want = expected(&invoices, &s.customers[name], &format!("2024-05-{today:02}"));
                let got = s.account(name);
                // An account no counted invoice ever touched was never written.
                if got == json!({}) {
                    prop_assert!(!invoices.iter().any(|r| r["customer_id"] == s.customers[name].as_str() && r["status"] != "void"));
                    continue;
                }
                prop_assert!(same(&got, &want), "{}: {} != {}", name, got, want);
            }
            Ok(())
        })?;
    }
}

/// `ferry serve` runs a rollup as a job of its own: on its schedule, and
/// without one when its child module changes (and on the safety-net poll,
/// which keeps date-dependent figures up with the calendar).
#[tokio::test]
async fn the_service_schedules_rollups() {
    let s = setup(&["Acme"]).await;
    let jobs = ferry::serve::jobs(&s.w.env.workspace);
    let job = jobs
        .iter()
        .find(|j| j.name == "receivables")
        .expect("a rollup job");
    assert!(matches!(&job.kind, ferry::serve::JobKind::Rollup(n) if n == "receivables"));
    assert_eq!(job.schedule, ferry::config::Schedule::Webhook);
    assert_eq!(
        job.modules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["invoice.invoices"]
    );
    assert_eq!(job.connections, ["invoice", "crm"]);
    assert_eq!(job.names(), ["receivables"]);
}
