//! Mapping plans and trigger conditions, applied to records.

use std::path::Path;

use ferry::config::{EmptyCatalog, LoadOptions, SecretMode, StaticCatalog, Workspace};
use ferry::mapping::{
    Context, LinkTable, NoLinks, Plan, Side, TriggerPlan, Way, expr::parse_datetime,
};
use serde_json::json;

const WS: &str = r#"
connections:
  crm: { connector: zoho-crm, data_center: com }
  books: { connector: zoho-books, data_center: com }
syncs:
  contacts:
    from: crm.Accounts
    to: books.contacts
    direction: two-way
    fields:
      contact_name: Account_Name
      customer_sub_type: { from: Customer_Type, map: { Business: business, Individual: individual } }
      credit_limit: Annual_Revenue
      custom_fields[label=Segment].value: { from: Segment, direction: one-way }
      notes: { from: Description, required: true, direction: one-way }
  deals:
    from: crm.Deals
    to: books.invoices
    fields:
      customer_id: { link: contacts, from: Account_Name.id, missing: create }
      date: Closing_Date
      line_items: { each: Lines, filter: "record.qty > 0", fields: { name: product, quantity: qty, rate: { from: price, type: decimal }, description: { expr: "parent.Deal_Name + ' / ' + record.product" } } }
      reference_number: { expr: "record.Deal_Name + '-' + string(record.Amount)" }
      custom_fields[label=CRM Deal].value: id
triggers:
  won:
    on: crm.Deals
    when: "record.Stage == 'Closed Won' && previous.Stage != 'Closed Won'"
    guards: ["record.Amount >= 100.0"]
    create: books.invoices
    fields: { customer_id: { link: contacts, from: Account_Name.id, missing: null } }
"#;

/// A workspace from YAML text; its problems, rendered, fail the test.
fn load(yaml: &str) -> Workspace {
    Workspace::load_str(
        "ws.yaml",
        yaml,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render(false)))
}

fn setup() -> (Workspace, StaticCatalog) {
    let ws = load(WS);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/describe");
    let (cat, problems) = StaticCatalog::from_describe_dir(&dir, &ws);
    assert!(problems.is_empty());
    (ws, cat)
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    parse_datetime("2024-05-01T00:00:00+00:00").unwrap()
}

#[test]
fn maps_values_custom_fields_and_coerces_types() {
    let (ws, cat) = setup();
    let plan = Plan::compile(&ws, "contacts", &cat).unwrap();
    let links = NoLinks;
    let ctx = Context::new(&links).at(now());
    let out = plan
        .apply(&json!({"Account_Name": "Acme", "Customer_Type": "Individual", "Annual_Revenue": "12,000", "Segment": "smb", "Description": "vip"}), &ctx)
        .unwrap();
    assert_eq!(
        out,
        json!({"contact_name": "Acme", "customer_sub_type": "individual", "credit_limit": 12000, "custom_fields": [{"label": "Segment", "value": "smb"}], "notes": "vip"})
    );
    // Reverse: value map inverted, one-way fields left out.
    let back = Plan::compile_way(&ws, "contacts", Way::Reverse, &cat).unwrap();
    let out = back.apply(&json!({"contact_name": "Acme Ltd", "customer_sub_type": "business", "credit_limit": 5}), &ctx).unwrap();
    assert_eq!(
        out,
        json!({"Account_Name": "Acme Ltd", "Customer_Type": "Business", "Annual_Revenue": 5})
    );
}

#[test]
fn per_record_failures_are_values() {
    let (ws, cat) = setup();
    let plan = Plan::compile(&ws, "contacts", &cat).unwrap();
    let links = NoLinks;
    let ctx = Context::new(&links).at(now());
    let e = plan
        .apply(
            &json!({"Account_Name": "A", "Description": "x", "Customer_Type": "Partner"}),
            &ctx,
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("customer_sub_type"));
    assert!(e.reason.contains("no entry in the value map"), "{e}");
    let e = plan.apply(&json!({"Account_Name": "A"}), &ctx).unwrap_err();
    assert_eq!(
        e.to_string(),
        "field `notes`: required, but the record has no value for it"
    );
    let e = plan
        .apply(
            &json!({"Account_Name": "A", "Description": "x", "Annual_Revenue": "lots"}),
            &ctx,
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("`credit_limit`: \"lots\" is not a number"),
        "{e}"
    );
}

