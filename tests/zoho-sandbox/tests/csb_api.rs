//! CustomerSuccessBox emulation over HTTP: the secret key as Basic user
//! name, account and invoice upserts, the control view.

use serde_json::{Value, json};
use zoho_sandbox::Sandbox;
use zoho_sandbox::csb::SECRET_KEY;

async fn post(http: &reqwest::Client, url: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(key) = key {
        req = req.basic_auth(key, None::<&str>);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn upserts_with_the_secret_key_and_shows_what_arrived() {
    let sb = Sandbox::builder().start().await.unwrap();
    let http = reqwest::Client::new();
    let account = format!("{}/api_server/v1_1/account", sb.csb_base_url());
    let invoice = format!("{}/api_server/v1_1/invoice", sb.csb_base_url());

    let acme =
        json!({"account_id": "ACME-1", "name": "Acme", "custom_traits": {"overdue_amount": 40}});
    assert_eq!(post(&http, &account, None, acme.clone()).await.0, 401);
    let (s, v) = post(&http, &account, Some("wrong-key"), acme.clone()).await;
    assert_eq!((s, v["error"].as_str()), (401, Some("invalid secret key")));
    let (s, v) = post(&http, &account, Some(SECRET_KEY), acme).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["custom_traits"]["overdue_amount"], 40);

    let inv = json!({"invoice_id": "9", "account_id": "ACME-1", "status": "partially_paid",
        "total": 100.0, "amount_paid": 40, "amount_due": 60.0});
    let (s, v) = post(&http, &invoice, Some(SECRET_KEY), inv.clone()).await;
    assert_eq!(s, 200, "{v}");
    let orphan = json!({"invoice_id": "10", "account_id": "NOPE", "total": 1});
    assert_eq!(post(&http, &invoice, Some(SECRET_KEY), orphan).await.0, 404);

    let shown: Value = http
        .get(format!("{}/__sandbox/csb", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["invoices"]["9"], inv);
    assert_eq!(shown["accounts"]["ACME-1"]["name"], "Acme");
    assert_eq!(shown["writes"], 2);
    assert_eq!(sb.csb().invoices.len(), 1);

    let reset = http
        .post(format!("{}/__sandbox/csb/reset", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 200);
    assert!(sb.csb().accounts.is_empty());
    sb.shutdown().await.unwrap();
}
