//! Zoho Campaigns from YAML alone (`connectors/zoho-campaigns.yaml`), run
//! by the generic REST component end to end through the `ferry` binary
//! against the sandbox's emulation: Zoho Invoice customers into one chosen
//! list as subscribers, once; an edited customer updates its subscriber;
//! record and replay.

mod support;

use serde_json::{Value, json};
use support::bench::Bench;
use zoho_sandbox::{Product, Sandbox};

const INVOICE_ORG: &str = "20234695";

/// A workspace: Invoice (organisation 20234695) and Campaigns (its list
/// `list_key`), both with the sandbox's Zoho client.
fn bench(sb: &Sandbox, list_key: &str) -> Bench {
    bench_with(
        sb,
        list_key,
        r#"    match: { email: contact_email }
    fields:
      contact_email: email
      companyname: company_name
"#,
    )
}

/// The same workspace, its sync's body after `to:` given.
fn bench_with(sb: &Sandbox, list_key: &str, sync_body: &str) -> Bench {
    let base = sb.base_url();
    let yaml = format!(
        r#"version: 1
connections:
  invoice:
    connector: zoho-invoice
    sandbox: {base}
    rate_limit: off
    auth: {{ client_id: file:secrets/id, client_secret: file:secrets/secret, refresh_token: file:secrets/refresh }}
    settings: {{ organization_id: "{INVOICE_ORG}" }}
  campaigns:
    connector: zoho-campaigns
    sandbox: {base}
    rate_limit: off
    auth: {{ client_id: file:secrets/id, client_secret: file:secrets/secret, refresh_token: file:secrets/refresh }}
    settings: {{ list_key: "{list_key}" }}
syncs:
  subscribers:
    from: invoice.contacts
    to: campaigns.subscribers
{sync_body}"#
    );
    let b = Bench::custom(&yaml, support::repo_root().join("connectors"));
    let creds = sb.client_credentials();
    std::fs::create_dir_all(b.dir().join("secrets")).unwrap();
    for (name, value) in [
        ("id", &creds.client_id),
        ("secret", &creds.client_secret),
        ("refresh", &creds.refresh_token),
    ] {
        std::fs::write(b.dir().join("secrets").join(name), value).unwrap();
    }
    b
}

