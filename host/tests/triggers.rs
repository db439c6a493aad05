//! Trigger rules end to end against the sandbox, with the real plugins:
//! a won deal becomes an invoice, a lost one voids it unless a person has
//! taken the invoice over, quotes follow the deal's stage — each firing
//! exactly once, across crashes, lost answers and replays.

mod support;

use std::process::Stdio;
use std::time::Duration;

use ferry::runner::{self, WorkspaceRun};
use ferry::store::{LedgerFilter, LedgerOp, LedgerRow, RunRecord, RunStatus};
use ferry::sync::{Env, NoProgress};
use serde_json::{Value, json};
use support::bench::{BILLING, BOOKS, Bench, CRM, count};
use zoho_sandbox::faults::Fault;
use zoho_sandbox::{FaultConfig, Product, Sandbox};

const BILLING_ORG: &str = "30234695";
const BILLING_INVOICES: &str = "billing/30234695/invoices";

/// CRM Accounts → Billing customers; won deals invoiced, lost ones voided.
const CRM_BILLING: &str = r#"syncs:
  customers:
    from: crm.Accounts
    to: billing.customers
    match: { Account_Name: display_name }
    on_duplicate: overwrite
    fields:
      display_name: Account_Name
      company_name: Account_Name
      billing_address.street: Billing_Street
      billing_address.city: Billing_City
      billing_address.country: Billing_Country
      zcrm_account_id: id
triggers:
  invoice-on-won:
    on: crm.Deals
    when: { stage: won }
    create: billing.invoices
    fields:
      customer_id: { link: customers, from: Account_Name.id, missing: create }
      salesperson_name: Owner.name
      invoice_items:
        - name: Deal_Name
          description: { from: Description, default: "" }
          price: { from: Amount, type: decimal }
          quantity: { const: 1 }
      cf_crm_deal_id: id
  void-on-lost:
    on: crm.Deals
    when: { stage: lost }
    act:
      on: linked(invoice-on-won)
      action: void
      only_if: "target.status in ['draft', 'sent', 'overdue']"
"#;

async fn run_all(env: &Env) -> Vec<RunRecord> {
    runner::run(env, &WorkspaceRun::default(), &NoProgress)
        .await
        .unwrap()
}

/// The latest run of `name` among `runs`.
fn run_of<'r>(runs: &'r [RunRecord], name: &str) -> &'r RunRecord {
    runs.iter()
        .rev()
        .find(|r| r.sync == name)
        .unwrap_or_else(|| panic!("no run of {name} in {runs:?}"))
}

fn rows(env: &Env, run: &RunRecord) -> Vec<LedgerRow> {
    env.store
        .ledger(&run.sync, run.id, LedgerFilter::All, 0, 1000)
        .unwrap()
}

/// The first seeded deal at `stage`, with its fields.
async fn deal_at(env: &Env, stage: &str) -> serde_json::Map<String, Value> {
    let page = env
        .connector("crm")
        .unwrap()
        .list("Deals", None, None)
        .await
        .unwrap();
    page.records
        .into_iter()
        .find(|d| d["Stage"] == stage)
        .unwrap_or_else(|| panic!("no seeded deal at {stage}"))
}

fn set_stage(sb: &Sandbox, deal: &str, fields: Value) {
    sb.app().ui_crm_write("Deals", Some(deal), fields).unwrap();
}

async fn get(
    env: &Env,
    connection: &str,
    module: &str,
    id: &str,
) -> serde_json::Map<String, Value> {
    env.connector(connection)
        .unwrap()
        .get(module, id)
        .await
        .unwrap()
}

fn invoices_of(env: &Env, deal: &str) -> Vec<String> {
    env.store
        .links("invoice-on-won", ferry::mapping::Side::From, deal)
        .unwrap()
        .into_iter()
        .map(|l| l.other)
        .collect()
}

