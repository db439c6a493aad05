//! The Zoho finance connectors (Books, Invoice, Billing) through the real
//! host — manifest, registry, OAuth, HTTP capability, plugin — against the
//! sandbox. Every scenario is written once and run for each product; the
//! products differ only in the [`Case`] table.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferry::capability::{HttpSettings, MemoryTokenStore, StoredToken, TokenStore};
use ferry::connection::{ConnectionSpec, ConnectorRegistry, Credentials, TargetSpec};
use ferry::plugin::{
    CallError, Connector, ConnectorError, Manifest, Operation, Record, Runtime, RuntimeOptions,
    Target,
};
use serde_json::{Value, json};
use zoho_sandbox::{Fault, FaultConfig, Product, Sandbox};

/// How one product names what the scenarios touch.
struct Case {
    product: Product,
    connector: &'static str,
    contacts: &'static str,
    contact_name: &'static str,
    estimates: &'static str,
    invoice_number: &'static str,
    lines: &'static str,
    price: &'static str,
    base_path: &'static str,
    /// Action turning a draft invoice into a sent one.
    send_invoice: &'static str,
}

const BOOKS: Case = Case {
    product: Product::Books,
    connector: "zoho-books",
    contacts: "contacts",
    contact_name: "contact_name",
    estimates: "estimates",
    invoice_number: "invoice_number",
    lines: "line_items",
    price: "rate",
    base_path: "/books/v3",
    send_invoice: "mark-sent",
};

const INVOICE: Case = Case {
    product: Product::Invoice,
    connector: "zoho-invoice",
    base_path: "/invoice/v3",
    ..BOOKS
};

const BILLING: Case = Case {
    product: Product::Billing,
    connector: "zoho-billing",
    contacts: "customers",
    contact_name: "display_name",
    estimates: "quotes",
    invoice_number: "number",
    lines: "invoice_items",
    price: "price",
    base_path: "/billing/v1",
    send_invoice: "convert-to-open",
};

impl Case {
    fn billing(&self) -> bool {
        self.product == Product::Billing
    }
    fn contact_id(&self) -> &'static str {
        if self.billing() {
            "customer_id"
        } else {
            "contact_id"
        }
    }
}

/// 2026-01-15T12:00:00Z: the sandbox clock is frozen here, so modified
/// times are known.
const T0_MS: i64 = 1_768_478_400_000;

fn registry() -> &'static ConnectorRegistry {
    static REGISTRY: OnceLock<ConnectorRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        // Builds every guest component once per test process.
        support::plugin("well_behaved");
        let root = support::repo_root();
        ConnectorRegistry::load(
            Runtime::new(RuntimeOptions::default()).unwrap(),
            &root.join("connectors"),
            &root.join("target/plugins/wasm32-wasip2/plugin"),
        )
        .unwrap()
    })
}

struct Env {
    sb: Sandbox,
    org: String,
    conn: Connector,
    tokens: Arc<MemoryTokenStore>,
}

fn spec(case: &Case, sb: &Sandbox, target: TargetSpec, settings: Value) -> ConnectionSpec {
    let creds = sb.client_credentials();
    let mut spec = ConnectionSpec::new("finance", case.connector, target);
    spec.settings = settings;
    spec.credentials = Some(Credentials::refresh_token(
        &creds.client_id,
        &creds.client_secret,
        &creds.refresh_token,
    ));
    spec.http = HttpSettings {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpSettings::default()
    };
    spec
}

/// A sandbox with `seed` records per resource at [`T0_MS`], and a
/// connection to the product's first organisation with `extra` settings.
async fn env_with(case: &Case, seed: usize, extra: Value) -> Env {
    let sb = Sandbox::builder()
        .fixed_clock(T0_MS)
        .seed(seed)
        .start()
        .await
        .unwrap();
    let org = sb.organization_id(case.product);
    let mut settings = json!({"organization_id": org});
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let tokens = Arc::new(MemoryTokenStore::default());
    let conn = registry()
        .open(
            &spec(
                case,
                &sb,
                TargetSpec::Sandbox(Some(sb.base_url())),
                settings,
            ),
            tokens.clone(),
        )
        .unwrap();
    Env {
        sb,
        org,
        conn,
        tokens,
    }
}