#[test]
fn lookups_lists_and_expressions() {
    let (ws, cat) = setup();
    let plan = Plan::compile(&ws, "deals", &cat).unwrap();
    let mut links = LinkTable::default();
    links.insert("contacts", "acc-1", "bk-9");
    let ctx = Context::new(&links).at(now());
    let deal = json!({
        "id": "d-1", "Deal_Name": "Big", "Amount": 10, "Closing_Date": "2024-05-02T10:00:00+00:00",
        "Account_Name": {"name": "Acme", "id": "acc-1"},
        "Lines": [{"product": "Seat", "qty": 3, "price": "9.50"}, {"product": "Free", "qty": 0, "price": "0"}]
    });
    let out = plan.apply(&deal, &ctx).unwrap();
    assert_eq!(
        out,
        json!({
            "customer_id": "bk-9",
            "date": "2024-05-02",
            "line_items": [{"name": "Seat", "quantity": 3, "rate": 9.5, "description": "Big / Seat"}],
            "reference_number": "Big-10",
            "custom_fields": [{"label": "CRM Deal", "value": "d-1"}]
        })
    );
    // An unlinked account asks for the parent to be created first.
    let e = plan
        .apply(
            &json!({"Account_Name": {"id": "acc-2"}, "Deal_Name": "X", "Amount": 1}),
            &ctx,
        )
        .unwrap_err();
    let m = e.missing_link.expect("missing link");
    assert!(m.create && m.id == "acc-2" && m.side == Side::From && m.sync == "contacts");
    // A failing expression is a record error too.
    let e = plan
        .apply(&json!({"Account_Name": {"id": "acc-1"}, "Amount": 1}), &ctx)
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("reference_number"));
}

#[test]
fn trigger_conditions_and_guards() {
    let (ws, cat) = setup();
    let t = TriggerPlan::compile(&ws, "won", &cat).unwrap();
    let links = NoLinks;
    let ctx = Context::new(&links).at(now());
    let won = json!({"Stage": "Closed Won", "Amount": 500.0, "Account_Name": {"id": "a"}});
    let before = json!({"Stage": "Negotiation/Review"});
    let a = t
        .evaluate(&won, Some(&before), &ctx)
        .unwrap()
        .expect("fires");
    assert_eq!(
        a.to_json(),
        json!({"create": "books.invoices", "fields": {}})
    );
    assert!(
        t.evaluate(&won, Some(&won), &ctx).unwrap().is_none(),
        "already won"
    );
    let small = json!({"Stage": "Closed Won", "Amount": 5.0});
    assert!(
        t.evaluate(&small, Some(&before), &ctx).unwrap().is_none(),
        "guarded"
    );
    assert!(
        t.condition()
            .eval(
                &json!({"Stage": "Closed Won", "Amount": "x"}),
                Some(&before),
                None,
                now()
            )
            .is_err()
    );
}

const SHAPES: &str = r#"
connections:
  crm: { connector: zoho-crm, data_center: com }
  books: { connector: zoho-books, data_center: com }
syncs:
  shapes:
    from: crm.Accounts
    to: books.contacts
    direction: two-way
    fields:
      contact_name: Account_Name
      company_name: Account_Name
      billing_address: { const: { attention: Accounts } }
      billing_address.city: Billing_City
      shipping_address: { const: none }
      shipping_address.city: Shipping_City
"#;

