//! Alternative Payments emulation: filters, payments, archive, payouts,
//! the rate limit and the control API.

mod ap_support;

use std::time::Duration;

use ap_support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zoho_sandbox::Sandbox;

#[tokio::test]
async fn filters() {
    let ap = Ap::start().await;
    let acme = ap.customer("Acme Inc").await;
    ap.sb.advance_clock(Duration::from_secs(3600));
    let globex = ap.customer("Globex Corp").await;

    // Customers: company_name (case-insensitive part), created_at range.
    let (_, v) = ap.get("/customers?company_name=acme").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], json!(acme));
    let (_, v) = ap
        .get("/customers?created_at_start=2025-01-15T12:30:00Z")
        .await;
    assert_eq!(v["data"][0]["id"], json!(globex));
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (_, v) = ap
        .get("/customers?created_at_end=2025-01-15T12:00:00Z")
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    let a1 = ap.invoice(&acme, "2025-02-01", &[(10.0, 1)]).await;
    let a2 = ap.invoice(&acme, "2025-03-01", &[(20.0, 1)]).await;
    let g1 = ap.invoice(&globex, "2025-02-15", &[(30.0, 1)]).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };

    // (query, expected invoices): table.
    let table: Vec<(String, Vec<String>)> = vec![
        (format!("customer_id={acme}"), vec![id(&a1), id(&a2)]),
        (format!("customer_id={globex}"), vec![id(&g1)]),
        (
            "due_date_start=2025-02-10T00:00:00Z".into(),
            vec![id(&a2), id(&g1)],
        ),
        (
            "due_date_end=2025-02-15T00:00:00Z".into(),
            vec![id(&a1), id(&g1)],
        ),
        (
            "due_date_start=2025-02-02&due_date_end=2025-02-28".into(),
            vec![id(&g1)],
        ),
        ("status=open".into(), vec![id(&a1), id(&a2), id(&g1)]),
        ("status=paid".into(), vec![]),
        (
            "created_at_start=2025-01-15T13:00:00Z".into(),
            vec![id(&a1), id(&a2), id(&g1)],
        ),
        ("created_at_end=2025-01-15T12:59:59Z".into(), vec![]),
        (
            "customer_id=00000000-0000-4000-8000-000000000000".into(),
            vec![],
        ),
    ];
    for (q, want) in &table {
        let (s, v) = ap.get(&format!("/invoices?{q}")).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(&ids(&v), want, "{q}");
    }

    // Payments: invoice, customer, status, type, method.
    let apr = &ap;
    let pay = |inv: &Value, body: Value| {
        let path = format!("/invoices/{}/payments", inv["id"].as_str().unwrap());
        async move { apr.control(Method::POST, &path, body).await }
    };
    let (s, p1) = pay(&a1, json!({"amount": 4})).await;
    assert_eq!(s, 201, "{p1}");
    let (_, p2) = pay(&g1, json!({"payment_method": "standard_ach"})).await;
    let (_, p3) = pay(&a2, json!({"amount": 5, "status": "failed"})).await;
    let table: Vec<(String, Vec<String>)> = vec![
        (format!("invoice_id={}", id(&a1)), vec![id(&p1)]),
        (format!("customer_id={acme}"), vec![id(&p1), id(&p3)]),
        ("status=failed".into(), vec![id(&p3)]),
        ("status=succeeded".into(), vec![id(&p1), id(&p2)]),
        ("payment_method=standard_ach".into(), vec![id(&p2)]),
        ("type=payment".into(), vec![id(&p1), id(&p2), id(&p3)]),
        ("type=refund".into(), vec![]),
    ];
    for (q, want) in &table {
        let (s, v) = ap.get(&format!("/payments?{q}")).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(&ids(&v), want, "{q}");
    }

    // Payouts: status, customer, invoice.
    let (_, po1) = ap
        .control(Method::POST, "/payouts", json!({"payment_ids": [id(&p1)]}))
        .await;
    let (_, po2) = ap
        .control(
            Method::POST,
            "/payouts",
            json!({"payment_ids": [id(&p2)], "status": "pending"}),
        )
        .await;
    let table: Vec<(String, Vec<String>)> = vec![
        ("status=pending".into(), vec![id(&po2)]),
        (format!("customer_id={acme}"), vec![id(&po1)]),
        (format!("invoice_id={}", id(&g1)), vec![id(&po2)]),
        (String::new(), vec![id(&po1), id(&po2)]),
    ];
    for (q, want) in &table {
        let (s, v) = ap.get(&format!("/payouts?{q}")).await;
        assert_eq!(s, 200, "{q}: {v}");
        assert_eq!(&ids(&v), want, "{q}");
    }
    let (s, v) = ap.get(&format!("/payouts/{}/transactions", id(&po1))).await;
    assert_eq!(s, 200);
    assert_envelope(&v);
    assert_eq!(ids(&v), vec![id(&p1)]);
    let (s, v) = ap.get(&format!("/payouts/{}", id(&po2))).await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(30)));
}

