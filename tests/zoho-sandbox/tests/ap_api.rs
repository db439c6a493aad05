//! Alternative Payments emulation: token endpoint and bearer checks,
//! documented shapes, pagination, errors.

mod ap_support;

use std::collections::BTreeSet;
use std::time::Duration;

use ap_support::*;
use reqwest::Method;
use serde_json::{Value, json};
use zoho_sandbox::{ApClient, Sandbox};

#[tokio::test]
async fn token_endpoint_and_bearer_checks() {
    let ap = Ap::with(
        Sandbox::builder()
            .fixed_clock(T0)
            .ap_rate_limit(None)
            .ap_client(ApClient {
                client_id: "second".into(),
                client_secret: "s2".into(),
            }),
    )
    .await;
    let c = ap.sb.ap_client_credentials();
    let (s, v) = token_for(&ap.sb, &ap.http, &c).await;
    assert_eq!(s, 200);
    assert_eq!(
        keys(&v),
        ["access_token", "expires_in", "token_type"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    let second = ApClient {
        client_id: "second".into(),
        client_secret: "s2".into(),
    };
    assert_eq!(token_for(&ap.sb, &ap.http, &second).await.0, 200);

    // Wrong client, wrong secret, no credentials: 401 HttpError.
    for bad in [
        ApClient {
            client_id: "nobody".into(),
            client_secret: c.client_secret.clone(),
        },
        ApClient {
            client_id: c.client_id.clone(),
            client_secret: "wrong".into(),
        },
    ] {
        let (s, v) = token_for(&ap.sb, &ap.http, &bad).await;
        assert_eq!(s, 401);
        assert_http_error(&v);
    }
    let r = ap
        .http
        .post(ap.sb.ap_token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Another grant type: 400.
    let r = ap
        .http
        .post(ap.sb.ap_token_url())
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&scope=read")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // No token, a made-up token, a Zoho token: 401.
    let url = format!("{}/customers", ap.sb.ap_base_url());
    let r = ap.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_http_error(&r.json().await.unwrap());
    let r = ap
        .http
        .get(&url)
        .bearer_auth("made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(ap.get("/customers").await.0, 200);

    // Expired on the sandbox clock.
    ap.sb.advance_clock(Duration::from_secs(3599));
    assert_eq!(ap.get("/customers").await.0, 200);
    ap.sb.advance_clock(Duration::from_secs(1));
    let (s, v) = ap.get("/customers").await;
    assert_eq!(s, 401);
    assert_http_error(&v);
}

#[tokio::test]
async fn shapes_follow_the_documented_examples() {
    let ap = Ap::start().await;
    let cust = ap.customer("Acme Inc").await;
    let (_, c) = ap.get(&format!("/customers/{cust}")).await;
    // CustomerReply example: created_at, default_payment_method_id, email,
    // external_id, id, name.
    assert_has(
        &c,
        &[
            "created_at",
            "default_payment_method_id",
            "email",
            "external_id",
            "id",
            "name",
        ],
    );
    assert_eq!(c["created_at"], "2025-01-15T12:00:00Z");
    assert_eq!(c["name"], "Acme Inc");

    let inv = ap
        .invoice(&cust, "2025-02-01", &[(100.0, 2), (12.5, 1)])
        .await;
    // Invoice example + schema.
    assert_has(
        &inv,
        &[
            "created_at",
            "currency",
            "customer_id",
            "due_date",
            "id",
            "invoice_number",
            "line_items",
            "status",
            "sub_total",
            "total",
        ],
    );
    assert_eq!(inv["sub_total"], json!(212.5));
    assert_eq!(inv["total"], json!(212.5));
    assert_eq!(inv["currency"], "USD");
    assert_eq!(inv["due_date"], "2025-02-01");
    assert_eq!(inv["customer_id"], json!(cust));
    assert_has(
        &inv["line_items"][0],
        &["amount", "description", "quantity"],
    );
    let (s, again) = ap
        .get(&format!("/invoices/{}", inv["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 200);
    assert_eq!(again, inv);

    let (s, page) = ap.get("/invoices").await;
    assert_eq!(s, 200);
    assert_envelope(&page);

    // A payment and a payout: Payment and Payout examples.
    let iid = inv["id"].as_str().unwrap();
    let (s, p) = ap
        .control(
            Method::POST,
            &format!("/invoices/{iid}/payments"),
            json!({"amount": 50}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert_has(
        &p,
        &[
            "created_at",
            "customer_id",
            "due_date",
            "fees",
            "id",
            "payment_method",
            "status",
            "sub_total",
            "total",
        ],
    );
    let (s, po) = ap.control(Method::POST, "/payouts", json!({})).await;
    assert_eq!(s, 201, "{po}");
    assert_has(
        &po,
        &[
            "arrival_date",
            "created_at",
            "customer_id",
            "fees",
            "id",
            "status",
            "sub_total",
            "total",
        ],
    );
    assert_eq!(po["status"], "succeeded");
}

#[tokio::test]
async fn pagination_walks_every_record_exactly_once() {
    let ap = Ap::start().await;
    // (records, limit): table.
    let table: &[(usize, Option<usize>)] = &[
        (0, None),
        (1, None),
        (5, Some(1)),
        (7, Some(3)),
        (9, Some(3)),
        (100, None),
        (101, None),
        (250, Some(100)),
        (30, Some(500)),
    ];
    for (n, limit) in table {
        ap.sb.app().ap_reset();
        ap.sb.app().ap_seed(*n, 0);
        let (all, pages) = ap.walk("/customers", *limit).await;
        let ids: BTreeSet<String> = all
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(all.len(), *n, "n={n} limit={limit:?}");
        assert_eq!(ids.len(), *n, "duplicates: n={n} limit={limit:?}");
        let per = limit.unwrap_or(100).min(100);
        assert_eq!(pages, n.div_ceil(per).max(1), "n={n} limit={limit:?}");
    }

    // Backwards from the last page with `before`.
    ap.sb.app().ap_reset();
    ap.sb.app().ap_seed(10, 0);
    let (_, last) = ap.get("/customers?limit=4&after=").await;
    let mut cursor = last["end_cursor"].as_str().unwrap().to_string();
    let (_, p) = ap
        .get(&format!("/customers?limit=4&after={}", url_escape(&cursor)))
        .await;
    cursor = p["end_cursor"].as_str().unwrap().to_string();
    let (_, p3) = ap
        .get(&format!("/customers?limit=4&after={}", url_escape(&cursor)))
        .await;
    assert_eq!(p3["data"].as_array().unwrap().len(), 2);
    assert_eq!(p3["has_next_page"], false);
    let mut seen = p3["data"].as_array().unwrap().len();
    let mut before = p3["start_cursor"].as_str().unwrap().to_string();
    loop {
        let (s, p) = ap
            .get(&format!(
                "/customers?limit=4&before={}",
                url_escape(&before)
            ))
            .await;
        assert_eq!(s, 200);
        seen += p["data"].as_array().unwrap().len();
        assert_eq!(p["has_next_page"], true);
        if p["has_previous_page"] != json!(true) {
            break;
        }
        before = p["start_cursor"].as_str().unwrap().to_string();
    }
    assert_eq!(seen, 10);

    // Walking invoices while new ones are added: nothing lost or doubled;
    // the new ones come last.
    ap.sb.app().ap_reset();
    ap.sb.app().ap_seed(3, 4);
    let cust = ap.customer("Late Co").await;
    let mut seen = BTreeSet::new();
    let mut after = String::new();
    for page in 0.. {
        let (s, p) = ap
            .get(&format!("/invoices?limit=5&after={}", url_escape(&after)))
            .await;
        assert_eq!(s, 200);
        for i in p["data"].as_array().unwrap() {
            assert!(seen.insert(i["id"].as_str().unwrap().to_string()));
        }
        if page == 0 {
            ap.invoice(&cust, "2025-03-01", &[(1.0, 1)]).await;
        }
        if p["has_next_page"] != json!(true) {
            break;
        }
        after = p["end_cursor"].as_str().unwrap().to_string();
    }
    assert_eq!(seen.len(), 13);
}

/// Method, path, body, status, fields with a validation error.
type ErrorCase = (Method, String, Option<Value>, u16, Vec<&'static str>);

#[tokio::test]
async fn errors() {
    let ap = Ap::start().await;
    let cust = ap.customer("Acme Inc").await;
    let missing = "00000000-0000-4000-8000-000000000000";
    // (method, path, body, status, fields with a validation error): table.
    let table: Vec<ErrorCase> = vec![
        (
            Method::POST,
            "/customers".into(),
            Some(json!({})),
            422,
            vec!["email", "name"],
        ),
        (
            Method::POST,
            "/customers".into(),
            Some(json!({"name": "x", "email": "nope"})),
            422,
            vec!["email"],
        ),
        (
            Method::POST,
            "/customers".into(),
            Some(json!([1])),
            400,
            vec![],
        ),
        (
            Method::GET,
            format!("/customers/{missing}"),
            None,
            404,
            vec![],
        ),
        (
            Method::GET,
            "/customers/not-an-id".into(),
            None,
            404,
            vec![],
        ),
        (
            Method::DELETE,
            format!("/customers/{missing}"),
            None,
            404,
            vec![],
        ),
        (Method::GET, format!("/invoices/{cust}"), None, 404, vec![]),
        (
            Method::GET,
            format!("/payouts/{missing}"),
            None,
            404,
            vec![],
        ),
        (
            Method::POST,
            "/invoices".into(),
            Some(
                json!({"currency": "EUR", "customer_id": missing, "due_date": "01/02/2025", "line_items": []}),
            ),
            422,
            vec!["currency", "customer_id", "due_date", "line_items"],
        ),
        (
            Method::POST,
            "/invoices".into(),
            Some(
                json!({"currency": "USD", "customer_id": cust, "due_date": "2025-02-01", "line_items": [{"amount": "ten", "quantity": 1}]}),
            ),
            422,
            vec!["line_items[0].amount"],
        ),
        (
            Method::GET,
            "/customers?limit=0".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            Method::GET,
            "/customers?limit=many".into(),
            None,
            400,
            vec!["limit"],
        ),
        (
            Method::GET,
            "/customers?after=bm90LWEtY3Vyc29y".into(),
            None,
            400,
            vec!["after"],
        ),
        (
            Method::GET,
            "/invoices?status=bogus".into(),
            None,
            400,
            vec!["status"],
        ),
        (
            Method::GET,
            "/invoices?created_at_start=yesterday".into(),
            None,
            400,
            vec!["created_at_start"],
        ),
        (Method::GET, "/nowhere".into(), None, 404, vec![]),
        (
            Method::PUT,
            "/invoices".into(),
            Some(json!({})),
            405,
            vec![],
        ),
    ];
    for (m, path, body, status, fields) in table {
        let (s, v) = ap.call(m.clone(), &path, body).await;
        assert_eq!(s.as_u16(), status, "{m} {path}: {v}");
        assert_http_error(&v);
        let got: BTreeSet<String> = keys(&v["validation_errors"]);
        let want: BTreeSet<String> = fields.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "{m} {path}: {v}");
    }
    // A cursor of another list is refused too.
    let (_, inv) = ap.get("/customers?limit=1").await;
    let c = inv["end_cursor"].as_str().unwrap();
    assert_eq!(
        ap.get(&format!("/invoices?after={}", url_escape(c)))
            .await
            .0,
        400
    );
    // Duplicate external_id: 409.
    let body = json!({"name": "A", "email": "a@x.example", "external_id": "e-1"});
    assert_eq!(ap.post("/customers", body.clone()).await.0, 201);
    let (s, v) = ap.post("/customers", body).await;
    assert_eq!(s, 409);
    assert_http_error(&v);
}
