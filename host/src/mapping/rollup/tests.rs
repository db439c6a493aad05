use serde_json::json;

use super::*;
use crate::config::{LoadOptions, SecretMode};

const WS: &str = r#"
connections:
  invoice: { connector: zoho-invoice, sandbox: "http://127.0.0.1:1" }
  crm: { connector: zoho-crm, sandbox: "http://127.0.0.1:1" }
syncs:
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
    view: "record.status != 'draft' && record.status != 'void'"
    fields:
      Total_Receivables: { sum: balance }
      Overdue_Amount: { sum: balance, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Overdue_Invoices: { count: true, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Oldest_Overdue: { min: due_date, filter: "number(record.balance) > 0.0 && record.due_date < today" }
      Last_Payment: { max: last_payment_date }
      Paid_Invoices: { count: last_payment_date }
      Last_Status: { latest: status, by: date, default: none }
"#;

fn plan() -> RollupPlan {
    let ws = Workspace::load_str(
        "ws.yaml",
        WS,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)));
    RollupPlan::compile(&ws, "receivables").unwrap()
}

fn at(day: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&format!("{day}T09:00:00+00:00")).unwrap()
}

fn invoice(id: &str, v: Value) -> (String, Record) {
    let mut r = v.as_object().unwrap().clone();
    r.insert("invoice_id".into(), id.into());
    (id.to_string(), r)
}

#[test]
fn a_child_gives_its_parent_only_what_the_figures_read() {
    let p = plan();
    let (id, r) = invoice(
        "1",
        json!({"customer_id": "C1", "status": "sent", "balance": "1,000.00", "due_date": "2024-03-31",
               "date": "2024-03-01", "notes": "not read", "last_payment_date": ""}),
    );
    let Contribution::To { parent, values } = p.contribution(&id, &r, at("2024-05-01")).unwrap()
    else {
        panic!("counted")
    };
    assert_eq!(parent, "C1");
    assert_eq!(
        values,
        json!({"balance": "1,000.00", "due_date": "2024-03-31", "date": "2024-03-01",
               "status": "sent", "last_payment_date": ""})
    );
    // (record, why it counts towards no parent)
    let cases = [
        (
            json!({"customer_id": "C1", "status": "draft"}),
            "the view leaves it out",
        ),
        (
            json!({"customer_id": "C1", "status": "void"}),
            "the view leaves it out",
        ),
        (
            json!({"status": "sent"}),
            "it has no parent in `customer_id`",
        ),
        (
            json!({"status": "sent", "customer_id": ""}),
            "it has no parent in `customer_id`",
        ),
    ];
    for (record, why) in cases {
        let (id, r) = invoice("2", record.clone());
        assert_eq!(
            p.contribution(&id, &r, at("2024-05-01")).unwrap(),
            Contribution::Nothing(why.into()),
            "{record}"
        );
    }
}

#[test]
fn figures_follow_the_children_and_the_date() {
    let p = plan();
    let children = [
        (
            "1",
            json!({"balance": "1,000.00", "due_date": "2024-03-31", "date": "2024-03-01", "status": "overdue", "last_payment_date": "2024-03-20"}),
        ),
        (
            "2",
            json!({"balance": 250.5, "due_date": "2024-04-20", "date": "2024-04-01", "status": "sent"}),
        ),
        (
            "3",
            json!({"balance": 0, "due_date": "2024-02-01", "date": "2024-01-15", "status": "paid", "last_payment_date": "2024-02-01"}),
        ),
        (
            "4",
            json!({"balance": "0.1", "due_date": "2024-06-01", "date": "2024-05-02", "status": "sent"}),
        ),
        (
            "5",
            json!({"balance": "0.2", "due_date": "2024-06-01", "date": "2024-05-02", "status": "viewed"}),
        ),
    ];
    let figures = |day: &str, ids: &[&str]| {
        Value::Object(
            p.figures(
                children
                    .iter()
                    .filter(|(id, _)| ids.contains(id))
                    .map(|(id, v)| (*id, v)),
                at(day),
            )
            .unwrap(),
        )
    };
    // (day, children, figures)
    let table = [
        (
            "2024-04-10",
            vec!["1", "2", "3"],
            json!({"Total_Receivables": 1250.5, "Overdue_Amount": 1000, "Overdue_Invoices": 1,
                   "Oldest_Overdue": "2024-03-31", "Last_Payment": "2024-03-20", "Paid_Invoices": 2,
                   "Last_Status": "sent"}),
        ),
        // The date alone moves invoice 2 past its due date.
        (
            "2024-05-01",
            vec!["1", "2", "3"],
            json!({"Total_Receivables": 1250.5, "Overdue_Amount": 1250.5, "Overdue_Invoices": 2,
                   "Oldest_Overdue": "2024-03-31", "Last_Payment": "2024-03-20", "Paid_Invoices": 2,
                   "Last_Status": "sent"}),
        ),
        // Binary fractions add up to what people expect; the first of two
        // equally late children names the latest.
        (
            "2024-05-03",
            vec!["4", "5"],
            json!({"Total_Receivables": 0.3, "Overdue_Amount": 0, "Overdue_Invoices": 0,
                   "Oldest_Overdue": null, "Last_Payment": null, "Paid_Invoices": 0,
                   "Last_Status": "sent"}),
        ),
        // No children: zeros, nulls and defaults.
        (
            "2024-05-03",
            vec![],
            json!({"Total_Receivables": 0, "Overdue_Amount": 0, "Overdue_Invoices": 0,
                   "Oldest_Overdue": null, "Last_Payment": null, "Paid_Invoices": 0,
                   "Last_Status": "none"}),
        ),
    ];
    for (day, ids, want) in table {
        assert_eq!(figures(day, &ids), want, "{day} {ids:?}");
    }
}

#[test]
fn a_child_that_breaks_a_figure_names_it() {
    let p = plan();
    let bad = json!({"balance": "a lot", "due_date": "2024-03-31", "date": "2024-03-01"});
    let err = p.figures([("9", &bad)], at("2024-05-01")).unwrap_err();
    assert_eq!(
        err,
        RollupError::Figure {
            field: "Total_Receivables".into(),
            child: "9".into(),
            message: "`balance` is \"a lot\", not a number".into()
        }
    );
    // A filter reading a field the child lacks fails with CEL's reason.
    let missing = json!({"due_date": "2024-03-31"});
    let err = p.figures([("8", &missing)], at("2024-05-01")).unwrap_err();
    assert!(
        matches!(&err, RollupError::Figure { field, child, .. } if field == "Overdue_Amount" && child == "8"),
        "{err}"
    );
}

#[test]
fn only_clock_dependent_rollups_are_recomputed_daily() {
    assert!(plan().uses_time());
    let ws = WS.replace("record.due_date < today", "record.due_date < '2024-01-01'");
    let ws = Workspace::load_str(
        "ws.yaml",
        &ws,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap();
    assert!(!RollupPlan::compile(&ws, "receivables").unwrap().uses_time());
}
