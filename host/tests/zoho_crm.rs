//! The Zoho CRM connector through the real host, against the sandbox:
//! paging past 2000 records, incremental listing, CRUD with custom
//! fields, search, the deleted feed, upsert, list views, token expiry, rate
//! limits, error mapping, mixed batch results, describe from
//! `settings/fields`, and data-centre hosts.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferry::capability::{HttpSettings, MemoryTokenStore, StoredToken, TokenStore};
use ferry::connection::{ConnectionSpec, ConnectorRegistry, Credentials, TargetSpec};
use ferry::plugin::{
    CallError, Connector, ConnectorError, FieldKind, Manifest, Operation, Plugin, Runtime,
    RuntimeOptions, Target,
};
use serde_json::{Map, Value, json};
use zoho_sandbox::{FaultConfig, Sandbox};

type Record = Map<String, Value>;

/// 2024-05-01T09:00:00Z: a fixed sandbox clock keeps times exact.
const T0_MS: i64 = 1_714_554_000_000;

/// The repository's connectors, with the built components.
fn registry() -> &'static ConnectorRegistry {
    static REGISTRY: OnceLock<ConnectorRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        // Building the guests builds every plugin, this one included.
        let plugin_dir = support::plugin("well_behaved")
            .parent()
            .unwrap()
            .to_path_buf();
        let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
        ConnectorRegistry::load(
            runtime,
            &support::repo_root().join("connectors"),
            &plugin_dir,
        )
        .unwrap()
    })
}

fn plugin() -> Arc<Plugin> {
    registry().plugin("zoho-crm").unwrap()
}

fn manifest() -> Manifest {
    registry().manifest("zoho-crm").unwrap().clone()
}

/// How a test connection is opened.
struct Open {
    spec: ConnectionSpec,
    store: Arc<dyn TokenStore>,
}

impl Open {
    fn new(target: TargetSpec, creds: &zoho_sandbox::ClientCredentials) -> Open {
        let mut spec = ConnectionSpec::new("crm", "zoho-crm", target);
        spec.credentials = Some(Credentials::refresh_token(
            &creds.client_id,
            &creds.client_secret,
            &creds.refresh_token,
        ));
        // Retries without real waiting.
        spec.http = HttpSettings {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..HttpSettings::default()
        };
        Open {
            spec,
            store: Arc::new(MemoryTokenStore::default()),
        }
    }

    fn sandbox(sb: &Sandbox) -> Open {
        Open::new(
            TargetSpec::Sandbox(Some(sb.base_url())),
            &sb.client_credentials(),
        )
    }

    fn settings(mut self, settings: Value) -> Open {
        self.spec.settings = settings;
        self
    }

    fn connect(self) -> Connector {
        registry().open(&self.spec, self.store).unwrap()
    }
}

async fn sandbox(records: usize) -> Sandbox {
    Sandbox::builder()
        .fixed_clock(T0_MS)
        .seed(records)
        .start()
        .await
        .unwrap()
}

fn crm(sb: &Sandbox) -> Connector {
    Open::sandbox(sb).connect()
}

fn rec(v: Value) -> Record {
    v.as_object().cloned().unwrap()
}

fn connector_error(e: CallError) -> ConnectorError {
    e.connector_error()
        .cloned()
        .unwrap_or_else(|| panic!("expected a connector error, got {e}"))
}

/// Every record of `module`, following cursors; also the number of pages.
async fn list_all(c: &Connector, module: &str, since: Option<&str>) -> (Vec<Record>, usize) {
    let (mut out, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = c.list(module, since, cursor.as_deref()).await.unwrap();
        pages += 1;
        out.extend(page.records);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (out, pages),
        }
    }
}