#[tokio::test]
async fn payments_archive_and_control() {
    let ap = Ap::start().await;
    let cust = ap.customer("Acme Inc").await;
    let inv = ap.invoice(&cust, "2025-02-01", &[(100.0, 1)]).await;
    let iid = inv["id"].as_str().unwrap();
    assert_eq!(
        (inv["status"].clone(), inv["amount_due"].clone()),
        (json!("open"), json!(100))
    );

    // Partial, then the rest.
    let (s, _) = ap
        .control(
            Method::POST,
            &format!("/invoices/{iid}/payments"),
            json!({"amount": 40.5}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, v) = ap.get(&format!("/invoices/{iid}")).await;
    assert_eq!(v["status"], "partially_paid");
    assert_eq!(v["amount_paid"], json!(40.5));
    assert_eq!(v["amount_due"], json!(59.5));
    // More than is due: refused.
    let (s, v) = ap
        .control(
            Method::POST,
            &format!("/invoices/{iid}/payments"),
            json!({"amount": 60}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = ap
        .control(
            Method::POST,
            &format!("/invoices/{iid}/payments"),
            json!({}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, v) = ap.get(&format!("/invoices/{iid}?x=1")).await;
    assert_eq!(
        (v["status"].clone(), v["amount_due"].clone()),
        (json!("paid"), json!(0))
    );
    let (_, v) = ap.get(&format!("/payments?invoice_id={iid}")).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);

    // Archive over the API: flagged, out of the list, still readable.
    let (s, v) = ap
        .call(Method::DELETE, &format!("/customers/{cust}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "archived");
    assert_eq!(v["archived_at"], "2025-01-15T12:00:00Z");
    assert_eq!(
        ap.call(Method::DELETE, &format!("/customers/{cust}"), None)
            .await
            .0,
        200
    );
    let (_, list) = ap.get("/customers").await;
    assert_eq!(list["data"], json!([]));
    let (s, v) = ap.get(&format!("/customers/{cust}")).await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("archived"))
    );
    let (s, v) = ap
        .post("/invoices", json!({"currency": "USD", "customer_id": cust, "due_date": "2025-02-01", "line_items": [{"amount": 1, "description": "x", "quantity": 1}]}))
        .await;
    assert_eq!(s, 422);
    assert!(v["validation_errors"]["customer_id"].is_string());

    // Archive as the UI; create as the UI.
    let (s, c2) = ap
        .control(
            Method::POST,
            "/customers",
            json!({"name": "Globex", "email": "g@x.example"}),
        )
        .await;
    assert_eq!(s, 201);
    let c2 = c2["id"].as_str().unwrap();
    let (s, v) = ap
        .control(Method::POST, &format!("/customers/{c2}/archive"), json!({}))
        .await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("archived"))
    );

    // Everything, for assertions; counts; reset.
    let (s, all) = ap.control(Method::GET, "", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(all["customers"].as_array().unwrap().len(), 2);
    assert_eq!(all["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(all["payments"].as_array().unwrap().len(), 2);
    assert_eq!(all["base_url"], json!(ap.sb.ap_base_url()));
    assert_eq!(
        all["clients"][0]["client_id"],
        json!(ap.sb.ap_client_credentials().client_id)
    );
    let counts = ap.sb.counts();
    assert_eq!(
        (counts["ap/customers"], counts["ap/customers/archived"]),
        (2, 2)
    );
    let info: Value = ap
        .http
        .get(format!("{}/__sandbox/info", ap.sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["ap"]["token_url"], json!(ap.sb.ap_token_url()));
    let (s, v) = ap
        .control(
            Method::POST,
            "/seed",
            json!({"customers": 4, "invoices_per_customer": 5}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["ap/invoices"], 21);
    let (s, _) = ap.control(Method::POST, "/reset", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(ap.sb.counts()["ap/customers"], 0);
    // The whole-sandbox reset also clears AP.
    ap.sb.app().ap_seed(2, 1);
    ap.sb.reset();
    assert_eq!(ap.sb.counts()["ap/invoices"], 0);
}

/// Invoice updates (UNCONFIRMED shape, AP-UNCONFIRMED.md): an unpaid
/// invoice's amount and due date change; `amount_due` written by the
/// accounting system settles the rest elsewhere, never undoing AP's own
/// payments; a paid or settled invoice keeps its amount and date; archive
/// takes it out of the list unless AP took payments on it.
#[tokio::test]
async fn invoice_updates_and_archive() {
    let ap = Ap::start().await;
    let cust = ap.customer("Acme Inc").await;
    let inv = ap.invoice(&cust, "2025-02-01", &[(100.0, 1)]).await;
    let iid = inv["id"].as_str().unwrap().to_string();
    let path = format!("/invoices/{iid}");
    let patch = |body: Value| ap.call(Method::PATCH, &path, Some(body));

    // Unpaid: lines and due date change.
    let (s, v) = patch(json!({"due_date": "2025-03-01", "line_items": [{"amount": 120, "description": "Support", "quantity": 1}], "memo": "changed"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["due_date"].clone(),
            v["total"].clone(),
            v["amount_due"].clone(),
            v["memo"].clone()
        ),
        (
            json!("2025-03-01"),
            json!(120),
            json!(120),
            json!("changed")
        )
    );

    // Settled elsewhere in part (a credit in the accounting system).
    let (s, v) = patch(json!({"amount_due": 90})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["status"].clone(),
            v["amount_paid"].clone(),
            v["amount_due"].clone()
        ),
        (json!("partially_paid"), json!(30), json!(90))
    );
    // Now its amount and date are fixed; sending them unchanged is fine.
    let (s, v) = patch(json!({"due_date": "2025-04-01"})).await;
    assert_eq!(
        (s.as_u16(), v["code"].clone()),
        (409, json!("invoice_not_open")),
        "{v}"
    );
    assert_http_error(&v);
    let (s, v) = patch(json!({"due_date": "2025-03-01", "line_items": [{"amount": 120, "description": "Support", "quantity": 1}]})).await;
    assert_eq!(s, 200, "{v}");

    // AP's own payment counts whatever the accounting system says later.
    let (s, _) = ap
        .control(
            Method::POST,
            &format!("/invoices/{iid}/payments"),
            json!({"amount": 50}),
        )
        .await;
    assert_eq!(s, 201);
    let (_, v) = ap.get(&path).await;
    assert_eq!(v["amount_due"], json!(40), "{v}");
    // Behind on it (still 90 due there): AP keeps its payment.
    let (_, v) = patch(json!({"amount_due": 90})).await;
    assert_eq!(
        (v["amount_paid"].clone(), v["amount_due"].clone()),
        (json!(50), json!(70)),
        "{v}"
    );
    // Caught up and paid off there: paid.
    let (_, v) = patch(json!({"amount_due": 0})).await;
    assert_eq!(
        (v["status"].clone(), v["amount_due"].clone()),
        (json!("paid"), json!(0)),
        "{v}"
    );

    // Bad fields: located.
    let (s, v) =
        patch(json!({"amount_due": -1, "due_date": "soon", "currency": "EUR", "customer_id": "x"}))
            .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        keys(&v["validation_errors"]),
        ["amount_due", "currency", "customer_id", "due_date"]
            .map(String::from)
            .into()
    );

    // Archive: refused with AP payments on it; an unpaid one leaves the list.
    let (s, v) = ap.call(Method::DELETE, &path, None).await;
    assert_eq!(
        (s.as_u16(), v["code"].clone()),
        (409, json!("invoice_has_payments")),
        "{v}"
    );
    let other = ap.invoice(&cust, "2025-02-01", &[(10.0, 1)]).await;
    let oid = other["id"].as_str().unwrap();
    let (s, v) = ap
        .call(Method::DELETE, &format!("/invoices/{oid}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["archived_at"], "2025-01-15T12:00:00Z");
    let (_, list) = ap.get("/invoices").await;
    let listed: Vec<&Value> = list["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], json!(iid));
    assert_eq!(ap.get(&format!("/invoices/{oid}")).await.0, 200);
    let (s, v) = ap
        .call(
            Method::PATCH,
            &format!("/invoices/{oid}"),
            Some(json!({"memo": "x"})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
}

#[tokio::test]
async fn rate_limit_is_enforced_and_counted() {
    let ap = Ap::with(Sandbox::builder().fixed_clock(T0)).await;
    // A burst of 12 at once: never more than 5 admitted within a second,
    // the rest refused with 429 and Retry-After.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let req = ap
            .http
            .get(format!("{}/customers", ap.sb.ap_base_url()))
            .bearer_auth(&ap.token);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
            let body: Value = r.json().await.unwrap();
            (status, retry, body)
        }));
    }
    let mut refused = 0;
    for t in tasks {
        let (status, retry, body) = t.await.unwrap();
        if status == 429 {
            refused += 1;
            assert_eq!(retry, Some(1));
            assert_http_error(&body);
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert!(refused >= 1);
    let stats = ap.sb.ap_stats();
    assert_eq!(stats.throttled, refused);
    assert!((1..=5).contains(&stats.peak_per_second));
    let (s, v) = ap.control(Method::GET, "/stats", json!({})).await;
    assert_eq!(s, 200);
    assert_eq!(v["throttled"], json!(stats.throttled));
    let cid = ap.sb.ap_client_credentials().client_id;
    assert_eq!(
        v["clients"][&cid]["peak_per_second"],
        json!(stats.peak_per_second)
    );

    // A client that paces itself is never refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _) = ap.control(Method::POST, "/reset", json!({})).await;
    assert_eq!(s, 200);
    for _ in 0..7 {
        assert_eq!(ap.get("/customers").await.0, 200);
        tokio::time::sleep(Duration::from_millis(210)).await;
    }
    let stats = ap.sb.ap_stats();
    assert_eq!(stats.throttled, 0);
    assert!(stats.peak_per_second <= 5);

    // The limit can be changed or switched off over the control API.
    let (s, v) = ap
        .control(Method::POST, "/limits", json!({"per_second": null}))
        .await;
    assert_eq!((s, v["per_second"].clone()), (StatusCode::OK, Value::Null));
    for _ in 0..10 {
        assert_eq!(ap.get("/customers").await.0, 200);
    }
}

#[tokio::test]
async fn control_auth_changes_lifetime_and_revokes() {
    let ap = Ap::start().await;
    let (s, _) = ap
        .control(Method::POST, "/auth", json!({"token_lifetime_secs": 2}))
        .await;
    assert_eq!(s, 200);
    let (_, t) = token_for(&ap.sb, &ap.http, &ap.sb.ap_client_credentials()).await;
    assert_eq!(t["expires_in"], 2);
    let (s, _) = ap
        .control(Method::POST, "/auth", json!({"revoke": true}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(ap.get("/customers").await.0, 401);
}

#[tokio::test]
async fn ap_records_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("zoho-sandbox-ap-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let sb = Sandbox::builder()
        .fixed_clock(T0)
        .state_file(&file)
        .start()
        .await
        .unwrap();
    sb.app().ap_seed(3, 2);
    let before = sb.app().ap_snapshot();
    sb.shutdown().await.unwrap();
    let ap = Ap::with(
        Sandbox::builder()
            .fixed_clock(T0)
            .ap_rate_limit(None)
            .state_file(&file),
    )
    .await;
    let after = ap.sb.app().ap_snapshot();
    assert_eq!(after["invoices"], before["invoices"]);
    let id = after["invoices"][0]["id"].as_str().unwrap();
    let (s, v) = ap.get(&format!("/invoices/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(v, after["invoices"][0]);
    // New records do not reuse ids.
    let c = ap.customer("New Co").await;
    assert_eq!(
        ap.get("/customers").await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(
        after["customers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != json!(c))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
