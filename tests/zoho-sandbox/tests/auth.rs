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

/// `POST /oauth/v2/token` with form parameters; the JSON answer.
async fn token_form(sb: &Sandbox, http: &reqwest::Client, pairs: &[(&str, &str)]) -> Value {
    let form: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&");
    http.post(sb.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn self_client_codes_work_once_and_expire() {
    let sb = Sandbox::builder().fixed_clock(T0).start().await.unwrap();
    let http = reqwest::Client::new();
    let c = sb.client_credentials();
    // Minted over the control API, as a script would.
    let minted: Value = http
        .post(format!("{}/__sandbox/auth/code", sb.base_url()))
        .body(r#"{"scope": "ZohoBooks.contacts.ALL", "expires_in_secs": 60}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = minted["code"].as_str().unwrap();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("code", code),
    ];
    let v = token_form(&sb, &http, &exchange).await;
    assert_eq!(v["token_type"], "Bearer", "{v}");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["api_domain"], sb.base_url());
    assert_eq!(v["scope"], "ZohoBooks.contacts.ALL");
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(refresh, c.refresh_token);
    // Used: refused.
    let again = token_form(&sb, &http, &exchange).await;
    assert_eq!(again, json!({"error": "invalid_code"}));
    // The new refresh token mints access tokens that the APIs accept.
    let v = token_form(
        &sb,
        &http,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    let access = v["access_token"].as_str().unwrap();
    let r = http
        .get(format!("{}/crm/v8/org", sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Revoked: the refresh token and its access tokens stop working.
    assert!(sb.revoke_refresh_token(&refresh));
    let r = http
        .get(format!("{}/crm/v8/org", sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Expired by the sandbox clock.
    let late = sb.grant_code(Duration::from_secs(60));
    sb.advance_clock(Duration::from_secs(60));
    let mut expired = exchange;
    expired[3].1 = &late;
    assert_eq!(
        token_form(&sb, &http, &expired).await,
        json!({"error": "invalid_code"})
    );
    // Another data centre's account: its api_domain.
    sb.set_api_domain(Some("https://www.zohoapis.eu"));
    let fresh = sb.grant_code(Duration::from_secs(60));
    expired[3].1 = &fresh;
    let v = token_form(&sb, &http, &expired).await;
    assert_eq!(v["api_domain"], "https://www.zohoapis.eu");
}

fn auth_url(sb: &Sandbox, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{}/oauth/v2/auth", sb.base_url()), params).unwrap()
}

#[tokio::test]
async fn the_consent_page_redirects_with_the_code() {
    let sb = Sandbox::builder().start().await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let c = sb.client_credentials();
    let r = http
        .get(auth_url(
            &sb,
            &[
                ("response_type", "code"),
                ("client_id", c.client_id.as_str()),
                ("scope", "ZohoCRM.modules.ALL,ZohoCRM.settings.ALL"),
                ("redirect_uri", "http://127.0.0.1:1/callback"),
                ("access_type", "offline"),
                ("state", "xyz"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/callback");
    let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["location"], "us");
    assert_eq!(q["accounts-server"], sb.base_url());
    let v = token_form(
        &sb,
        &http,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:1/callback"),
        ],
    )
    .await;
    assert!(v["refresh_token"].is_string(), "{v}");

    let r = http
        .get(auth_url(
            &sb,
            &[
                ("response_type", "code"),
                ("client_id", "1000.UNKNOWN"),
                ("scope", "ZohoCRM.modules.ALL"),
                ("redirect_uri", "http://127.0.0.1:1/callback"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({"error": "invalid_client"}));
}
