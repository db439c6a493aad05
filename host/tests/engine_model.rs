//! Model-based test of the sync engine: random histories against fake
//! vendors — people creating and editing records on both sides of a
//! two-way sync (same-second edits included, one-second clocks), runs in
//! between, and faults: answers lost after the write happened, passing
//! failures, rate limits. After the history, the workspace is run until
//! quiet, and then:
//!
//! - every contact has exactly one partner (no duplicate, none missing);
//! - the two sides agree (no edit silently dropped, no conflict stuck);
//! - one more run writes nothing.
//!
//! `PROPTEST_CASES` sets the number of histories (default 2000); a failing
//! history is shrunk, printed, and saved under `proptest-regressions/` to
//! be replayed first on the next run.
//!
//! Billing's search lags its writes by 0–3 calls, so an interrupted create
//! must not be settled by a search alone.
//!
//! Not yet modelled (see the engine-core issue): crashes at every await
//! point, duplicate names, deletes, trigger rules.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use ferry::connector::fake::{FakeClock, FakeModule, FakeVendor, Fault, Op};
use ferry::store::RunStatus;
use ferry::sync::{self, NoProgress, RunOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
enum Step {
    /// A person adds a contact in Books.
    NewContact,
    /// A person edits a contact's phone in Books (`pick` chooses which).
    EditBooks { pick: usize, phone: u8 },
    /// A person edits a customer's phone in Billing.
    EditBilling { pick: usize, phone: u8 },
    /// Time passes (0 keeps the second: the next edit shares its time).
    Tick(u8),
    /// The next such call fails so.
    Fault(Side, Op, FaultKind),
    /// `ferry sync run`.
    Run,
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Books,
    Billing,
}

#[derive(Debug, Clone, Copy)]
enum FaultKind {
    LostAnswer,
    Transient,
    RateLimited,
}

fn step() -> impl Strategy<Value = Step> {
    let side = prop_oneof![Just(Side::Books), Just(Side::Billing)];
    let op = prop_oneof![Just(Op::Create), Just(Op::Update), Just(Op::Get)];
    let kind = prop_oneof![
        Just(FaultKind::LostAnswer),
        Just(FaultKind::Transient),
        Just(FaultKind::RateLimited)
    ];
    prop_oneof![
        2 => Just(Step::NewContact),
        3 => (any::<usize>(), 0u8..4).prop_map(|(pick, phone)| Step::EditBooks { pick, phone }),
        3 => (any::<usize>(), 0u8..4).prop_map(|(pick, phone)| Step::EditBilling { pick, phone }),
        2 => (0u8..3).prop_map(Step::Tick),
        1 => (side, op, kind).prop_map(|(s, o, k)| Step::Fault(s, o, k)),
        3 => Just(Step::Run),
    ]
}

const SYNC: &str = r#"syncs:
  customers:
    from: books.contacts
    to: billing.customers
    direction: two-way
    conflict: POLICY
    match: { contact_name: display_name }
    fields:
      display_name: contact_name
      phone: phone
"#;

struct World {
    world: support::fakes::World,
    clock: FakeClock,
    books: FakeVendor,
    billing: FakeVendor,
}

async fn world(policy: &str, lag: u64) -> World {
    let clock = FakeClock::at(Utc::now().trunc_subsecs(0));
    let books = FakeVendor::new("books").with_clock(clock.clone()).module(
        FakeModule::new("contacts", "contact_id")
            .modified("last_modified_time")
            .fields(&["contact_name", "phone", "website"])
            // As Books list rows leave fields out: the engine must read the
            // record in full, or trust its modified time.
            .list_omits(&["phone"])
            .page_size(3),
    );
    // Billing's search lags its writes by `lag` calls, as CRM's does.
    let billing = FakeVendor::new("billing")
        .with_clock(clock.clone())
        .search_lag(lag)
        .module(
            FakeModule::new("customers", "customer_id")
                .modified("last_modified_time")
                .fields(&["display_name", "phone"])
                .page_size(3),
        );
    let world =
        support::fakes::world(&SYNC.replace("POLICY", policy), &[&books, &billing], vec![]).await;
    World {
        world,
        clock,
        books,
        billing,
    }
}

fn text(r: &serde_json::Map<String, Value>, f: &str) -> String {
    r.get(f)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Play `history`, run until quiet, and check the properties.
async fn play(policy: &str, lag: u64, history: &[Step]) -> Result<(), TestCaseError> {
    let w = world(policy, lag).await;
    let mut contacts = 0;
    for step in history {
        match step {
            Step::NewContact => {
                contacts += 1;
                w.books.insert(
                    "contacts",
                    json!({"contact_name": format!("C{contacts}"), "phone": "new", "website": "w"}),
                );
            }
            Step::EditBooks { pick, phone } => {
                let all = w.books.records("contacts");
                if !all.is_empty() {
                    let id = text(&all[pick % all.len()], "contact_id");
                    w.books
                        .edit("contacts", &id, json!({"phone": format!("k{phone}")}));
                }
            }
            Step::EditBilling { pick, phone } => {
                let all = w.billing.records("customers");
                if !all.is_empty() {
                    let id = text(&all[pick % all.len()], "customer_id");
                    w.billing
                        .edit("customers", &id, json!({"phone": format!("b{phone}")}));
                }
            }
            Step::Tick(secs) => w.clock.advance(Duration::from_secs(u64::from(*secs))),
            Step::Fault(side, op, kind) => {
                let fault = match kind {
                    FaultKind::LostAnswer => Fault::LostAnswer,
                    FaultKind::Transient => Fault::Transient,
                    FaultKind::RateLimited => Fault::RateLimited {
                        retry_after_ms: Some(0),
                    },
                };
                match side {
                    Side::Books => w.books.fail_next(*op, fault),
                    Side::Billing => w.billing.fail_next(*op, fault),
                }
            }
            Step::Run => {
                // A failed run is allowed mid-history; it must not lose
                // anything, which the end state shows.
                let _ = sync::run(
                    &w.world.env,
                    "customers",
                    &RunOptions::default(),
                    &NoProgress,
                )
                .await;
            }
        }
    }
    // Quiet: time passes, faults run out, runs until one writes nothing.
    let mut quiet = false;
    for _ in 0..8 {
        w.clock.advance(Duration::from_secs(3));
        let run = sync::run(
            &w.world.env,
            "customers",
            &RunOptions::default(),
            &NoProgress,
        )
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        if run.status == RunStatus::Completed
            && run.counts.added == 0
            && run.counts.updated == 0
            && run.counts.conflicts == 0
        {
            quiet = true;
            break;
        }
    }
    let books: BTreeMap<String, String> = w
        .books
        .records("contacts")
        .iter()
        .map(|r| (text(r, "contact_name"), text(r, "phone")))
        .collect();
    let mut billing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in w.billing.records("customers") {
        billing
            .entry(text(&r, "display_name"))
            .or_default()
            .push(text(&r, "phone"));
    }
    for (name, phones) in &billing {
        prop_assert_eq!(
            phones.len(),
            1,
            "duplicate customers named {}: {:?}",
            name,
            billing
        );
    }
    let names = |m: Vec<&String>| m.into_iter().cloned().collect::<Vec<_>>();
    prop_assert_eq!(
        names(books.keys().collect()),
        names(billing.keys().collect()),
        "every contact has one partner"
    );
    for (name, phone) in &books {
        prop_assert_eq!(
            Some(phone),
            billing.get(name).and_then(|p| p.first()),
            "the sides of {} disagree: books {:?}, billing {:?}",
            name,
            books,
            billing
        );
    }
    prop_assert!(quiet, "runs never became quiet");
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2000,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "tests/engine_model.proptest-regressions",
            ),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn two_way_histories_converge_without_duplicates(
        policy in prop_oneof![Just("from"), Just("to"), Just("newest")],
        lag in 0u64..4,
        history in proptest::collection::vec(step(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(play(policy, lag, &history))?;
    }
}