#[test]
fn fields_sharing_a_target_apply_in_order() {
    let ws = load(SHAPES);
    let links = NoLinks;
    let ctx = Context::new(&links).at(now());
    let plan = Plan::compile(&ws, "shapes", &EmptyCatalog).unwrap();
    // A nested field goes into the object an earlier field wrote.
    let out = plan
        .apply(
            &json!({"Account_Name": "Acme", "Billing_City": "Springfield"}),
            &ctx,
        )
        .unwrap();
    assert_eq!(
        out,
        json!({"contact_name": "Acme", "company_name": "Acme", "billing_address": {"attention": "Accounts", "city": "Springfield"}, "shipping_address": "none"})
    );
    // A nested field under a text value is a per-record failure.
    let e = plan
        .apply(
            &json!({"Account_Name": "Acme", "Shipping_City": "Dock"}),
            &ctx,
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("shipping_address.city"));
    assert!(e.reason.contains("in the way"), "{e}");
    // Reverse: two fields read from one source field; the later one wins.
    let back = Plan::compile_way(&ws, "shapes", Way::Reverse, &EmptyCatalog).unwrap();
    let out = back
        .apply(
            &json!({"contact_name": "First", "company_name": "Second", "billing_address": {"city": "Rome"}}),
            &ctx,
        )
        .unwrap();
    assert_eq!(
        out,
        json!({"Account_Name": "Second", "Billing_City": "Rome"})
    );
    // A later field without a value leaves the earlier one…
    let record = json!({"contact_name": "First", "company_name": "", "billing_address": {}});
    assert_eq!(
        back.apply(&record, &ctx).unwrap(),
        json!({"Account_Name": "First"})
    );
    // …unless empty values are written (`update_empty_fields`).
    let ws = load(&SHAPES.replace("    fields:", "    update_empty_fields: true\n    fields:"));
    let back = Plan::compile_way(&ws, "shapes", Way::Reverse, &EmptyCatalog).unwrap();
    assert_eq!(
        back.apply(&record, &ctx).unwrap(),
        json!({"Account_Name": "", "Billing_City": null, "Shipping_City": null})
    );
}

#[test]
fn first_of_takes_the_first_present_alternative() {
    let ws = load(
        r#"
connections:
  crm: { connector: zoho-crm, data_center: com }
  books: { connector: zoho-books, data_center: com }
syncs:
  contacts:
    from: crm.Accounts
    to: books.contacts
    fields: { contact_name: Account_Name }
  people:
    from: crm.Contacts
    to: books.contacts
    fields: { contact_name: Full_Name }
  deals:
    from: crm.Deals
    to: books.invoices
    fields:
      customer_id:
        first_of:
          - { link: contacts, from: Account_Name.id, missing: create }
          - { link: people, from: Contact_Name.id }
      reference_number: { first_of: [Deal_Name, { from: id }], default: none }
"#,
    );
    let plan = Plan::compile(&ws, "deals", &EmptyCatalog).unwrap();
    let mut links = LinkTable::default();
    links.insert("contacts", "acc-1", "bk-account");
    links.insert("people", "con-1", "bk-person");
    let ctx = Context::new(&links).at(now());
    let apply = |deal: serde_json::Value| plan.apply(&deal, &ctx);

    // The Account wins when there is one.
    let both = json!({"id": "d1", "Deal_Name": "Big", "Account_Name": {"id": "acc-1"}, "Contact_Name": {"id": "con-1"}});
    assert_eq!(apply(both).unwrap()["customer_id"], "bk-account");
    // No Account (absent or null): the Contact; an empty name: the id.
    let contact_only =
        json!({"id": "d2", "Deal_Name": "", "Account_Name": null, "Contact_Name": {"id": "con-1"}});
    let out = apply(contact_only).unwrap();
    assert_eq!(out["customer_id"], "bk-person");
    assert_eq!(out["reference_number"], "d2");
    // Neither: the field is left out, or takes the outer default.
    let out = apply(json!({})).unwrap();
    assert!(out.get("customer_id").is_none(), "{out}");
    assert_eq!(out["reference_number"], "none");
    // A present but unlinked Account is that record's error; the Contact is
    // not tried in its place.
    let e = apply(json!({"Account_Name": {"id": "acc-2"}, "Contact_Name": {"id": "con-1"}}))
        .unwrap_err();
    let m = e.missing_link.expect("missing link");
    assert!(m.create && m.id == "acc-2" && m.sync == "contacts");
}