/// The first run only records what the deals look like (no invoices for
/// deals won long ago); then won → invoice, lost → void, won again → a
/// second invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_deal_is_invoiced_a_lost_one_voided_and_a_rewon_one_invoiced_again() {
    let sb = Sandbox::builder().seed(9).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    let env = bench.env().await;
    let invoices = count(&sb, BILLING_INVOICES);

    let first = run_all(&env).await;
    for run in &first {
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    }
    assert_eq!(
        count(&sb, BILLING_INVOICES),
        invoices,
        "a baseline fires nothing"
    );
    assert_eq!(env.store.all_links("customers").unwrap().len(), 9);

    let deal = deal_at(&env, "Qualification").await;
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let account_id = deal["Account_Name"]["id"].as_str().unwrap();
    set_stage(
        &sb,
        &deal_id,
        json!({"Stage": "Closed Won", "Amount": 12500.5, "Description": "Annual plan"}),
    );
    let won = run_all(&env).await;
    let created = rows(&env, run_of(&won, "invoice-on-won"));
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].op, LedgerOp::Create);
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);

    let invoice_id = created[0].target_id.clone().unwrap();
    let invoice = get(&env, "billing", "invoices", &invoice_id).await;
    let customer = env
        .store
        .link("customers", ferry::mapping::Side::From, account_id)
        .unwrap()
        .unwrap()
        .other;
    assert_eq!(invoice["customer_id"], json!(customer));
    assert_eq!(invoice["status"], "draft");
    assert_eq!(invoice["salesperson_name"], "Sandbox API User");
    assert_eq!(invoice["cf_crm_deal_id"], json!(deal_id));
    let item = &invoice["invoice_items"][0];
    assert_eq!(item["name"], deal["Deal_Name"]);
    assert_eq!(item["description"], "Annual plan");
    assert_eq!(item["price"].as_f64(), Some(12500.5));
    let account = get(&env, "crm", "Accounts", account_id).await;
    assert_eq!(
        invoice["billing_address"]["street"], account["Billing_Street"],
        "the invoice carries the customer's address"
    );

    set_stage(&sb, &deal_id, json!({"Stage": "Closed Lost"}));
    let lost = run_all(&env).await;
    let voided = rows(&env, run_of(&lost, "void-on-lost"));
    assert_eq!(voided.len(), 1, "{voided:?}");
    assert_eq!(voided[0].op, LedgerOp::Act);
    assert_eq!(
        get(&env, "billing", "invoices", &invoice_id).await["status"],
        "void"
    );
    assert!(rows(&env, run_of(&lost, "invoice-on-won")).is_empty());

    set_stage(&sb, &deal_id, json!({"Stage": "Closed Won"}));
    let again = run_all(&env).await;
    let second = rows(&env, run_of(&again, "invoice-on-won"));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].op, LedgerOp::Create, "{second:?}");
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 2);
    let linked = invoices_of(&env, &deal_id);
    assert_eq!(linked.len(), 2, "a deal links to every invoice it made");
    assert_eq!(
        get(&env, "billing", "invoices", &linked[0]).await["status"],
        "void"
    );

    // Nothing changed: nothing fires.
    let quiet = run_all(&env).await;
    for rule in ["invoice-on-won", "void-on-lost"] {
        assert!(rows(&env, run_of(&quiet, rule)).is_empty());
    }
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 2);
}

