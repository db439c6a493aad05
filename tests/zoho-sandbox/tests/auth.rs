mod common;

use std::time::Duration;

use common::{Api, T0};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zoho_sandbox::{Product, Sandbox};

#[tokio::test]
async fn refresh_grant_in_query_or_form() {
    let sb = Sandbox::builder().start().await.unwrap();
    let http = reqwest::Client::new();
    let c = sb.client_credentials();
    let form = format!(
        "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        c.client_id, c.client_secret, c.refresh_token
    );
    let v: Value = http
        .post(sb.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["api_domain"], sb.base_url());
    assert!(v["access_token"].as_str().unwrap().starts_with("1000."));
    let q = common::token(&sb, &http).await;
    assert_ne!(q, v["access_token"].as_str().unwrap());

    let bad: Value = http
        .post(format!(
            "{}?grant_type=refresh_token&client_id=nope&client_secret=x&refresh_token=y",
            sb.token_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad, json!({"error": "invalid_client"}));
    let bad: Value = http
        .post(format!(
            "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token=wrong",
            sb.token_url(),
            c.client_id,
            c.client_secret
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad, json!({"error": "invalid_code"}));
}

#[tokio::test]
async fn tokens_expire_by_the_clock() {
    let api = Api::start(
        Sandbox::builder()
            .fixed_clock(T0)
            .token_lifetime(Duration::from_secs(2)),
    )
    .await;
    let (s, _) = api.get("/crm/v8/Leads?fields=Last_Name").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    api.sb.advance_clock(Duration::from_secs(2));
    let (s, v) = api.get("/crm/v8/Leads?fields=Last_Name").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v,
        json!({"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"})
    );
    let (s, v) = api.get(&api.books("/contacts")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v,
        json!({"code": 57, "message": "You are not authorized to perform this operation"})
    );
}

#[tokio::test]
async fn bearer_is_accepted_and_missing_token_rejected() {
    let api = Api::frozen(0).await;
    let url = format!("{}/crm/v8/settings/modules", api.sb.base_url());
    let r = api
        .http
        .get(&url)
        .header("Authorization", format!("Bearer {}", api.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = api
        .http
        .get(format!("{}/billing/v1/customers", api.sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 57);
}

#[tokio::test]
async fn mint_limit_blocks_the_eleventh_token() {
    let sb = Sandbox::builder()
        .fixed_clock(T0)
        .token_mint_limit(true)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for _ in 0..10 {
        common::token(&sb, &http).await;
    }
    let c = sb.client_credentials();
    let r = http
        .post(format!(
            "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
            sb.token_url(),
            c.client_id,
            c.client_secret,
            c.refresh_token
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "Access Denied");
    sb.advance_clock(Duration::from_secs(600));
    common::token(&sb, &http).await;
}

#[tokio::test]
async fn organisation_selection_per_product() {
    let api = Api::frozen(0).await;
    let books = api.sb.organization_id(Product::Books);
    let invoice = api.sb.organization_id(Product::Invoice);
    let billing = api.sb.organization_id(Product::Billing);
    // Books: query parameter.
    let (s, v) = api.get("/books/v3/contacts").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["code"], 6042);
    let (s, v) = api.get("/books/v3/contacts?organization_id=999").await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], 6041);
    let (s, _) = api
        .get(&format!("/books/v3/contacts?organization_id={books}"))
        .await;
    assert_eq!(s, 200);
    // Books ignores the Invoice header.
    let (s, _, _) = api
        .call(
            Method::GET,
            "/books/v3/contacts",
            None,
            &[("X-com-zoho-invoice-organizationid", &books)],
        )
        .await;
    assert_eq!(s, 400);
    // Invoice: header or query.
    let (s, _, _) = api
        .call(
            Method::GET,
            "/invoice/v3/contacts",
            None,
            &[("X-com-zoho-invoice-organizationid", &invoice)],
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .get(&format!("/invoice/v3/contacts?organization_id={invoice}"))
        .await;
    assert_eq!(s, 200);
    // Billing: header only.
    let (s, _) = api
        .get(&format!("/billing/v1/customers?organization_id={billing}"))
        .await;
    assert_eq!(s, 400);
    let (s, _, _) = api
        .call(
            Method::GET,
            "/billing/v1/customers",
            None,
            &[("X-com-zoho-subscriptions-organizationid", &billing)],
        )
        .await;
    assert_eq!(s, 200);
    // A Books org is unknown to Billing.
    let (s, _, _) = api
        .call(
            Method::GET,
            "/billing/v1/customers",
            None,
            &[("X-com-zoho-subscriptions-organizationid", &books)],
        )
        .await;
    assert_eq!(s, 400);
}