async fn env(case: &Case, seed: usize) -> Env {
    env_with(case, seed, json!({})).await
}

fn rec(v: Value) -> Record {
    v.as_object().cloned().unwrap()
}

fn error(e: CallError) -> ConnectorError {
    e.connector_error()
        .cloned()
        .unwrap_or_else(|| panic!("not a connector error: {e}"))
}

fn id_of(r: &Record, field: &str) -> String {
    r[field].as_str().unwrap().to_string()
}

/// Every page of `module` (since the watermark, if given).
async fn list_all(conn: &Connector, module: &str, since: Option<&str>) -> (Vec<Record>, usize) {
    let (mut records, mut pages, mut cursor) = (Vec::new(), 0, None);
    loop {
        let page = conn.list(module, since, cursor.as_deref()).await.unwrap();
        records.extend(page.records);
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return (records, pages),
        }
    }
}

fn ids(records: &[Record], field: &str) -> HashSet<String> {
    records.iter().map(|r| id_of(r, field)).collect()
}

async fn create_one(conn: &Connector, module: &str, record: Value) -> Record {
    conn.create(module, &[rec(record)])
        .await
        .unwrap()
        .remove(0)
        .unwrap_or_else(|e| panic!("create {module}: {e}"))
}

/// A customer, an item, and a draft invoice and estimate for them.
async fn documents(case: &Case, conn: &Connector, tag: &str) -> (String, Record, Record) {
    let contact = create_one(
        conn,
        case.contacts,
        json!({case.contact_name: format!("Docs {tag}")}),
    )
    .await;
    let customer = id_of(&contact, case.contact_id());
    let item = create_one(
        conn,
        "items",
        json!({"name": format!("Widget {tag}"), "rate": 10}),
    )
    .await;
    let line = json!([{"item_id": item["item_id"], "quantity": 2, case.price: 10}]);
    let invoice = create_one(
        conn,
        "invoices",
        json!({"customer_id": customer, case.lines: line}),
    )
    .await;
    let estimate = create_one(
        conn,
        case.estimates,
        json!({"customer_id": customer, "line_items": [{"item_id": item["item_id"], "quantity": 1, "rate": 10}]}),
    )
    .await;
    (customer, invoice, estimate)
}

// ---------------------------------------------------------------------------
// Scenarios

async fn full_listing_across_pages(case: &Case) {
    let env = env(case, 450).await;
    let counts = env.sb.counts();
    for (module, resource, id_field) in [
        (case.contacts, case.contacts, case.contact_id()),
        ("invoices", "invoices", "invoice_id"),
        ("items", "items", "item_id"),
    ] {
        let (records, pages) = list_all(&env.conn, module, None).await;
        let expected = counts[&format!("{}/{}/{resource}", case.product.name(), env.org)];
        assert_eq!(expected, 450);
        assert_eq!(pages, 3, "{module}: 450 records in pages of 200");
        assert_eq!(records.len(), expected, "{module}: every record once");
        assert_eq!(
            ids(&records, id_field).len(),
            expected,
            "{module}: no repeats"
        );
    }
}

async fn incremental_listing_after_change(case: &Case) {
    let env = env(case, 250).await;
    let contact_id = case.contact_id();
    let first = |module: &'static str, id_field: &'static str| {
        let conn = &env.conn;
        async move {
            id_of(
                &conn.list(module, None, None).await.unwrap().records[0],
                id_field,
            )
        }
    };
    let invoice = first("invoices", "invoice_id").await;
    let contact = first(case.contacts, contact_id).await;
    let item = first("items", "item_id").await;
    env.sb.advance_clock(Duration::from_secs(60));
    let watermark = "2026-01-15T12:01:00Z";
    env.sb.advance_clock(Duration::from_secs(5));
    let ui = |resource: &str, id: &str, fields: Value| {
        env.sb
            .app()
            .ui_finance_write(case.product, &env.org, resource, id, fields)
            .unwrap();
    };
    ui(
        "invoices",
        &invoice,
        json!({"reference_number": "changed by a person"}),
    );
    ui(
        case.contacts,
        &contact,
        json!({"notes": "changed by a person"}),
    );
    ui(
        "items",
        &item,
        json!({"description": "changed by a person"}),
    );
    for (module, id_field, changed) in [
        ("invoices", "invoice_id", &invoice),
        (case.contacts, contact_id, &contact),
        ("items", "item_id", &item),
    ] {
        let (records, _) = list_all(&env.conn, module, Some(watermark)).await;
        assert_eq!(
            ids(&records, id_field),
            HashSet::from([changed.clone()]),
            "{module}"
        );
    }
    let (none, pages) = list_all(&env.conn, case.estimates, Some(watermark)).await;
    assert!(
        none.is_empty() && pages == 1,
        "no estimate changed: {none:?}"
    );
}