/// Zoho's integration invoices a won deal's Account, or its Contact when the
/// deal has no Account: `first_of` picks the Contact's customer, which a
/// sync of Contacts without an Account made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_deal_with_only_a_contact_is_invoiced_to_the_contacts_customer() {
    let workspace = CRM_BILLING
        .replace(
            "triggers:\n",
            r#"  contact-customers:
    from: crm.Contacts
    to: billing.customers
    view: "has(record.Account_Name) ? record.Account_Name == null : true"
    fields:
      display_name: Full_Name
      email: Email
triggers:
"#,
        )
        .replace(
            "      customer_id: { link: customers, from: Account_Name.id, missing: create }\n",
            r#"      customer_id:
        required: true
        first_of:
          - { link: customers, from: Account_Name.id, missing: create }
          - { link: contact-customers, from: Contact_Name.id, missing: create }
"#,
        );
    assert!(workspace.contains("contact-customers:") && workspace.contains("first_of"));
    let sb = Sandbox::builder().seed(4).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], &workspace);
    let env = bench.env().await;
    let invoices = count(&sb, BILLING_INVOICES);
    for run in run_all(&env).await {
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    }
    assert!(
        env.store.all_links("contact-customers").unwrap().is_empty(),
        "seeded contacts all have an account"
    );

    let created = sb
        .app()
        .ui_crm_write(
            "Contacts",
            None,
            json!({"First_Name": "Ada", "Last_Name": "Lovelace", "Full_Name": "Ada Lovelace", "Email": "ada@example.com"}),
        )
        .unwrap();
    let contact_id = created["details"]["id"].as_str().unwrap().to_string();
    let deal = deal_at(&env, "Qualification").await;
    let deal_id = deal["id"].as_str().unwrap().to_string();
    set_stage(
        &sb,
        &deal_id,
        json!({
            "Stage": "Closed Won",
            "Account_Name": null,
            "Contact_Name": {"id": contact_id, "name": "Ada Lovelace"},
            "Amount": 800.0,
        }),
    );
    let won = run_all(&env).await;
    let fired = rows(&env, run_of(&won, "invoice-on-won"));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].op, LedgerOp::Create, "{fired:?}");
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);
    let customer = env
        .store
        .link("contact-customers", ferry::mapping::Side::From, &contact_id)
        .unwrap()
        .expect("the contact became a customer")
        .other;
    let invoice = get(
        &env,
        "billing",
        "invoices",
        fired[0].target_id.as_deref().unwrap(),
    )
    .await;
    assert_eq!(invoice["customer_id"], json!(customer));
    assert_eq!(
        get(&env, "billing", "customers", &customer).await["display_name"],
        "Ada Lovelace"
    );
}

/// `missing: create` asks the parent's sync for the customer; when that
/// sync will not take the account (its view excludes it), the deal's
/// failure says so instead of asking for the parent to be created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_its_sync_refuses_is_named_in_the_failure() {
    let workspace = CRM_BILLING.replace(
        "    on_duplicate: overwrite\n",
        "    on_duplicate: overwrite\n    view: \"record.Account_Name == 'no such account'\"\n",
    );
    assert!(workspace.contains("no such account"));
    let sb = Sandbox::builder().seed(3).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], &workspace);
    let env = bench.env().await;
    let invoices = count(&sb, BILLING_INVOICES);
    run_all(&env).await;
    let deal = deal_at(&env, "Qualification").await;
    let deal_id = deal["id"].as_str().unwrap().to_string();
    let account_id = deal["Account_Name"]["id"].as_str().unwrap().to_string();
    set_stage(&sb, &deal_id, json!({"Stage": "Closed Won"}));
    let won = run_all(&env).await;
    let fired = rows(&env, run_of(&won, "invoice-on-won"));
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].op, LedgerOp::Fail);
    let reason = fired[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "its parent `{account_id}` was not created through sync `customers`: the sync's view `record.Account_Name == 'no such account'` excludes it (Account_Name = "
        )),
        "{reason}"
    );
    assert_eq!(count(&sb, BILLING_INVOICES), invoices);
}

/// Zoho's rule: once a person changes the invoice's status (sends it),
/// deal changes no longer touch it, and the ledger says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_a_person_sent_is_left_alone_when_the_deal_is_lost() {
    let sb = Sandbox::builder().seed(9).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    let env = bench.env().await;
    run_all(&env).await;
    let deal_id = deal_at(&env, "Needs Analysis").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    set_stage(&sb, &deal_id, json!({"Stage": "Closed Won"}));
    run_all(&env).await;
    let invoice_id = invoices_of(&env, &deal_id).remove(0);
    sb.app()
        .ui_finance_act(
            Product::Billing,
            BILLING_ORG,
            "invoices",
            &invoice_id,
            "sent",
        )
        .unwrap();

    set_stage(&sb, &deal_id, json!({"Stage": "Closed Lost"}));
    let lost = run_all(&env).await;
    let refused = rows(&env, run_of(&lost, "void-on-lost"));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].op, LedgerOp::Skip);
    let reason = refused[0].reason.as_deref().unwrap();
    assert!(reason.contains("manual_guard"), "{reason}");
    assert_eq!(
        get(&env, "billing", "invoices", &invoice_id).await["status"],
        "sent"
    );
}