fn sync(bench: &Bench) -> Value {
    let out = bench
        .ferry(&["sync", "run", "subscribers", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    reports[0].clone()
}

/// The Invoice organisation's contacts, as its API lists them.
async fn invoice_contacts(sb: &Sandbox) -> Vec<Value> {
    support::bench::sandbox_find(sb, &format!("invoice/{INVOICE_ORG}/contacts")).await
}

/// Campaigns requests the sandbox served whose route ends with `suffix`.
fn calls(sb: &Sandbox, suffix: &str) -> u64 {
    sb.app()
        .requests()
        .iter()
        .filter(|(route, _)| route.ends_with(suffix))
        .map(|(_, n)| n)
        .sum()
}

/// The chosen list's key, and its subscribers as (email, company).
fn list(sb: &Sandbox, name: &str) -> (String, Vec<(String, String)>) {
    let st = sb.app().campaigns.store.lock().unwrap();
    let l = st.lists.iter().find(|l| l.name == name).unwrap();
    let subs = l
        .members
        .iter()
        .map(|(e, _)| {
            let company = st.contacts[e]
                .get("companyname")
                .cloned()
                .unwrap_or_default();
            (e.clone(), company)
        })
        .collect();
    (l.key.clone(), subs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_customers_become_subscribers_of_the_chosen_list_once() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let (key, before) = list(&sb, "Invoice customers");
    assert!(before.is_empty());
    let bench = bench(&sb, &key);
    let out = bench.ferry_ok(&["validate"]);
    assert!(out.contains("valid"), "{out}");

    let report = tokio::task::block_in_place(|| sync(&bench));
    let added = report["counts"]["added"].as_u64().unwrap_or(0);
    let (_, subs) = list(&sb, "Invoice customers");
    assert!(added > 0, "{}", report["counts"]);
    assert_eq!(subs.len() as u64, added, "{}", report["counts"]);
    assert!(
        subs.iter().all(|(e, c)| e.contains('@') && !c.is_empty()),
        "{subs:?}"
    );
    // Each with its company: one `listsubscribe` each, never the bulk add
    // (which takes addresses only).
    assert_eq!(calls(&sb, "/json/listsubscribe"), added);
    assert_eq!(calls(&sb, "/addlistsubscribersinbulk"), 0);
    // The other list is untouched.
    assert!(list(&sb, "Newsletter").1.is_empty());

    // A second run writes nothing.
    let report = tokio::task::block_in_place(|| sync(&bench));
    assert_eq!(report["counts"]["added"], 0, "{}", report["counts"]);
    assert_eq!(report["counts"]["updated"], 0, "{}", report["counts"]);
    assert_eq!(list(&sb, "Invoice customers").1.len(), subs.len());

    // An edited customer updates its subscriber.
    let contact = invoice_contacts(&sb).await[0].clone();
    let id = contact["contact_id"].as_str().unwrap();
    sb.app()
        .ui_finance_write(
            Product::Invoice,
            INVOICE_ORG,
            "contacts",
            id,
            json!({"company_name": "Renamed Ltd"}),
        )
        .unwrap();
    let report = tokio::task::block_in_place(|| sync(&bench));
    assert_eq!(report["counts"]["updated"], 1, "{}", report["counts"]);
    assert_eq!(report["counts"]["added"], 0, "{}", report["counts"]);
    // The API shows the primary contact person's address as `email`.
    let email = contact["contact_persons"][0]["email"]
        .as_str()
        .unwrap_or_else(|| panic!("{contact}"))
        .to_ascii_lowercase();
    let (_, subs) = list(&sb, "Invoice customers");
    assert!(
        subs.contains(&(email, "Renamed Ltd".to_string())),
        "{subs:?}"
    );
}

/// Campaigns' own Invoice sync options, as a workspace says them: every
/// contact the sync writes gets the subscription type, the lawful basis
/// and the topic; a field Campaigns lacks is added once ("New Field",
/// `new_field: true`) and filled; "update empty field value"
/// (`update_empty_fields: true`) clears in Campaigns a phone removed in
/// Invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_type_lawful_basis_topic_and_emptied_fields_reach_campaigns() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let (key, _) = list(&sb, "Invoice customers");
    let topic = sb.app().campaigns.store.lock().unwrap().topics[0]
        .id
        .clone();
    let bench = bench_with(
        &sb,
        &key,
        &format!(
            r#"    match: {{ email: contact_email }}
    view: "record.contact_type == 'customer'"
    update_empty_fields: true
    fields:
      contact_email: email
      companyname: company_name
      phone: phone
      subscription_type: {{ const: Non-marketing }}
      lawful_basis: {{ const: Contract }}
      topic_id: {{ const: "{topic}" }}
      Customer Since: {{ from: created_time, type: date, new_field: true }}
"#
        ),
    );
    // One contact is a vendor: customers only, as Campaigns' own sync.
    let vendor = invoice_contacts(&sb).await.last().unwrap()["contact_id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.app()
        .ui_finance_write(
            Product::Invoice,
            INVOICE_ORG,
            "contacts",
            &vendor,
            json!({"contact_type": "vendor"}),
        )
        .unwrap();
    let report = tokio::task::block_in_place(|| sync(&bench));
    assert_eq!(report["counts"]["failed"], 0, "{}", report["counts"]);
    assert_eq!(report["counts"]["skipped"], 1, "{}", report["counts"]);
    let added = report["counts"]["added"].as_u64().unwrap();
    assert!(added > 0, "{}", report["counts"]);
    // The history's skipped records export, with why.
    let csv = bench.ferry_ok(&[
        "history",
        "subscribers",
        "--run",
        "1",
        "--skipped",
        "--format",
        "csv",
    ]);
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(
        rows[0].contains(&format!(",{vendor},"))
            && rows[0].contains(",skip,")
            && rows[0].contains("view"),
        "{csv}"
    );
    let added_fields = || {
        let st = sb.app().campaigns.store.lock().unwrap();
        st.fields
            .iter()
            .filter(|f| f.custom)
            .map(|f| (f.display.clone(), f.key.clone(), f.field_type.clone()))
            .collect::<Vec<_>>()
    };
    let since = (
        "Customer Since".to_string(),
        "customer_since".to_string(),
        "Date".to_string(),
    );
    assert_eq!(added_fields(), std::slice::from_ref(&since));
    {
        let st = sb.app().campaigns.store.lock().unwrap();
        let l = st.lists.iter().find(|l| l.key == key).unwrap();
        assert_eq!(l.members.len() as u64, added);
        for (email, member) in &l.members {
            assert!(member.topics.contains(&topic), "{email}: {member:?}");
            let c = &st.contacts[email];
            assert_eq!(
                (
                    c.get("subscription_type").map(String::as_str),
                    c.get("lawful_basis").map(String::as_str)
                ),
                (Some("Non-marketing"), Some("Contract")),
                "{email}: {c:?}"
            );
            let day = c.get("customer_since").map(String::as_str).unwrap_or("");
            assert!(
                day.len() == 10 && day.as_bytes()[4] == b'-',
                "{email}: {c:?}"
            );
        }
    }

    // A phone given in Invoice reaches Campaigns; removed there, it is
    // removed in Campaigns too.
    let contacts = invoice_contacts(&sb).await;
    let contact = contacts
        .iter()
        .find(|c| c["contact_type"] == "customer" && c["contact_persons"][0]["email"].is_string())
        .expect("a customer with an address");
    let id = contact["contact_id"].as_str().unwrap();
    let email = contact["contact_persons"][0]["email"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    let phone_of = || {
        let st = sb.app().campaigns.store.lock().unwrap();
        st.contacts[&email].get("phone").cloned()
    };
    for (phone, expected) in [("+1 555 0100", Some("+1 555 0100".to_string())), ("", None)] {
        // A list row's phone is its primary contact person's.
        let mut person = contact["contact_persons"][0].clone();
        person["phone"] = json!(phone);
        sb.app()
            .ui_finance_write(
                Product::Invoice,
                INVOICE_ORG,
                "contacts",
                id,
                json!({ "contact_persons": [person] }),
            )
            .unwrap();
        let report = tokio::task::block_in_place(|| sync(&bench));
        assert_eq!(
            (
                report["counts"]["updated"].as_u64(),
                report["counts"]["failed"].as_u64()
            ),
            (Some(1), Some(0)),
            "phone {phone:?}: {}",
            report["counts"]
        );
        assert_eq!(phone_of(), expected, "phone {phone:?}");
    }
    // Added once, though every run (each its own process) maps it: the
    // later ones find it.
    assert_eq!(added_fields(), [since]);
    assert_eq!(calls(&sb, "/custom/add"), 1, "{:?}", sb.app().requests());
}

/// A run of one record (`--record`) adds a missing field first too, as a
/// whole run does: the field is there and holds the record's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_record_run_adds_the_new_field_first() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let (key, _) = list(&sb, "Invoice customers");
    let bench = bench_with(
        &sb,
        &key,
        // A record read alone is in full: its address is its person's.
        r#"    fields:
      contact_email: contact_persons[0].email
      Customer Since: { from: created_time, type: date, new_field: true }
"#,
    );
    let contact = invoice_contacts(&sb).await[0].clone();
    let id = contact["contact_id"].as_str().unwrap();
    let out = bench.ferry_ok(&["sync", "run", "subscribers", "--record", id]);
    let st = sb.app().campaigns.store.lock().unwrap();
    assert!(
        st.fields
            .iter()
            .any(|f| f.custom && f.display == "Customer Since" && f.field_type == "Date"),
        "{out}"
    );
    let email = contact["contact_persons"][0]["email"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        st.contacts
            .get(&email)
            .is_some_and(|c| c.contains_key("customer_since")),
        "{out}: {:?}",
        st.contacts.get(&email)
    );
}

/// A sync writing addresses alone adds them ten at a time through
/// `addlistsubscribersinbulk`; once a field more is mapped, each contact
/// goes through `listsubscribe` with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_alone_are_added_in_bulk() {
    let sb = Sandbox::builder().seed(6).start().await.unwrap();
    let (key, _) = list(&sb, "Invoice customers");
    let bench = bench_with(
        &sb,
        &key,
        r#"    match: { email: contact_email }
    fields:
      contact_email: email
"#,
    );
    let report = tokio::task::block_in_place(|| sync(&bench));
    assert_eq!(report["counts"]["failed"], 0, "{}", report["counts"]);
    let added = report["counts"]["added"].as_u64().unwrap();
    let (_, subs) = list(&sb, "Invoice customers");
    assert_eq!(subs.len() as u64, added);
    assert!(added > 1, "{}", report["counts"]);
    assert_eq!(calls(&sb, "/addlistsubscribersinbulk"), added.div_ceil(10));
    assert_eq!(calls(&sb, "/json/listsubscribe"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaigns_connector_replays_offline() {
    let sb = Sandbox::builder().start().await.unwrap();
    let key = {
        let mut st = sb.app().campaigns.store.lock().unwrap();
        let key = st.lists[0].key.clone();
        let info = json!({"Contact Email": "ann@example.com", "First Name": "Ann"});
        st.subscribe(&key, info.as_object().unwrap(), None, 0)
            .unwrap();
        key
    };
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("campaigns.json");
    let connectors = support::repo_root().join("connectors");
    let plugins = Bench::plugin_dir();
    let setting = format!("list_key={key}");
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["plugins", "test", "zoho-campaigns", "--connectors"])
            .arg(&connectors)
            .arg("--plugin-dir")
            .arg(&plugins)
            .args(["--setting", &setting])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let url = sb.base_url();
    let path = cassette.to_str().unwrap();
    let (ok, out) = tokio::task::block_in_place(|| run(&["--sandbox", &url, "--record", path]));
    assert!(ok, "{out}");
    for module in ["lists", "subscribers", "topics", "fields"] {
        assert!(out.contains(module), "{out}");
    }
    assert!(out.contains("check: ok"), "{out}");
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(text.contains("ann@example.com"), "the list was read");
    let client = sb.client_credentials();
    assert!(
        !text.contains(&client.client_secret),
        "a secret was recorded"
    );
    drop(sb);

    let (ok, out) = run(&["--replay", path]);
    assert!(ok, "{out}");
    assert!(out.contains("same outcome"), "{out}");
}