fn ids(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn inspect_shows_modules_fields_operations_and_batches() {
    let info = plugin().inspect().await.unwrap();
    assert_eq!(info.name, "zoho-crm");
    for name in ["Accounts", "Contacts", "Deals", "Products"] {
        let m = info.module(name).unwrap();
        assert_eq!(m.id_field, "id");
        assert_eq!(m.modified_field.as_deref(), Some("Modified_Time"));
        assert_eq!(m.max_batch, 100);
        for op in [
            Operation::Read,
            Operation::Incremental,
            Operation::Find,
            Operation::DeletedFeed,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
            Operation::Upsert,
        ] {
            assert!(m.supports(op), "{name} lacks {op:?}");
        }
    }
    let deals = info.module("Deals").unwrap();
    assert!(deals.field("Stage").unwrap().required);
    assert_eq!(
        deals
            .field("Account_Name")
            .unwrap()
            .lookup_module
            .as_deref(),
        Some("Accounts")
    );
    assert!(deals.field("Modified_Time").unwrap().read_only);
}

#[tokio::test]
async fn full_listing_passes_2000_records_with_page_tokens() {
    let sb = sandbox(2_150).await;
    let c = crm(&sb);
    let (records, pages) = list_all(&c, "Accounts", None).await;
    assert_eq!(records.len(), 2_150);
    assert_eq!(pages, 11, "200 per page");
    let unique: HashSet<String> = ids(&records).into_iter().collect();
    assert_eq!(unique.len(), 2_150, "no record twice");
    // Ascending modification order, as the contract asks.
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["Modified_Time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // Custom fields come with every record.
    assert!(records[0].contains_key("Billing_Customer_ID"));
}

#[tokio::test]
async fn incremental_listing_returns_changes_made_at_or_after_since() {
    let sb = sandbox(300).await;
    let c = crm(&sb);
    let (all, _) = list_all(&c, "Deals", None).await;
    sb.advance_clock(Duration::from_secs(60));
    let changed = all[17]["id"].as_str().unwrap().to_string();
    sb.app()
        .ui_crm_write("Deals", Some(&changed), json!({"Stage": "Closed Won"}))
        .unwrap();
    // The change happened at T0 + 60 s: asking from that very second finds it.
    let (since_change, _) = list_all(&c, "Deals", Some("2024-05-01T09:01:00Z")).await;
    assert_eq!(ids(&since_change), [changed]);
    assert_eq!(since_change[0]["Stage"], "Closed Won");
    // Offsets are honoured: 14:31 in India is after the change.
    let (later, _) = list_all(&c, "Deals", Some("2024-05-01T14:31:01+05:30")).await;
    assert!(later.is_empty());
}

#[tokio::test]
async fn records_with_custom_fields_are_created_read_updated_and_deleted() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    let created = c
        .create(
            "Accounts",
            &[rec(json!({
                "Account_Name": "Custom Co",
                "Zoho_Billing": true,
                "Customer_Segment": "Enterprise",
                "Billing_Customer_ID": "903000000000099"
            }))],
        )
        .await
        .unwrap();
    let id = created[0].as_ref().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let got = c.get("Accounts", &id).await.unwrap();
    assert_eq!(got["Account_Name"], "Custom Co");
    assert_eq!(got["Zoho_Billing"], true);
    assert_eq!(got["Customer_Segment"], "Enterprise");
    assert_eq!(got["Billing_Customer_ID"], "903000000000099");

    let updated = c
        .update(
            "Accounts",
            &[rec(
                json!({"id": id, "Customer_Segment": "SMB", "Phone": "+1 555 0100"}),
            )],
        )
        .await
        .unwrap();
    assert!(updated[0].is_ok(), "{:?}", updated[0]);
    let got = c.get("Accounts", &id).await.unwrap();
    assert_eq!(got["Customer_Segment"], "SMB");
    assert_eq!(got["Account_Name"], "Custom Co", "untouched fields stay");

    let deleted = c
        .delete("Accounts", std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(deleted[0].as_ref().unwrap()["id"], id.as_str());
    let err = connector_error(c.get("Accounts", &id).await.unwrap_err());
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    assert_eq!(sb.counts()["crm/Accounts"], 0);
}

#[tokio::test]
async fn find_matches_exact_values_with_special_characters() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    let names = [
        "Smith, Jones (UK) Ltd",
        "Smith",
        "Jones (UK)",
        r"Back\slash",
    ];
    let inputs: Vec<Record> = names
        .iter()
        .map(|n| rec(json!({"Account_Name": n, "Customer_Segment": "SMB"})))
        .collect();
    let created = c.create("Accounts", &inputs).await.unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    for name in names {
        let found = c
            .find("Accounts", &rec(json!({"Account_Name": name})))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(found[0]["Account_Name"], name);
    }
    let both = c
        .find(
            "Accounts",
            &rec(json!({"Account_Name": "smith", "Customer_Segment": "SMB"})),
        )
        .await
        .unwrap();
    assert_eq!(both.len(), 1);
    let none = c
        .find("Accounts", &rec(json!({"Account_Name": "Nobody"})))
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn deleted_feed_reports_deletions_since_a_time() {
    let sb = sandbox(5).await;
    let c = crm(&sb);
    let (all, _) = list_all(&c, "Contacts", None).await;
    let early = all[0]["id"].as_str().unwrap().to_string();
    c.delete("Contacts", std::slice::from_ref(&early))
        .await
        .unwrap();
    sb.advance_clock(Duration::from_secs(120));
    let late = all[1]["id"].as_str().unwrap().to_string();
    sb.app().ui_crm_delete("Contacts", &late).unwrap();

    let page = c.deleted("Contacts", None, None).await.unwrap();
    let got: HashSet<&str> = page.records.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(got, HashSet::from([early.as_str(), late.as_str()]));
    let recent = c
        .deleted("Contacts", Some("2024-05-01T09:02:00Z"), None)
        .await
        .unwrap();
    assert_eq!(recent.records.len(), 1);
    assert_eq!(recent.records[0].id, late);
    assert_eq!(
        recent.records[0].deleted_at.as_deref(),
        Some("2024-05-01T09:02:00+00:00")
    );
}

#[tokio::test]
async fn upsert_is_a_create_option_that_updates_matches() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    let first = c
        .create("Accounts", &[rec(json!({"Account_Name": "Upsert Co"}))])
        .await
        .unwrap();
    let id = first[0].as_ref().unwrap()["id"].clone();
    let results = c
        .create(
            "Accounts",
            &[
                rec(
                    json!({"Account_Name": "Upsert Co", "Phone": "1", "$upsert": ["Account_Name"]}),
                ),
                rec(json!({"Account_Name": "Fresh Co", "$upsert": true})),
            ],
        )
        .await
        .unwrap();
    let updated = results[0].as_ref().unwrap();
    assert_eq!(updated["id"], id);
    assert_eq!(updated["$action"], "update");
    assert!(!updated.contains_key("$upsert"));
    assert_eq!(results[1].as_ref().unwrap()["$action"], "insert");
    assert_eq!(sb.counts()["crm/Accounts"], 2);
    assert_eq!(
        c.get("Accounts", id.as_str().unwrap()).await.unwrap()["Phone"],
        "1"
    );
}

#[tokio::test]
async fn a_list_view_setting_limits_the_listing() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    let inputs: Vec<Record> = (0..6)
        .map(|i| rec(json!({"Account_Name": format!("A{i}"), "Zoho_Billing": i % 2 == 0})))
        .collect();
    c.create("Accounts", &inputs).await.unwrap();
    // The sandbox's "Billing Accounts" view: Zoho_Billing is true.
    let billing = Open::sandbox(&sb)
        .settings(json!({"cvid": {"Accounts": "5725767000000002678"}}))
        .connect();
    let (records, _) = list_all(&billing, "Accounts", None).await;
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r["Zoho_Billing"] == true));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_in_the_middle_of_a_listing() {
    let sb = Sandbox::builder()
        .fixed_clock(T0_MS)
        .token_lifetime(Duration::from_secs(3600))
        .seed(450)
        .start()
        .await
        .unwrap();
    let c = crm(&sb);
    let first = c.list("Accounts", None, None).await.unwrap();
    // The sandbox's clock passes the token's hour: it now answers
    // INVALID_TOKEN, and the host must refresh and repeat.
    sb.advance_clock(Duration::from_secs(2 * 3600));
    let mut records = first.records;
    let mut cursor = first.next_cursor;
    while let Some(next) = cursor {
        let page = c.list("Accounts", None, Some(&next)).await.unwrap();
        records.extend(page.records);
        cursor = page.next_cursor;
    }
    assert_eq!(records.len(), 450);
}

