//! A 20-field mapping, JSON → JSON, per record.
//!
//! `cargo bench -p ferry --bench mapping`
//!
//! - `map/20-fields`: paths (flat and nested targets), a value map,
//!   constants, defaults and vendor coercions (datetime CRM → Books,
//!   numbers from strings, date), from a parsed `serde_json::Value` to the
//!   mapped record the sync engine works with (`Plan::map`).
//! - `map/20-fields+cel`: the same with one field a CEL expression.
//! - `map/20-fields+fingerprint`: map and fingerprint, all a sync pass
//!   does with a record that has not changed.
//! - `map/20-fields+owned`: map and copy out an owned `serde_json::Value`
//!   (`Plan::apply`), as for a record that is written.
//! - `bytes/20-fields`: parse the record text, map, serialise.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ferry::config::{LoadOptions, SecretMode, StaticCatalog, Workspace};
use ferry::mapping::{Context, NoLinks, Plan};
use ferry::sync::fingerprint_mapped;

const WS: &str = r#"
connections:
  crm: { connector: zoho-crm, data_center: com }
  books: { connector: zoho-books, data_center: com }
syncs:
  plain:
    from: crm.Accounts
    to: books.contacts
    fields: &fields
      contact_name: Account_Name
      company_name: Account_Name
      website: Website
      phone: Phone
      email: { from: Email, type: text }
      currency_code: { from: Currency, default: USD }
      payment_terms: { from: Payment_Terms, type: integer, default: 30 }
      credit_limit: { from: Annual_Revenue, type: decimal }
      contact_type: { const: customer }
      customer_sub_type: { from: Customer_Type, map: { Business: business, Individual: individual }, default: business }
      billing_address.address: Billing_Street
      billing_address.city: Billing_City
      billing_address.state: Billing_State
      billing_address.zip: Billing_Code
      billing_address.country: Billing_Country
      shipping_address.address: Shipping_Street
      shipping_address.city: Shipping_City
      notes: { from: Description, default: "" }
      last_modified_time: { from: Modified_Time, type: datetime }
      custom_fields[label=CRM ID].value: id
  with_cel:
    from: crm.Accounts
    to: books.contacts
    fields:
      <<: *fields
      notes: { expr: "number(record.Annual_Revenue) > 1000000.0 ? 'enterprise' : 'smb'" }
"#;

const RECORD: &str = r#"{
  "id": "5725767000000524157", "Account_Name": "Acme Corp", "Website": "https://acme.example",
  "Phone": "+1 555 0100", "Email": "billing@acme.example", "Currency": "EUR", "Payment_Terms": "45",
  "Annual_Revenue": "2,500,000.00", "Customer_Type": "Business", "Billing_Street": "1 Main St",
  "Billing_City": "Springfield", "Billing_State": "IL", "Billing_Code": "62701", "Billing_Country": "USA",
  "Shipping_Street": "2 Dock Rd", "Shipping_City": "Springfield", "Description": "Key account",
  "Modified_Time": "2023-10-15T10:30:00+00:00", "Owner": {"name": "Jane", "id": "1"}, "Rating": "Hot"
}"#;

fn bench(c: &mut Criterion) {
    let ws = Workspace::load_str(
        "bench.yaml",
        WS,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .expect("valid workspace");
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config/describe");
    let (catalog, _) = StaticCatalog::from_describe_dir(&dir, &ws);
    let plain = Plan::compile(&ws, "plain", &catalog).expect("plan");
    let with_cel = Plan::compile(&ws, "with_cel", &catalog).expect("plan");
    let record: serde_json::Value = serde_json::from_str(RECORD).expect("json");
    let links = NoLinks;
    let ctx = Context::new(&links);
    let out = plain.apply(&record, &ctx).expect("maps");
    assert_eq!(out.as_object().map(|o| o.len()), Some(15), "{out}");

    let mut g = c.benchmark_group("map");
    g.throughput(Throughput::Elements(1));
    g.bench_function("20-fields", |b| {
        b.iter(|| plain.map(black_box(&record), &ctx).expect("maps"))
    });
    g.bench_function("20-fields+cel", |b| {
        b.iter(|| with_cel.map(black_box(&record), &ctx).expect("maps"))
    });
    g.bench_function("20-fields+fingerprint", |b| {
        b.iter(|| fingerprint_mapped(&plain.map(black_box(&record), &ctx).expect("maps")))
    });
    g.bench_function("20-fields+owned", |b| {
        b.iter(|| plain.apply(black_box(&record), &ctx).expect("maps"))
    });
    g.finish();

    // Reference point: copying the input record as a `serde_json::Value`.
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("clone-record", |b| b.iter(|| black_box(&record).clone()));
    g.finish();

    let mut g = c.benchmark_group("bytes");
    g.throughput(Throughput::Elements(1));
    g.bench_function("20-fields", |b| {
        b.iter(|| {
            let r: serde_json::Value = serde_json::from_str(black_box(RECORD)).expect("json");
            let out = plain.map(&r, &ctx).expect("maps");
            serde_json::to_vec(&out).expect("serialise")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
