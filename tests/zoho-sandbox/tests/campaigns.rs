//! Zoho Campaigns emulation over HTTP: token check, lists, subscribe /
//! update / unsubscribe, bulk add, topics, fields and custom fields, and
//! errors as HTTP 200 with `status: "error"` and a code.

mod common;

use common::*;
use reqwest::Client;
use serde_json::{Value, json};
use zoho_sandbox::Sandbox;

struct C {
    api: Api,
}

impl C {
    async fn start() -> C {
        C {
            api: Api::start(Sandbox::builder().fixed_clock(T0)).await,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/campaigns/api/v1.1/{path}", self.api.sb.base_url())
    }

    async fn get(&self, path: &str, q: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .api
            .http
            .get(format!("{}?resfmt=JSON{}", self.url(path), qs(q)))
            .header(
                "authorization",
                format!("Zoho-oauthtoken {}", self.api.token),
            )
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// POST with a form body (as the connector sends it).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .api
            .http
            .post(format!("{}?resfmt=JSON", self.url(path)))
            .header(
                "authorization",
                format!("Zoho-oauthtoken {}", self.api.token),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn list_key(&self, name: &str) -> String {
        let (_, v) = self.get("getmailinglists", &[]).await;
        v["list_of_details"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["listname"] == name)
            .map(|l| l["listkey"].as_str().unwrap().to_string())
            .expect("list")
    }
}

fn qs(q: &[(&str, &str)]) -> String {
    q.iter()
        .map(|(k, v)| format!("&{}={}", enc(k), enc(v)))
        .collect()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn token_is_required() {
    let c = C::start().await;
    let r = Client::new()
        .get(c.url("getmailinglists"))
        .header("authorization", "Zoho-oauthtoken nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["code"], "1007");
}

#[tokio::test]
async fn subscribe_update_read_back_and_unsubscribe() {
    let c = C::start().await;
    let (s, lists) = c.get("getmailinglists", &[]).await;
    assert_eq!(s, 200);
    assert_eq!(lists["status"], "success");
    assert_eq!(lists["list_of_details"].as_array().unwrap().len(), 2);
    let key = c.list_key("Invoice customers").await;

    let info =
        json!({"Contact Email": "ann@example.com", "First Name": "Ann", "Company Name": "Acme"});
    let (s, v) = c
        .post(
            "json/listsubscribe",
            &[("listkey", &key), ("contactinfo", &info.to_string())],
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("success")), "{v}");
    assert_eq!(v["message"], "User successfully subscribed.");

    let info = json!({"Contact Email": "ann@example.com", "Last Name": "Lee"});
    let (_, v) = c
        .post(
            "json/listsubscribe",
            &[("listkey", &key), ("contactinfo", &info.to_string())],
        )
        .await;
    assert_eq!(v["message"], "User details updated successfully.");

    let (_, subs) = c.get("getlistsubscribers", &[("listkey", &key)]).await;
    let all = subs["list_of_details"].as_array().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["contact_email"], "ann@example.com");
    assert_eq!(all[0]["firstname"], "Ann");
    assert_eq!(all[0]["lastname"], "Lee");
    assert_eq!(all[0]["companyname"], "Acme");

    let info = json!({"Contact Email": "ann@example.com"});
    let (_, v) = c
        .post(
            "json/listunsubscribe",
            &[("listkey", &key), ("contactinfo", &info.to_string())],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    let (_, subs) = c.get("getlistsubscribers", &[("listkey", &key)]).await;
    assert_eq!(subs["list_of_details"].as_array().unwrap().len(), 0);
    let (_, subs) = c
        .get(
            "getlistsubscribers",
            &[("listkey", &key), ("status", "unsub")],
        )
        .await;
    assert_eq!(subs["list_of_details"][0]["status"], "unsub");
}

#[tokio::test]
async fn errors_are_200_with_codes() {
    let c = C::start().await;
    let (s, v) = c.get("getlistsubscribers", &[("listkey", "nope")]).await;
    assert_eq!(
        (s, &v["status"], &v["code"]),
        (200, &json!("error"), &json!("2501"))
    );
    let key = c.list_key("Newsletter").await;
    let info = json!({"Contact Email": "b@example.com", "Plan": "Gold"});
    let (_, v) = c
        .post(
            "json/listsubscribe",
            &[("listkey", &key), ("contactinfo", &info.to_string())],
        )
        .await;
    assert_eq!(v["code"], "910", "{v}");
    let (_, v) = c.post("json/listsubscribe", &[("listkey", &key)]).await;
    assert_eq!(v["code"], "903", "{v}");
    // Subscription type and lawful basis take their listed values only
    // (UNCONFIRMED code 2010).
    for (field, value) in [("Subscription Type", "Spam"), ("Lawful Basis", "Whim")] {
        let info = json!({"Contact Email": "b@example.com", field: value});
        let (_, v) = c
            .post(
                "json/listsubscribe",
                &[("listkey", &key), ("contactinfo", &info.to_string())],
            )
            .await;
        assert_eq!(v["code"], "2010", "{field}: {v}");
    }
    let info = json!({"Contact Email": "b@example.com", "Subscription Type": "Non-marketing", "Lawful Basis": "Contract"});
    let (_, v) = c
        .post(
            "json/listsubscribe",
            &[("listkey", &key), ("contactinfo", &info.to_string())],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    let (_, subs) = c.get("getlistsubscribers", &[("listkey", &key)]).await;
    let sub = &subs["list_of_details"][0];
    assert_eq!(
        (
            sub["subscription_type"].as_str(),
            sub["lawful_basis"].as_str()
        ),
        (Some("Non-marketing"), Some("Contract")),
        "{sub}"
    );
    let many: Vec<String> = (0..11).map(|i| format!("u{i}@example.com")).collect();
    let (_, v) = c
        .post(
            "addlistsubscribersinbulk",
            &[("listkey", &key), ("emailids", &many.join(","))],
        )
        .await;
    assert_eq!(v["code"], "2303");
}

#[tokio::test]
async fn custom_fields_topics_and_bulk() {
    let c = C::start().await;
    let (_, v) = c
        .post(
            "custom/add",
            &[
                ("type", "json"),
                ("fieldname", "Plan"),
                ("fieldtype", "Text"),
            ],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["response"]["fieldname"], "Plan");
    let (_, v) = c
        .post(
            "custom/add",
            &[
                ("type", "json"),
                ("fieldname", "Plan"),
                ("fieldtype", "Text"),
            ],
        )
        .await;
    assert_eq!(v["code"], "916");
    let (_, f) = c.get("contact/allfields", &[("type", "json")]).await;
    let names: Vec<&str> = f["response"]["fieldnames"]["fieldname"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["DISPLAY_NAME"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Contact Email") && names.contains(&"Plan"),
        "{names:?}"
    );

    let (_, v) = c
        .post(
            "topics",
            &[("details", "{topic_name:Billing,topic_desc:Invoices}")],
        )
        .await;
    let topic = v["topic_id"].as_str().expect("topic_id").to_string();
    let (_, t) = c.get("topics", &[]).await;
    assert!(
        t["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["topic_id"] == topic.as_str())
    );

    let key = c.list_key("Newsletter").await;
    let info = json!({"Contact Email": "c@example.com", "Plan": "Gold"});
    let (_, v) = c
        .post(
            "json/listsubscribe",
            &[
                ("listkey", &key),
                ("contactinfo", &info.to_string()),
                ("topic_id", &topic),
            ],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    let (_, v) = c
        .post(
            "addlistsubscribersinbulk",
            &[
                ("listkey", &key),
                ("emailids", "d@example.com,e@example.com"),
            ],
        )
        .await;
    assert_eq!(v["status"], "success", "{v}");
    let (_, subs) = c
        .get(
            "getlistsubscribers",
            &[("listkey", &key), ("fromindex", "2"), ("range", "5")],
        )
        .await;
    let page = subs["list_of_details"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["contact_email"], "d@example.com");
    let (_, first) = c
        .get("getlistsubscribers", &[("listkey", &key), ("range", "1")])
        .await;
    assert_eq!(first["list_of_details"][0]["plan"], "Gold");
    assert_eq!(first["list_of_details"][0]["topics"][0], topic.as_str());
}