#[tokio::test]
async fn a_429_then_success_lists_normally_and_persistent_429s_are_rate_limited() {
    let sb = sandbox(3).await;
    let c = crm(&sb);
    let listed = c.list("Accounts", None, None).await.unwrap();
    assert_eq!(listed.records.len(), 3);
    let id = listed.records[0]["id"].as_str().unwrap();
    // Exactly the next request answers 429; the host waits and repeats.
    sb.faults(FaultConfig {
        next: vec![zoho_sandbox::faults::Fault::RateLimited],
        ..Default::default()
    });
    assert_eq!(c.get("Accounts", id).await.unwrap()["id"], id);
    assert!(sb.app().faults.config().next.is_empty(), "the 429 was sent");

    sb.faults(FaultConfig {
        next: vec![zoho_sandbox::faults::Fault::RateLimited; 5],
        ..Default::default()
    });
    let err = connector_error(c.get("Accounts", "1").await.unwrap_err());
    assert!(
        matches!(
            err,
            ConnectorError::RateLimited {
                retry_after_ms: Some(1000),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn server_errors_and_truncated_bodies_are_transient() {
    let sb = sandbox(1).await;
    let c = crm(&sb);
    let (records, _) = list_all(&c, "Accounts", None).await;
    let id = records[0]["id"].as_str().unwrap();
    // Five in a row outlast the host's retries.
    for fault in [
        zoho_sandbox::faults::Fault::ServerError,
        zoho_sandbox::faults::Fault::Truncate,
    ] {
        sb.faults(FaultConfig {
            next: vec![fault; 5],
            ..Default::default()
        });
        let err = connector_error(c.get("Accounts", id).await.unwrap_err());
        assert!(
            matches!(err, ConnectorError::Transient(_)),
            "{fault:?}: {err:?}"
        );
    }
    assert_eq!(c.get("Accounts", id).await.unwrap()["id"], id);
}

#[tokio::test]
async fn missing_records_are_not_found() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    let err = connector_error(c.get("Deals", "5725767000009999999").await.unwrap_err());
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    let gone = c
        .update(
            "Deals",
            &[rec(
                json!({"id": "5725767000009999999", "Stage": "Closed Won"}),
            )],
        )
        .await
        .unwrap();
    assert!(
        matches!(gone[0], Err(ConnectorError::NotFound(_))),
        "{gone:?}"
    );
    let deleted = c
        .delete("Deals", &["5725767000009999999".into()])
        .await
        .unwrap();
    assert!(
        matches!(deleted[0], Err(ConnectorError::NotFound(_))),
        "{deleted:?}"
    );
    let err = connector_error(c.list("Leads", None, None).await.unwrap_err());
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn a_mixed_batch_maps_each_result_to_its_input() {
    let sb = sandbox(0).await;
    let c = crm(&sb);
    c.create("Accounts", &[rec(json!({"Account_Name": "Taken"}))])
        .await
        .unwrap();
    let inputs = [
        rec(json!({"Account_Name": "First"})),
        rec(json!({"Phone": "no name"})),
        rec(json!({"Account_Name": "Third"})),
        rec(json!({"Account_Name": "Taken"})),
        rec(json!({"Account_Name": "Fifth", "Employees": "many"})),
    ];
    let results = c.create("Accounts", &inputs).await.unwrap();
    assert_eq!(results.len(), 5);
    for (i, name) in [(0, "First"), (2, "Third")] {
        let id = results[i].as_ref().unwrap()["id"].as_str().unwrap();
        assert_eq!(c.get("Accounts", id).await.unwrap()["Account_Name"], name);
    }
    assert_eq!(
        results[1],
        Err(ConnectorError::Invalid {
            field: "Account_Name".into(),
            message: "required field not found".into()
        })
    );
    assert!(
        matches!(&results[3], Err(ConnectorError::Conflict(m)) if m.contains("Account_Name")),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], Err(ConnectorError::Invalid { field, .. }) if field == "Employees"),
        "{:?}",
        results[4]
    );
    // More than one request's worth: 230 records in three batches.
    let many: Vec<Record> = (0..230)
        .map(|i| rec(json!({"Last_Name": format!("L{i}")})))
        .collect();
    let results = c.create("Contacts", &many).await.unwrap();
    assert_eq!(results.len(), 230);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(sb.counts()["crm/Contacts"], 230);
}

#[tokio::test]
async fn describe_reads_custom_fields_and_picklists_from_settings_fields() {
    let sb = sandbox(0).await;
    let c = Open::sandbox(&sb)
        .settings(json!({"modules": ["Leads"]}))
        .connect();
    let info = c.describe().await.unwrap();
    let accounts = info.module("Accounts").unwrap();
    let segment = accounts.field("Customer_Segment").unwrap();
    assert!(segment.custom);
    assert_eq!(segment.kind, FieldKind::Picklist);
    assert_eq!(segment.picklist, ["Enterprise", "Mid-Market", "SMB"]);
    assert!(accounts.field("Billing_Customer_ID").unwrap().custom);
    assert!(!accounts.field("Account_Name").unwrap().custom);
    // A module named in settings gets its real fields too.
    let leads = info.module("Leads").unwrap();
    assert!(leads.field("Last_Name").unwrap().required);
    assert!(leads.supports(Operation::Incremental));
    let (records, _) = list_all(&c, "Leads", None).await;
    assert!(records.is_empty());
}

#[tokio::test]
async fn an_eu_connection_talks_only_to_eu_hosts() {
    let eu = manifest().endpoints(Target::DataCenter("eu")).unwrap();
    assert_eq!(eu.base_url.as_str(), "https://www.zohoapis.eu/crm/v8");
    assert_eq!(
        eu.accounts.as_ref().unwrap().as_str(),
        "https://accounts.zoho.eu/"
    );
    // The content host takes Bulk Write uploads, with the API's token.
    assert_eq!(
        eu.allowed_hosts,
        ["www.zohoapis.eu", "accounts.zoho.eu", "content.zohoapis.eu"]
    );
    assert_eq!(
        eu.credentialed,
        ["https://content.zohoapis.eu".parse::<url::Url>().unwrap()]
    );
    for dc in manifest().data_centers.keys() {
        let hosts = manifest()
            .endpoints(Target::DataCenter(dc))
            .unwrap()
            .allowed_hosts;
        assert!(
            dc == "com" || hosts.iter().all(|h| !h.ends_with(".com")),
            "{dc}: {hosts:?}"
        );
    }

    // Through the real host: point both EU names at this machine, which the
    // host refuses for public names, and read which host each refusal names.
    let loopback = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let dns: HashMap<String, Vec<IpAddr>> = [
        ("accounts.zoho.eu".to_string(), loopback.clone()),
        ("www.zohoapis.eu".to_string(), loopback),
    ]
    .into();
    let creds = zoho_sandbox::ClientCredentials {
        client_id: "id".into(),
        client_secret: "secret".into(),
        refresh_token: "refresh".into(),
    };
    let open = |store: Arc<dyn TokenStore>| {
        let mut open = Open::new(TargetSpec::DataCenter("eu".into()), &creds);
        open.spec.dns_overrides = dns.clone();
        open.store = store;
        open
    };
    // First the token refresh: it goes to the EU accounts server.
    let c = open(Arc::new(MemoryTokenStore::default())).connect();
    let err = connector_error(c.list("Deals", None, None).await.unwrap_err());
    let ConnectorError::Unauthorized(message) = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("accounts.zoho.eu"), "{message}");
    assert!(!message.contains(".com"), "{message}");
    // With a token at hand, the API request goes to the EU API host.
    let store = Arc::new(MemoryTokenStore::default());
    // Tokens are kept per connection and accounts origin.
    store
        .save(
            "crm@https://accounts.zoho.eu",
            &StoredToken {
                access_token: "cached".into(),
                expires_at: u64::MAX / 2,
                api_domain: None,
            },
        )
        .unwrap();
    let c = open(store).connect();
    let err = connector_error(c.list("Deals", None, None).await.unwrap_err());
    let ConnectorError::Vendor { code, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "denied");
    assert!(message.contains("www.zohoapis.eu"), "{message}");
    assert!(!message.contains(".com"), "{message}");
}