async fn crud(case: &Case) {
    let env = env(case, 0).await;
    let conn = &env.conn;
    let mut contact = json!({case.contact_name: "Acme Crud", "company_name": "Acme"});
    if case.billing() {
        contact["first_name"] = json!("Ada");
        contact["email"] = json!("ada@acme.test");
    } else {
        contact["contact_persons"] = json!([{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test", "is_primary_contact": true}]);
    }
    let created = create_one(conn, case.contacts, contact).await;
    let id_field = case.contact_id();
    let id = id_of(&created, id_field);
    let got = conn.get(case.contacts, &id).await.unwrap();
    assert_eq!(got[case.contact_name], "Acme Crud");
    if case.billing() {
        assert_eq!(got["email"], "ada@acme.test");
    } else {
        assert_eq!(
            got["contact_persons"][0]["email"], "ada@acme.test",
            "contact persons kept"
        );
    }
    let updated = conn
        .update(
            case.contacts,
            &[rec(json!({id_field: id, "company_name": "Acme Two"}))],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(updated["company_name"], "Acme Two");
    let duplicate = conn
        .create(
            case.contacts,
            &[rec(json!({case.contact_name: "Acme Crud"}))],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(
        matches!(duplicate, ConnectorError::Conflict(_)),
        "{duplicate:?}"
    );
    let missing = conn
        .create("invoices", &[rec(json!({case.lines: []}))])
        .await
        .unwrap()
        .remove(0)
        .unwrap_err();
    assert!(
        matches!(&missing, ConnectorError::Invalid { field, .. } if !field.is_empty()),
        "{missing:?}"
    );

    let (_, invoice, _) = documents(case, conn, "crud").await;
    let invoice_id = id_of(&invoice, "invoice_id");
    assert!(
        invoice[case.invoice_number]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    let number_taken = conn
        .update(
            "invoices",
            &[rec(
                json!({"invoice_id": invoice_id, "reference_number": "PO-9"}),
            )],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(number_taken["reference_number"], "PO-9");
    let deleted = conn
        .delete("invoices", std::slice::from_ref(&invoice_id))
        .await
        .unwrap();
    assert_eq!(deleted[0].as_ref().unwrap()["id"], json!(invoice_id));
    let gone = error(conn.get("invoices", &invoice_id).await.unwrap_err());
    assert!(matches!(gone, ConnectorError::NotFound(_)), "{gone:?}");
    conn.delete(case.contacts, std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert!(matches!(
        error(conn.get(case.contacts, &id).await.unwrap_err()),
        ConnectorError::NotFound(_)
    ));
}

async fn actions(case: &Case) {
    let env = env(case, 0).await;
    let conn = &env.conn;
    let no_args = Record::new();
    let (customer, invoice, estimate) = documents(case, conn, "act").await;
    let invoice_id = id_of(&invoice, "invoice_id");
    assert_eq!(invoice["status"], "draft");
    let act = |module: &'static str, id: String, action: &'static str| {
        let no_args = no_args.clone();
        async move { conn.act(module, &id, action, &no_args).await.unwrap()["status"].clone() }
    };
    assert_eq!(
        act("invoices", invoice_id.clone(), case.send_invoice).await,
        "sent"
    );
    assert_eq!(act("invoices", invoice_id.clone(), "void").await, "void");
    if !case.billing() {
        assert_eq!(
            act("invoices", invoice_id.clone(), "mark-draft").await,
            "draft"
        );
    }
    let estimate_id = id_of(&estimate, "estimate_id");
    assert_eq!(
        act(case.estimates, estimate_id.clone(), "mark-sent").await,
        "sent"
    );
    assert_eq!(act(case.estimates, estimate_id, "accept").await, "accepted");
    let second = create_one(
        conn,
        case.estimates,
        json!({"customer_id": customer, "line_items": [{"name": "Service", "quantity": 1, "rate": 5}]}),
    )
    .await;
    let second = id_of(&second, "estimate_id");
    act(case.estimates, second.clone(), "mark-sent").await;
    assert_eq!(act(case.estimates, second, "decline").await, "declined");
    assert_eq!(
        act(case.contacts, customer.clone(), "deactivate").await,
        "inactive"
    );
    assert_eq!(
        act(case.contacts, customer.clone(), "activate").await,
        "active"
    );
    let unknown = error(
        conn.act("invoices", &invoice_id, "teleport", &no_args)
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(unknown, ConnectorError::Unsupported(_)),
        "{unknown:?}"
    );
}

async fn find(case: &Case) {
    let env = env(case, 30).await;
    let conn = &env.conn;
    create_one(
        conn,
        case.contacts,
        json!({case.contact_name: "Findable Ltd", "cf_segment": "enterprise"}),
    )
    .await;
    create_one(
        conn,
        case.contacts,
        json!({case.contact_name: "Other Findable", "cf_segment": "enterprise"}),
    )
    .await;
    let by_name = conn
        .find(
            case.contacts,
            &rec(json!({case.contact_name: "findable ltd"})),
        )
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1, "{by_name:?}");
    assert_eq!(by_name[0][case.contact_name], "Findable Ltd");
    let by_custom = conn
        .find(case.contacts, &rec(json!({"cf_segment": "enterprise"})))
        .await
        .unwrap();
    let names: HashSet<&str> = by_custom
        .iter()
        .filter_map(|r| r[case.contact_name].as_str())
        .collect();
    assert!(
        names.contains("Findable Ltd") && names.contains("Other Findable"),
        "{names:?}"
    );
    let (_, invoice, _) = documents(case, conn, "find").await;
    let number = invoice[case.invoice_number].clone();
    let found = conn
        .find("invoices", &rec(json!({case.invoice_number: number})))
        .await
        .unwrap();
    assert_eq!(
        ids(&found, "invoice_id"),
        HashSet::from([id_of(&invoice, "invoice_id")])
    );
    let nothing = conn
        .find("invoices", &rec(json!({case.invoice_number: "NO-SUCH"})))
        .await
        .unwrap();
    assert!(nothing.is_empty());
}

async fn custom_fields(case: &Case) {
    let env = env_with(
        case,
        3,
        json!({"unique_keys": {case.contacts: "cf_crm_account_id"}}),
    )
    .await;
    let conn = &env.conn;
    let id_field = case.contact_id();
    // By API name and by label.
    let created = create_one(
        conn,
        case.contacts,
        json!({case.contact_name: "Custom Co", "cf_segment": "enterprise", "CRM Account ID": "ACC-1"}),
    )
    .await;
    assert_eq!(created["cf_segment"], "enterprise");
    assert_eq!(created["cf_crm_account_id"], "ACC-1");
    let id = id_of(&created, id_field);
    conn.update(
        case.contacts,
        &[rec(json!({id_field: id, "cf_segment": "smb"}))],
    )
    .await
    .unwrap()
    .remove(0)
    .unwrap();
    let got = conn.get(case.contacts, &id).await.unwrap();
    assert_eq!(got["cf_segment"], "smb");
    let array = got["custom_fields"].as_array().unwrap();
    assert!(
        array
            .iter()
            .any(|cf| cf["label"] == "Segment" && cf["value"] == "smb"),
        "{array:?}"
    );

    // Upsert and update through the unique custom field.
    let upserted = create_one(
        conn,
        case.contacts,
        json!({case.contact_name: "Custom Co", "cf_crm_account_id": "ACC-1", "notes": "upserted"}),
    )
    .await;
    assert_eq!(
        id_of(&upserted, id_field),
        id,
        "matched on cf_crm_account_id, not duplicated"
    );
    assert_eq!(upserted["notes"], "upserted");
    let by_key = conn
        .update(
            case.contacts,
            &[rec(
                json!({"cf_crm_account_id": "ACC-1", "notes": "by key"}),
            )],
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!(
        (id_of(&by_key, id_field), by_key["notes"].clone()),
        (id.clone(), json!("by key"))
    );
    let fresh = create_one(
        conn,
        case.contacts,
        json!({case.contact_name: "Fresh Co", "cf_crm_account_id": "ACC-2"}),
    )
    .await;
    assert_ne!(id_of(&fresh, id_field), id, "no match: created");

    // describe reports custom fields found in the organisation's records.
    let info = conn.describe().await.unwrap();
    let contacts = info.module(case.contacts).unwrap();
    assert!(contacts.supports(Operation::Upsert));
    let segment = contacts.field("cf_segment").expect("cf_segment discovered");
    assert!(segment.custom);
    assert_eq!(segment.label, "Segment");
    assert!(
        contacts
            .field(case.contact_name)
            .is_some_and(|f| f.required && !f.custom)
    );
}

async fn token_refresh_mid_listing(case: &Case) {
    let env = env(case, 450).await;
    let first = env.conn.list("invoices", None, None).await.unwrap();
    // Tokens are kept per connection and accounts origin.
    let key = format!("finance@{}", env.sb.base_url());
    let before = env.tokens.load(&key).unwrap().access_token;
    // The sandbox's token lapses (its clock moves past the hour); the host
    // still thinks it valid, gets 401 code 57, refreshes and retries.
    env.sb.advance_clock(Duration::from_secs(2 * 3600));
    let (mut rest, mut cursor) = (Vec::new(), first.next_cursor.clone());
    while let Some(c) = cursor {
        let page = env.conn.list("invoices", None, Some(&c)).await.unwrap();
        rest.extend(page.records);
        cursor = page.next_cursor;
    }
    assert_eq!(first.records.len() + rest.len(), 450);
    assert_ne!(
        env.tokens.load(&key).unwrap().access_token,
        before,
        "token refreshed"
    );
}

async fn rate_limited_then_success(case: &Case) {
    let env = env(case, 5).await;
    let id = id_of(
        &env.conn.list("invoices", None, None).await.unwrap().records[0],
        "invoice_id",
    );
    env.sb.faults(FaultConfig {
        next: vec![Fault::RateLimited],
        ..FaultConfig::default()
    });
    let got = env.conn.get("invoices", &id).await.unwrap();
    assert_eq!(id_of(&got, "invoice_id"), id);
    assert_eq!(
        env.sb.app().faults.config().next.len(),
        0,
        "the 429 was served"
    );
    // Past the host's retries the plugin reports rate-limited.
    env.sb.faults(FaultConfig {
        next: vec![Fault::RateLimited; 100],
        ..FaultConfig::default()
    });
    let e = error(env.conn.get("invoices", &id).await.unwrap_err());
    assert!(matches!(e, ConnectorError::RateLimited { .. }), "{e:?}");
}

async fn server_failures_are_transient(case: &Case) {
    let env = env(case, 1).await;
    env.conn.check().await.unwrap();
    let id = id_of(
        &env.conn.list("invoices", None, None).await.unwrap().records[0],
        "invoice_id",
    );
    for faults in [
        FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        },
        FaultConfig {
            truncate_rate: 1.0,
            ..FaultConfig::default()
        },
    ] {
        env.sb.faults(faults.clone());
        let e = error(env.conn.get("invoices", &id).await.unwrap_err());
        assert!(
            matches!(e, ConnectorError::Transient(_)),
            "{faults:?}: {e:?}"
        );
    }
    env.sb.faults(FaultConfig::default());
    env.conn.get("invoices", &id).await.unwrap();
}

async fn not_found(case: &Case) {
    let env = env(case, 0).await;
    for module in [case.contacts, "items", "invoices", case.estimates] {
        let e = error(env.conn.get(module, "460000000999999").await.unwrap_err());
        assert!(matches!(e, ConnectorError::NotFound(_)), "{module}: {e:?}");
    }
    let results = env
        .conn
        .delete("invoices", &["460000000999999".into()])
        .await
        .unwrap();
    assert!(
        matches!(results[0], Err(ConnectorError::NotFound(_))),
        "{results:?}"
    );
}

/// `ferry plugins inspect` on the release component shows its modules,
/// operations and actions without network, and the component stays within
/// its 1 MiB budget.
async fn inspect_shows_modules_operations_and_actions(case: &Case) {
    registry();
    let wasm = support::repo_root().join(format!(
        "target/plugins/wasm32-wasip2/plugin/{}.wasm",
        case.connector.replace('-', "_")
    ));
    assert!(std::fs::metadata(&wasm).unwrap().len() <= 1024 * 1024);
    let info: Value = serde_json::from_slice(&support::stdout_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["plugins", "inspect", "--json"])
            .arg(&wasm),
    ))
    .unwrap();
    assert_eq!(info["name"], case.connector);
    let module = |name: &str| {
        info["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("module {name}: {info}"))
            .clone()
    };
    let invoices = module("invoices");
    let actions: Vec<&str> = invoices["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert!(
        actions.contains(&case.send_invoice) && actions.contains(&"void"),
        "{actions:?}"
    );
    assert!(
        invoices["operations"]
            .as_array()
            .unwrap()
            .contains(&json!("incremental"))
    );
    let estimates = module(case.estimates);
    assert_eq!(estimates["actions"].as_array().unwrap().len(), 3);
    let contacts = module(case.contacts);
    assert!(
        contacts["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == case.contact_name)
    );
}

/// An EU connection goes to the EU hosts only: the manifest builds EU
/// endpoints (API, accounts, allow-list), and a live connection's API
/// request goes to the EU API host under the product's base path (the host
/// resolves to loopback here, which the host refuses to reach for a public
/// name, so the refusal shows where the request went).
async fn eu_data_centre(case: &Case) {
    let manifest =
        Manifest::load(&support::repo_root().join(format!("connectors/{}.yaml", case.connector)))
            .unwrap();
    let eu = manifest.endpoints(Target::DataCenter("eu")).unwrap();
    assert_eq!(
        eu.base_url.as_str(),
        format!("https://www.zohoapis.eu{}", case.base_path)
    );
    assert_eq!(eu.accounts.unwrap().as_str(), "https://accounts.zoho.eu/");
    assert_eq!(eu.allowed_hosts, ["www.zohoapis.eu", "accounts.zoho.eu"]);

    let sb = Sandbox::builder().start().await.unwrap();
    let mut spec = spec(
        case,
        &sb,
        TargetSpec::DataCenter("eu".into()),
        json!({"organization_id": sb.organization_id(case.product)}),
    );
    let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    spec.dns_overrides = HashMap::from([
        ("www.zohoapis.eu".to_string(), loopback.clone()),
        ("accounts.zoho.eu".to_string(), loopback),
    ]);
    // With a token: the API request goes to the EU API host.
    let tokens = Arc::new(MemoryTokenStore::default());
    tokens
        .save(
            "finance@https://accounts.zoho.eu",
            &StoredToken {
                access_token: "1000.eu".into(),
                expires_at: u64::MAX / 2,
                api_domain: None,
            },
        )
        .unwrap();
    let conn = registry().open(&spec, tokens).unwrap();
    let e = conn.get("invoices", "1").await.unwrap_err().to_string();
    let url = format!("https://www.zohoapis.eu{}/invoices/1", case.base_path);
    assert!(e.contains(&url) && !e.contains(".com"), "{e}");
}

macro_rules! per_product {
    ($($scenario:ident),* $(,)?) => {
        mod books {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $scenario() { super::$scenario(&super::BOOKS).await })*
        }
        mod invoice {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $scenario() { super::$scenario(&super::INVOICE).await })*
        }
        mod billing {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $scenario() { super::$scenario(&super::BILLING).await })*
        }
    };
}

per_product!(
    full_listing_across_pages,
    incremental_listing_after_change,
    crud,
    actions,
    find,
    custom_fields,
    token_refresh_mid_listing,
    rate_limited_then_success,
    server_failures_are_transient,
    not_found,
    inspect_shows_modules_operations_and_actions,
    eu_data_centre,
);
