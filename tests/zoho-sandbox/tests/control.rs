mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::{Api, T0};
use reqwest::Method;
use serde_json::{Value, json};
use zoho_sandbox::{FaultConfig, LimitConfig, Product, Sandbox};

type Inbox = Arc<Mutex<Vec<Value>>>;

async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let app = Router::new().route(
        "/hook",
        post(
            |State(i): State<Inbox>, body: axum::Json<Value>| async move {
                i.lock().unwrap().push(body.0);
                "ok"
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let inbox2 = inbox.clone();
    tokio::spawn(async move { axum::serve(l, app.with_state(inbox2)).await.unwrap() });
    (url, inbox)
}

/// Benchmarks count calls by kind: requests served, by method and route
/// with ids left out, and each organisation's use under the limits.
#[tokio::test]
async fn requests_are_counted_by_route_and_organisation() {
    let api = Api::frozen(0).await;
    for _ in 0..2 {
        let (s, _) = api.get(&api.books("/contacts")).await;
        assert_eq!(s, 200);
    }
    let v = api.control(Method::GET, "/requests", None).await;
    assert_eq!(v["requests"]["GET /books/v3/contacts"], 2, "{v}");
    let v = api.control(Method::GET, "/limits/usage", None).await;
    let books = v["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["product"] == "books")
        .cloned()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(books["requests"], 2, "{v}");
    assert_eq!(books["throttled"], 0, "{v}");
}

#[tokio::test]
async fn seed_counts_reset_over_http() {
    let api = Api::frozen(0).await;
    let v = api
        .control(Method::POST, "/seed", Some(json!({"records": 12})))
        .await;
    let counts = &v["counts"];
    for key in [
        "crm/Leads",
        "crm/Accounts",
        "crm/Contacts",
        "crm/Deals",
        "crm/Products",
        "books/10234695/invoices",
        "books/10234696/contacts",
        "invoice/20234695/estimates",
        "billing/30234695/customers",
        "billing/30234695/customerpayments",
        "books/10234695/creditnotes",
        "books/10234695/items",
    ] {
        assert_eq!(counts[key], 12, "{key}: {counts}");
    }
    let v = api.control(Method::GET, "/counts", None).await;
    assert_eq!(v["crm/Deals"], 12);
    let v = api.control(Method::POST, "/reset", Some(json!({}))).await;
    assert_eq!(v["counts"]["crm/Deals"], 0);
    // Seeded finance data is consistent: paid invoices have zero balance.
    api.sb.seed(8);
    let (_, v) = api.get(&api.books("/invoices?filter_by=Status.Paid")).await;
    assert_eq!(v["invoices"].as_array().unwrap().len(), 2);
    assert!(
        v["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["balance"] == 0.0)
    );
    let v = api.control(Method::GET, "/info", None).await;
    assert_eq!(v["base_url"], api.sb.base_url());
}

#[tokio::test]
async fn clock_over_http() {
    let api = Api::frozen(0).await;
    let v = api
        .control(
            Method::POST,
            "/clock",
            Some(json!({"set": "2030-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(v["now"], "2030-01-01T00:00:00+00:00");
    let v = api
        .control(Method::POST, "/clock", Some(json!({"advance_ms": 1500})))
        .await;
    assert_eq!(v["now_ms"], 1_893_456_001_500i64);
}

#[tokio::test]
async fn crm_watch_notifications() {
    let api = Api::frozen(0).await;
    let (url, inbox) = receiver().await;
    let (s, v) = api.post("/crm/v8/actions/watch", json!({"watch": [{"channel_id": "1000000068001", "notify_url": url, "events": ["Deals.all", "Accounts.create"], "token": "TOKEN1"}]})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["watch"][0]["code"], "SUCCESS");
    let (_, v) = api
        .post("/crm/v8/Accounts", json!({"data": [{"Account_Name": "W"}]}))
        .await;
    let acc = v["data"][0]["details"]["id"].as_str().unwrap().to_string();
    api.put(
        &format!("/crm/v8/Accounts/{acc}"),
        json!({"data": [{"Phone": "1"}]}),
    )
    .await; // not watched
    let (_, v) = api.post("/crm/v8/Deals", json!({"data": [{"Deal_Name": "D", "Stage": "Qualification", "Closing_Date": "2025-03-01"}]})).await;
    let deal = v["data"][0]["details"]["id"].as_str().unwrap().to_string();
    api.control(
        Method::PUT,
        &format!("/ui/crm/Deals/{deal}"),
        Some(json!({"Stage": "Closed Won"})),
    )
    .await;
    api.sb.flush_notifications().await;
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0]["module"], "Accounts");
    assert_eq!(got[0]["operation"], "insert");
    assert_eq!(got[0]["token"], "TOKEN1");
    assert_eq!(got[0]["channel_id"], "1000000068001");
    assert_eq!(got[2]["operation"], "update");
    assert_eq!(got[2]["ids"][0], deal);
    assert!(got[2]["affected_fields"].to_string().contains("Stage"));
    let (s, v) = api.get("/crm/v8/actions/watch").await;
    assert_eq!(s, 200);
    assert_eq!(v["watch"].as_array().unwrap().len(), 1);
    let (s, _) = api
        .delete("/crm/v8/actions/watch?channel_ids=1000000068001")
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.get("/crm/v8/actions/watch").await;
    assert_eq!(s, 204);
    // Expired channels are not notified.
    let (s, v) = api.post("/crm/v8/actions/watch", json!({"watch": [{"channel_id": "2", "notify_url": "http://127.0.0.1:1/x", "events": ["Leads.all"], "channel_expiry": "2030-01-01T00:00:00+00:00"}]})).await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn finance_webhooks() {
    let api = Api::frozen(0).await;
    let (url, inbox) = receiver().await;
    let org = api.sb.organization_id(Product::Books);
    api.control(
        Method::POST,
        "/webhooks",
        Some(json!({"product": "books", "organization_id": org, "entity": "invoice", "url": url})),
    )
    .await;
    let (_, v) = api
        .post(&api.books("/contacts"), json!({"contact_name": "H"}))
        .await;
    let cid = v["contact"]["contact_id"].as_str().unwrap().to_string();
    let (_, v) = api
        .post(
            &api.books("/invoices"),
            json!({"customer_id": cid, "line_items": [{"name": "x", "rate": 5}]}),
        )
        .await;
    let id = v["invoice"]["invoice_id"].as_str().unwrap().to_string();
    api.control(
        Method::POST,
        &format!("/ui/books/{org}/invoices/{id}/sent"),
        None,
    )
    .await;
    api.sb.flush_notifications().await;
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["invoice"]["invoice_id"], id);
    assert_eq!(got[1]["invoice"]["status"], "sent");
    let log = api.control(Method::GET, "/notifications", None).await;
    assert_eq!(log.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn limits_answer_with_real_429_bodies() {
    let api = Api::frozen(0).await;
    api.sb.limits(LimitConfig {
        per_minute: Some(3),
        per_day: Some(1000),
        concurrency: None,
        window_ms: None,
    });
    for _ in 0..3 {
        let (s, h, _) = api
            .call(Method::GET, &api.books("/contacts"), None, &[])
            .await;
        assert_eq!(s, 200);
        assert!(h.contains_key("x-rate-limit-remaining"));
    }
    let (s, _, v) = api
        .call(Method::GET, &api.books("/contacts"), None, &[])
        .await;
    assert_eq!(s, 429);
    assert_eq!(v["code"], 44);
    // Another organisation has its own budget.
    let org2 = api.sb.organizations(Product::Books)[1]
        .organization_id
        .clone();
    let (s, _) = api
        .get(&format!("/books/v3/contacts?organization_id={org2}"))
        .await;
    assert_eq!(s, 200);
    // CRM.
    for _ in 0..3 {
        api.get("/crm/v8/settings/modules").await;
    }
    let (s, h, v) = api
        .call(Method::GET, "/crm/v8/settings/modules", None, &[])
        .await;
    assert_eq!(s, 429);
    assert_eq!(v["code"], "TOO_MANY_REQUESTS");
    assert!(h.contains_key("retry-after"));
    // The next minute is fine again.
    api.sb.advance_clock(Duration::from_secs(60));
    let (s, _) = api.get(&api.books("/contacts")).await;
    assert_eq!(s, 200);
    // Daily cap.
    api.sb.limits(LimitConfig {
        per_minute: None,
        per_day: Some(1),
        concurrency: None,
        window_ms: None,
    });
    api.sb.advance_clock(Duration::from_secs(86_400));
    api.get(&api.books("/contacts")).await;
    let (s, v) = api.get(&api.books("/contacts")).await;
    assert_eq!(s, 429);
    assert_eq!(v["code"], 45);
    assert_eq!(
        v["message"],
        "The API call for this organization has exceeded the maximum call rate limit of 1."
    );
}

#[tokio::test]
async fn concurrency_limit() {
    let api = Api::frozen(0).await;
    api.sb.limits(LimitConfig {
        per_minute: None,
        per_day: None,
        concurrency: Some(1),
        window_ms: None,
    });
    // Hold a permit through the library, then call over HTTP.
    let permit = api
        .sb
        .app()
        .limits
        .admit(Product::Books, &api.sb.organization_id(Product::Books), T0)
        .unwrap();
    let (s, v) = api.get(&api.books("/contacts")).await;
    assert_eq!(s, 429);
    assert_eq!(v["code"], 1070);
    drop(permit);
    assert_eq!(api.get(&api.books("/contacts")).await.0, 200);
}

#[tokio::test]
async fn faults_are_deterministic() {
    let api = Api::frozen(0).await;
    let cfg = FaultConfig {
        seed: 7,
        error_rate: 0.3,
        rate_limit_rate: 0.2,
        ..Default::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        api.sb.faults(cfg.clone());
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(api.get("/crm/v8/settings/modules").await.0.as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&500) && runs[0].contains(&429) && runs[0].contains(&200));
    // Dropped connections and truncated bodies are client-side errors.
    api.sb.faults(FaultConfig {
        seed: 1,
        drop_rate: 1.0,
        ..Default::default()
    });
    let url = format!("{}/crm/v8/settings/modules", api.sb.base_url());
    let r = api
        .http
        .get(&url)
        .header("Authorization", format!("Zoho-oauthtoken {}", api.token))
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed);
    api.sb.faults(FaultConfig {
        seed: 1,
        truncate_rate: 1.0,
        ..Default::default()
    });
    let r = reqwest::Client::new()
        .get(&url)
        .header("Authorization", format!("Zoho-oauthtoken {}", api.token))
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(
        failed,
        "a truncated body must not read as a complete response"
    );
    // Control endpoints are never faulted; switch off over HTTP.
    api.control(Method::POST, "/faults", Some(json!({}))).await;
    assert_eq!(api.get("/crm/v8/settings/modules").await.0, 200);
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = std::env::temp_dir().join(format!("zoho-sandbox-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let sb = Sandbox::builder()
        .fixed_clock(T0)
        .seed(7)
        .state_file(&file)
        .start()
        .await
        .unwrap();
    let before = sb.counts();
    sb.shutdown().await.unwrap();
    let sb = Sandbox::builder()
        .fixed_clock(T0)
        .state_file(&file)
        .start()
        .await
        .unwrap();
    assert_eq!(sb.counts(), before);
    let http = reqwest::Client::new();
    let token = common::token(&sb, &http).await;
    // Indexes were rebuilt: incremental listing and unique checks still work.
    let v: Value = http
        .get(format!("{}/crm/v8/Accounts?fields=Account_Name&sort_by=Modified_Time&sort_order=asc&per_page=3", sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert_eq!(v["data"][0]["Account_Name"], "Account 000001");
    let r = http
        .post(format!("{}/crm/v8/Accounts", sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .json(&json!({"data": [{"Account_Name": "Account 000001"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