/// A create whose answer is lost (the body cut off) is settled by looking
/// the invoice up on the next run: linked, never created twice. Replaying
/// the change — full re-reads, the same stage written again — fires
/// nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_and_replays_still_make_exactly_one_invoice() {
    let sb = Sandbox::builder().seed(9).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    let env = bench.env().await;
    run_all(&env).await;
    let invoices = count(&sb, BILLING_INVOICES);
    let deal_id = deal_at(&env, "Value Proposition").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    set_stage(&sb, &deal_id, json!({"Stage": "Closed Won"}));
    sb.faults(FaultConfig {
        only: "POST /billing/v1/invoices".into(),
        next: vec![Fault::Truncate],
        ..Default::default()
    });
    let cut = run_all(&env).await;
    sb.faults(FaultConfig::default());
    assert_eq!(
        count(&sb, BILLING_INVOICES),
        invoices + 1,
        "the write happened"
    );
    assert!(
        matches!(run_of(&cut, "invoice-on-won").status, RunStatus::Failed(_)),
        "an unknown outcome leaves the change for the next run"
    );
    assert!(invoices_of(&env, &deal_id).is_empty());

    let settled = run_all(&env).await;
    let row = rows(&env, run_of(&settled, "invoice-on-won"));
    assert_eq!(row.len(), 1, "{row:?}");
    assert_eq!(row[0].op, LedgerOp::Link);
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);
    assert_eq!(invoices_of(&env, &deal_id).len(), 1);

    for _ in 0..2 {
        runner::run(
            &env,
            &WorkspaceRun {
                full: true,
                ..Default::default()
            },
            &NoProgress,
        )
        .await
        .unwrap();
    }
    set_stage(
        &sb,
        &deal_id,
        json!({"Stage": "Closed Won", "Description": "same stage again"}),
    );
    run_all(&env).await;
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);
    assert_eq!(invoices_of(&env, &deal_id).len(), 1);
}

/// `SIGKILL` between the intent and the commit: the invoice was created
/// but Ferry never heard. The next run finds it and links it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_between_intent_and_commit_creates_no_second_invoice() {
    let sb = Sandbox::builder().seed(9).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(bench.ferry(&["run"]).output().unwrap());
    let invoices = count(&sb, BILLING_INVOICES);
    let deal_id = {
        let env = bench.env().await;
        deal_at(&env, "Id. Decision Makers").await["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    set_stage(&sb, &deal_id, json!({"Stage": "Closed Won"}));
    // The invoice is written; its answer never comes.
    sb.faults(FaultConfig {
        only: "POST /billing/v1/invoices".into(),
        next: vec![Fault::Hang],
        ..Default::default()
    });
    let mut child = bench
        .ferry(&["triggers", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count(&sb, BILLING_INVOICES) == invoices {
        assert!(
            std::time::Instant::now() < deadline,
            "no invoice was written"
        );
        assert!(child.try_wait().unwrap().is_none(), "ferry ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    sb.faults(FaultConfig::default());

    let out = ok(bench.ferry(&["triggers", "run"]).output().unwrap());
    assert!(out.contains("link"), "{out}");
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);
    ok(bench
        .ferry(&["triggers", "run", "--full"])
        .output()
        .unwrap());
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 1);
    let listed = ok(bench
        .ferry(&["links", "list", "invoice-on-won", "--id", &deal_id])
        .output()
        .unwrap());
    assert!(listed.contains("trigger `invoice-on-won`"), "{listed}");
    // A rule's link is how it finds its invoice: not removable by hand.
    let to = listed.split_whitespace().nth(2).unwrap().to_string();
    let removed = bench
        .ferry(&["links", "remove", "invoice-on-won", &deal_id, &to])
        .output()
        .unwrap();
    assert!(!removed.status.success());
    assert!(String::from_utf8_lossy(&removed.stderr).contains("cannot be removed by hand"));
}

/// The statuses of the invoices linked to `deal`, opening the state
/// between two `ferry` processes.
async fn statuses(bench: &Bench, deal: &str) -> Vec<String> {
    let env = bench.env().await;
    let mut statuses = Vec::new();
    for invoice in invoices_of(&env, deal) {
        let status = get(&env, "billing", "invoices", &invoice).await["status"].clone();
        statuses.push(status.as_str().unwrap_or_default().to_string());
    }
    statuses
}

/// Through the `ferry` binary: a rule paused while a deal is won and
/// lost judges, once resumed, each change it missed, in order: the lost
/// deal's invoice is voided. A deal won and lost while invoicing was
/// paused gets its invoice late, and the voiding rule (which judged the
/// loss before that invoice existed) voids it: no live draft on a lost
/// deal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_rules_judge_the_changes_they_missed_once_resumed() {
    let sb = Sandbox::builder().seed(9).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    let ferry = |args: &[&str]| bench.ferry_ok(args);
    ferry(&["run"]);
    let invoices = count(&sb, BILLING_INVOICES);
    let (voided_late, invoiced_late) = {
        let env = bench.env().await;
        let id = |d: serde_json::Map<String, Value>| d["id"].as_str().unwrap().to_string();
        (
            id(deal_at(&env, "Qualification").await),
            id(deal_at(&env, "Id. Decision Makers").await),
        )
    };

    assert!(ferry(&["triggers", "pause", "void-on-lost"]).contains("paused"));
    set_stage(&sb, &voided_late, json!({"Stage": "Closed Won"}));
    ferry(&["triggers", "run"]);
    set_stage(&sb, &voided_late, json!({"Stage": "Closed Lost"}));
    ferry(&["triggers", "run"]);
    assert_eq!(statuses(&bench, &voided_late).await, ["draft"]);
    ferry(&["triggers", "resume", "void-on-lost"]);
    let out = ferry(&["triggers", "run"]);
    assert!(out.contains("void-on-lost"), "{out}");
    assert_eq!(statuses(&bench, &voided_late).await, ["void"]);

    ferry(&["triggers", "pause", "invoice-on-won"]);
    set_stage(&sb, &invoiced_late, json!({"Stage": "Closed Won"}));
    ferry(&["triggers", "run"]);
    set_stage(&sb, &invoiced_late, json!({"Stage": "Closed Lost"}));
    ferry(&["run"]);
    assert!(statuses(&bench, &invoiced_late).await.is_empty());
    ferry(&["triggers", "resume", "invoice-on-won"]);
    ferry(&["triggers", "run"]);
    assert_eq!(statuses(&bench, &invoiced_late).await, ["void"]);
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 2);

    // Nothing is left to judge: one more run writes nothing.
    let out = ferry(&["triggers", "run"]);
    assert!(!out.contains("create") && !out.contains("act "), "{out}");
    assert_eq!(count(&sb, BILLING_INVOICES), invoices + 2);
    let refused = bench
        .ferry(&["triggers", "pause", "customers"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is a sync"));
}

/// CRM → Books or Invoice estimates: a deal reaching the quote stage gets
/// an estimate; winning accepts it, losing declines it (each sent first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn estimates_follow_the_deal_stage_in_books_and_invoice() {
    for (connection, org) in [
        (BOOKS, "10234695"),
        (("invoice", "zoho-invoice", Some("20234695")), "20234695"),
    ] {
        let name = connection.0;
        let body = format!(
            r#"syncs:
  customers:
    from: crm.Accounts
    to: {name}.contacts
    match: {{ Account_Name: contact_name }}
    on_duplicate: overwrite
    fields:
      contact_name: Account_Name
      company_name: Account_Name
triggers:
  estimate-on-quote:
    on: crm.Deals
    when: {{ field: Stage, becomes: Proposal/Price Quote }}
    create: {name}.estimates
    fields:
      customer_id: {{ link: customers, from: Account_Name.id, missing: create }}
      reference_number: Deal_Name
      line_items:
        - name: Deal_Name
          rate: {{ from: Amount, type: decimal }}
          quantity: {{ const: 1 }}
      cf_crm_deal_id: id
  accept-on-won:
    on: crm.Deals
    when: {{ stage: won }}
    act: {{ on: linked(estimate-on-quote), action: [mark-sent, accept] }}
  decline-on-lost:
    on: crm.Deals
    when: {{ stage: lost }}
    act: {{ on: linked(estimate-on-quote), action: [mark-sent, decline] }}
"#
        );
        let sb = Sandbox::builder().seed(9).start().await.unwrap();
        let bench = Bench::new(&sb, &[CRM, connection], &body);
        let env = bench.env().await;
        run_all(&env).await;
        let estimates = count(&sb, &format!("{name}/{org}/estimates"));
        let winner = deal_at(&env, "Qualification").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let loser = deal_at(&env, "Needs Analysis").await["id"]
            .as_str()
            .unwrap()
            .to_string();
        for deal in [&winner, &loser] {
            set_stage(&sb, deal, json!({"Stage": "Proposal/Price Quote"}));
        }
        let quoted = run_all(&env).await;
        assert_eq!(
            rows(&env, run_of(&quoted, "estimate-on-quote")).len(),
            2,
            "{name}"
        );
        assert_eq!(
            count(&sb, &format!("{name}/{org}/estimates")),
            estimates + 2
        );
        let estimate_of = |deal: &str| {
            env.store
                .links("estimate-on-quote", ferry::mapping::Side::From, deal)
                .unwrap()
                .remove(0)
                .other
        };
        let (won_estimate, lost_estimate) = (estimate_of(&winner), estimate_of(&loser));
        assert_eq!(
            get(&env, name, "estimates", &won_estimate).await["status"],
            "draft"
        );

        set_stage(&sb, &winner, json!({"Stage": "Closed Won"}));
        set_stage(&sb, &loser, json!({"Stage": "Closed Lost"}));
        let closed = run_all(&env).await;
        assert_eq!(rows(&env, run_of(&closed, "accept-on-won")).len(), 1);
        assert_eq!(rows(&env, run_of(&closed, "decline-on-lost")).len(), 1);
        assert_eq!(
            get(&env, name, "estimates", &won_estimate).await["status"],
            "accepted",
            "{name}"
        );
        assert_eq!(
            get(&env, name, "estimates", &lost_estimate).await["status"],
            "declined",
            "{name}"
        );
    }
}

/// A `ferry run` with nothing to do costs one list call per module it
/// reads (the sync's Accounts; the Deals both rules watch, read once for
/// the two) and nothing else but token refreshes: the connections'
/// descriptions, fields and organisations come from the state, and the
/// sandbox's counters, read over its control API, say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_nothing_to_do_lists_each_module_once_and_calls_nothing_else() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let bench = Bench::new(&sb, &[CRM, BILLING], CRM_BILLING);
    // `max_age`: how old a kept description (and the metadata kept with
    // it) may be.
    let run_with = |max_age: &str| {
        let out = tokio::task::block_in_place(|| {
            bench
                .ferry(&["run"])
                .env("FERRY_SCHEMA_MAX_AGE", max_age)
                .output()
                .unwrap()
        });
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let requests = || async {
        let url = format!("{}/__sandbox/requests", sb.base_url());
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        let counts: std::collections::BTreeMap<String, u64> =
            serde_json::from_value(body["requests"].clone()).unwrap();
        counts
    };
    let run = || run_with("24h");
    // The calls other than token refreshes between two readings.
    let since = |before: &std::collections::BTreeMap<String, u64>,
                 after: &std::collections::BTreeMap<String, u64>| {
        after
            .iter()
            .map(|(route, n)| (route.clone(), n - before.get(route).copied().unwrap_or(0)))
            .filter(|(route, n)| *n > 0 && !route.contains("/oauth/"))
            .collect::<std::collections::BTreeMap<String, u64>>()
    };
    run();
    let before = requests().await;
    run();
    let after = requests().await;
    assert_eq!(
        since(&before, &after),
        [
            ("GET /crm/v8/Accounts".to_string(), 1),
            ("GET /crm/v8/Deals".to_string(), 1)
        ]
        .into(),
        "every call of the second run: {after:?}"
    );
    // Past the schema's maximum age the connections are described again
    // and their metadata asked for again, not answered from the state.
    run_with("0s");
    let stale = since(&after, &requests().await);
    assert!(
        stale
            .get("GET /crm/v8/settings/fields")
            .is_some_and(|n| *n > 0)
            && stale.contains_key("GET /crm/v8/org"),
        "a run past the maximum age: {stale:?}"
    );
    // A workspace edited since the last describe (its settings decide what
    // a connection describes) is described again, within the age too.
    run();
    let kept = requests().await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    let yaml = std::fs::read_to_string(bench.workspace()).unwrap();
    std::fs::write(bench.workspace(), format!("{yaml}\n# edited\n")).unwrap();
    run();
    let edited = since(&kept, &requests().await);
    assert!(
        edited
            .get("GET /crm/v8/settings/fields")
            .is_some_and(|n| *n > 0),
        "a run after an edit: {edited:?}"
    );
}
