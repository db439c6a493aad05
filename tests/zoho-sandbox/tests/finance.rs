mod common;

use std::time::Duration;

use common::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zoho_sandbox::Product;

async fn contact(api: &Api, name: &str) -> String {
    let (s, v) = api.post(&api.books("/contacts"), json!({"contact_name": name, "customer_sub_type": "individual", "contact_persons": [{"first_name": "Ann", "email": "ann@example.com"}]})).await;
    assert_eq!(s, 201, "{v}");
    v["contact"]["contact_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn contacts_and_contact_persons() {
    let api = Api::frozen(0).await;
    let (s, v) = api.post(&api.books("/contacts"), json!({"contact_name": "Bowman", "contact_persons": [{"first_name": "Will", "email": "w@b.com"}, {"first_name": "Jo"}]})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["code"], 0);
    assert_eq!(v["message"], "The contact has been created");
    let c = &v["contact"];
    assert_eq!(c["customer_sub_type"], "business");
    assert_eq!(c["currency_code"], "USD");
    assert_eq!(c["created_time"], "2025-01-15T12:00:00+0000");
    assert!(c["contact_id"].is_string());
    assert_eq!(c["contact_persons"][0]["is_primary_contact"], true);
    assert_eq!(c["contact_persons"][1]["is_primary_contact"], false);
    let id = c["contact_id"].as_str().unwrap().to_string();
    let (s, v) = api
        .post(&api.books("/contacts"), json!({"contact_name": "bowman"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], 3062);
    let (s, v) = api
        .post(
            &api.books("/contacts"),
            json!({"contact_name": "X", "customer_sub_type": "alien"}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // List rows carry the primary person's email.
    let (_, v) = api.get(&api.books("/contacts")).await;
    assert_eq!(v["contacts"][0]["email"], "w@b.com");
    assert!(v["contacts"][0].get("contact_persons").is_none());
    assert_eq!(v["page_context"]["has_more_page"], false);
    // Contact persons API.
    let (s, v) = api
        .post(
            &api.books("/contacts/contactpersons"),
            json!({"contact_id": id, "first_name": "New", "is_primary_contact": true}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["message"], "The contactperson has been Created");
    let cp = v["contact_person"][0]["contact_person_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = api
        .get(&api.books(&format!("/contacts/{id}/contactpersons")))
        .await;
    assert_eq!(v["contact_persons"].as_array().unwrap().len(), 3);
    let (_, v) = api.get(&api.books(&format!("/contacts/{id}"))).await;
    assert_eq!(v["contact"]["primary_contact_id"], cp);
    let (s, _) = api
        .delete(&api.books(&format!("/contacts/contactpersons/{cp}")))
        .await;
    assert_eq!(s, 200);
    let (s, v) = api
        .post(&api.books(&format!("/contacts/{id}/inactive")), json!({}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["message"], "The contact has been marked as inactive.");
    let (_, v) = api
        .get(&api.books("/contacts?filter_by=Status.Active"))
        .await;
    assert_eq!(v["contacts"].as_array().unwrap().len(), 0);
    let (s, v) = api.get(&api.books("/contacts/123")).await;
    assert_eq!(s, 404);
    assert_eq!(
        v,
        json!({"code": 1002, "message": "Contact does not exist."})
    );
}

#[tokio::test]
async fn invoice_lifecycle_with_payments() {
    let api = Api::frozen(0).await;
    let cid = contact(&api, "Acme").await;
    let (s, v) = api
        .post(&api.books("/items"), json!({"name": "Widget", "rate": 120}))
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["message"], "The item has been added.");
    let item = v["item"]["item_id"].as_str().unwrap().to_string();
    let (s, v) = api
        .post(&api.books("/invoices"), json!({"customer_id": cid, "payment_terms": 15, "line_items": [{"item_id": item, "quantity": 2}, {"name": "Setup", "rate": 60.5, "quantity": 1}]}))
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["message"], "The invoice has been created.");
    let inv = &v["invoice"];
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["total"], 300.5);
    assert_eq!(inv["balance"], 300.5);
    assert_eq!(inv["invoice_number"], "INV-000001");
    assert_eq!(inv["due_date"], "2025-01-30");
    assert_eq!(inv["customer_name"], "Acme");
    let id = inv["invoice_id"].as_str().unwrap().to_string();
    // A payment on a draft invoice is refused.
    let pay = json!({"customer_id": cid, "amount": 100, "invoices": [{"invoice_id": id, "amount_applied": 100}]});
    let (s, _) = api.post(&api.books("/customerpayments"), pay.clone()).await;
    assert_eq!(s, 400);
    let (_, v) = api
        .post(
            &api.books(&format!("/invoices/{id}/status/sent")),
            json!({}),
        )
        .await;
    assert_eq!(v["message"], "Invoice status has been changed to Sent.");
    let (s, v) = api.post(&api.books("/customerpayments"), pay).await;
    assert_eq!(s, 201, "{v}");
    let pid = v["payment"]["payment_id"].as_str().unwrap().to_string();
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "partially_paid");
    assert_eq!(v["invoice"]["balance"], 200.5);
    // Overdue comes from the due date and the clock.
    api.sb.advance_clock(Duration::from_secs(20 * 86_400));
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "overdue");
    let (_, v) = api
        .get(&api.books("/invoices?filter_by=Status.OverDue"))
        .await;
    assert_eq!(v["invoices"].as_array().unwrap().len(), 1);
    assert!(
        v["invoices"][0]["due_days"]
            .as_str()
            .unwrap()
            .starts_with("Overdue by")
    );
    // Pay the rest.
    let (s, _) = api.post(&api.books("/customerpayments"), json!({"customer_id": cid, "amount": 200.5, "invoices": [{"invoice_id": id, "amount_applied": 200.5}]})).await;
    assert_eq!(s, 201);
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "paid");
    assert_eq!(v["invoice"]["balance"], 0.0);
    let (_, v) = api
        .get(&api.books(&format!("/invoices/{id}/payments")))
        .await;
    assert_eq!(v["payments"].as_array().unwrap().len(), 2);
    // Cannot void or delete with payments; delete the payments first.
    let (s, _) = api
        .post(
            &api.books(&format!("/invoices/{id}/status/void")),
            json!({}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, v) = api
        .delete(&api.books(&format!("/customerpayments/{pid}")))
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["balance"], 100.0);
    // last_modified_time filter.
    let (_, v) = api
        .get(&api.books("/invoices?last_modified_time=2025-02-04T12:00:00%2B0000"))
        .await;
    assert_eq!(v["invoices"].as_array().unwrap().len(), 1);
    let (_, v) = api
        .get(&api.books("/invoices?last_modified_time=2025-02-05T12:00:00%2B0000"))
        .await;
    assert_eq!(v["invoices"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn void_and_back_to_draft() {
    let api = Api::frozen(0).await;
    let cid = contact(&api, "V").await;
    let (_, v) = api
        .post(
            &api.books("/invoices"),
            json!({"customer_id": cid, "line_items": [{"name": "x", "rate": 10}]}),
        )
        .await;
    let id = v["invoice"]["invoice_id"].as_str().unwrap().to_string();
    let (s, _) = api
        .post(
            &api.books(&format!("/invoices/{id}/status/draft")),
            json!({}),
        )
        .await;
    assert_eq!(s, 400);
    let (_, v) = api
        .post(
            &api.books(&format!("/invoices/{id}/status/void")),
            json!({}),
        )
        .await;
    assert_eq!(v["message"], "Invoice status has been changed to Void.");
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "void");
    assert_eq!(v["invoice"]["balance"], 0.0);
    let (_, v) = api
        .post(
            &api.books(&format!("/invoices/{id}/status/draft")),
            json!({}),
        )
        .await;
    assert_eq!(v["message"], "Status of invoice changed from void to draft");
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "draft");
    assert_eq!(v["invoice"]["balance"], 10.0);
    let (s, v) = api.delete(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(s, 200);
    assert_eq!(v["message"], "The invoice has been deleted.");
}

#[tokio::test]
async fn estimates_and_credit_notes() {
    let api = Api::frozen(0).await;
    let cid = contact(&api, "E").await;
    let (s, v) = api
        .post(
            &api.books("/estimates"),
            json!({"customer_id": cid, "line_items": [{"name": "x", "rate": 50}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let eid = v["estimate"]["estimate_id"].as_str().unwrap().to_string();
    let (s, _) = api
        .post(
            &api.books(&format!("/estimates/{eid}/status/accepted")),
            json!({}),
        )
        .await;
    assert_eq!(s, 400);
    api.post(
        &api.books(&format!("/estimates/{eid}/status/sent")),
        json!({}),
    )
    .await;
    let (_, v) = api
        .post(
            &api.books(&format!("/estimates/{eid}/status/accepted")),
            json!({}),
        )
        .await;
    assert_eq!(
        v["message"],
        "Estimate status has been changed to Accepted."
    );
    let (_, v) = api
        .post(
            &api.books(&format!("/estimates/{eid}/status/declined")),
            json!({}),
        )
        .await;
    assert_eq!(
        v["message"],
        "Estimate status has been changed to Declined."
    );

    let (_, v) = api
        .post(
            &api.books("/invoices"),
            json!({"customer_id": cid, "line_items": [{"name": "x", "rate": 80}]}),
        )
        .await;
    let iid = v["invoice"]["invoice_id"].as_str().unwrap().to_string();
    api.post(
        &api.books(&format!("/invoices/{iid}/status/sent")),
        json!({}),
    )
    .await;
    let (s, v) = api
        .post(
            &api.books("/creditnotes"),
            json!({"customer_id": cid, "line_items": [{"name": "refund", "rate": 30}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["message"], "The credit note has been created.");
    assert_eq!(v["creditnote"]["status"], "open");
    assert!(v["creditnote"]["updated_time"].is_string());
    let cn = v["creditnote"]["creditnote_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api
        .post(
            &api.books(&format!("/creditnotes/{cn}/invoices")),
            json!({"invoices": [{"invoice_id": iid, "amount_applied": 30}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api.get(&api.books(&format!("/invoices/{iid}"))).await;
    assert_eq!(v["invoice"]["credits_applied"], 30.0);
    assert_eq!(v["invoice"]["status"], "partially_paid");
    let (_, v) = api.get(&api.books(&format!("/creditnotes/{cn}"))).await;
    assert_eq!(v["creditnote"]["status"], "closed");
}

#[tokio::test]
async fn update_by_unique_custom_field() {
    let api = Api::frozen(0).await;
    let key = [
        ("X-Unique-Identifier-Key", "cf_crm_account_id"),
        ("X-Unique-Identifier-Value", "ACC-1"),
    ];
    let (s, _, v) = api
        .call(
            Method::PUT,
            &api.books("/contacts"),
            Some(json!({"contact_name": "U1"})),
            &key,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, _, v) = api
        .call(
            Method::PUT,
            &api.books("/contacts"),
            Some(json!({"contact_name": "U1"})),
            &[key[0], key[1], ("X-Upsert", "true")],
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["contact"]["custom_field_hash"]["cf_crm_account_id"],
        "ACC-1"
    );
    assert_eq!(
        v["contact"]["custom_fields"][0]["api_name"],
        "cf_crm_account_id"
    );
    let (s, _, v) = api
        .call(
            Method::PUT,
            &api.books("/contacts"),
            Some(json!({"contact_name": "U1 renamed"})),
            &[key[0], key[1], ("X-Upsert", "true")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["contact"]["contact_name"], "U1 renamed");
    assert_eq!(api.sb.counts()["books/10234695/contacts"], 1);
    // The unique value cannot be reused.
    let (s, v) = api.post(&api.books("/contacts"), json!({"contact_name": "U2", "custom_fields": [{"api_name": "cf_crm_account_id", "value": "ACC-1"}]})).await;
    assert_eq!(s, 400, "{v}");
    // Search by custom field and name.
    let (_, v) = api
        .get(&api.books("/contacts?contact_name_contains=renamed"))
        .await;
    assert_eq!(v["contacts"].as_array().unwrap().len(), 1);
    let (_, v) = api
        .get(&api.books("/contacts?contact_name_startswith=zz"))
        .await;
    assert_eq!(v["contacts"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn billing_shapes() {
    let api = Api::frozen(0).await;
    let org = api.sb.organization_id(Product::Billing);
    let h = [("X-com-zoho-subscriptions-organizationid", org.as_str())];
    let (s, _, v) = api
        .call(Method::POST, "/billing/v1/customers", Some(json!({"display_name": "Bill Co", "email": "b@c.com", "billing_address": {"street": "1 Road"}, "zcrm_account_id": "5725767000001000001"})), &h)
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["message"], "The customer has been created");
    let c = &v["customer"];
    assert!(c["updated_time"].is_string());
    assert!(c.get("last_modified_time").is_none());
    assert_eq!(c["billing_address"]["street"], "1 Road");
    let cid = c["customer_id"].as_str().unwrap().to_string();
    let (s, _, v) = api
        .call(
            Method::GET,
            "/billing/v1/customers/reference/5725767000001000001?reference_id_type=zcrm_account_id",
            None,
            &h,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["customer"]["customer_id"], cid);
    let (s, _, v) = api
        .call(Method::POST, "/billing/v1/invoices", Some(json!({"customer_id": cid, "invoice_items": [{"name": "Plan", "price": 99, "quantity": 1}]})), &h)
        .await;
    assert_eq!(s, 201, "{v}");
    let inv = &v["invoice"];
    assert_eq!(inv["number"], "INV-000001");
    assert!(inv["invoice_date"].is_string());
    assert_eq!(inv["invoice_items"][0]["price"], 99.0);
    assert!(inv["updated_time"].is_string());
    assert_eq!(inv["currency_code"], "USD");
    let iid = inv["invoice_id"].as_str().unwrap().to_string();
    let (s, _, v) = api
        .call(
            Method::POST,
            &format!("/billing/v1/invoices/{iid}/void"),
            None,
            &h,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, _, v) = api
        .call(
            Method::GET,
            &format!("/billing/v1/invoices/{iid}"),
            None,
            &h,
        )
        .await;
    assert_eq!(v["invoice"]["status"], "void");
    let (s, _, _) = api
        .call(
            Method::POST,
            &format!("/billing/v1/invoices/{iid}/status/void"),
            None,
            &h,
        )
        .await;
    assert_eq!(s, 404);
    // Second org has its own currency.
    let org2 = api.sb.organizations(Product::Billing)[1]
        .organization_id
        .clone();
    let (_, _, v) = api
        .call(
            Method::POST,
            "/billing/v1/customers",
            Some(json!({"display_name": "Rupee"})),
            &[("X-com-zoho-subscriptions-organizationid", org2.as_str())],
        )
        .await;
    assert_eq!(v["customer"]["currency_code"], "INR");
}

#[tokio::test]
async fn paging_sorting_and_json_string_form() {
    let api = Api::frozen(0).await;
    for i in 0..7 {
        api.post(
            &api.books("/items"),
            json!({"name": format!("Item {i}"), "rate": 10 * (7 - i)}),
        )
        .await;
    }
    let (_, v) = api
        .get(&api.books("/items?per_page=3&page=3&sort_column=name&sort_order=A"))
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["name"], "Item 6");
    assert_eq!(
        v["page_context"],
        json!({"page": 3, "per_page": 3, "has_more_page": false, "report_name": "Items", "applied_filter": "Status.All", "sort_column": "name", "sort_order": "A", "search_criteria": []})
    );
    let (_, v) = api
        .get(&api.books("/items?per_page=2&sort_column=rate&sort_order=A"))
        .await;
    assert_eq!(v["items"][0]["rate"], 10.0);
    assert_eq!(v["page_context"]["has_more_page"], true);
    let (s, v) = api.get(&api.books("/items?sort_column=bogus")).await;
    assert_eq!(s, 400, "{v}");
    // Legacy form body.
    let org = api.sb.organization_id(Product::Invoice);
    let r = api
        .http
        .post(format!("{}/invoice/v3/contacts", api.sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {}", api.token))
        .header("X-com-zoho-invoice-organizationid", &org)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("JSONString=%7B%22contact_name%22%3A%22Form%20Co%22%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["contact"]["contact_name"], "Form Co");
}

#[tokio::test]
async fn ui_actions_look_like_api_changes() {
    let api = Api::frozen(0).await;
    let cid = contact(&api, "UI").await;
    let (_, v) = api
        .post(
            &api.books("/invoices"),
            json!({"customer_id": cid, "line_items": [{"name": "x", "rate": 10}]}),
        )
        .await;
    let id = v["invoice"]["invoice_id"].as_str().unwrap().to_string();
    let org = api.sb.organization_id(Product::Books);
    api.sb.advance_clock(Duration::from_secs(30));
    api.control(
        Method::POST,
        &format!("/ui/books/{org}/invoices/{id}/sent"),
        None,
    )
    .await;
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["status"], "sent");
    assert_eq!(
        v["invoice"]["last_modified_time"],
        "2025-01-15T12:00:30+0000"
    );
    api.control(
        Method::PUT,
        &format!("/ui/books/{org}/invoices/{id}"),
        Some(json!({"reference_number": "PO-9"})),
    )
    .await;
    let (_, v) = api.get(&api.books(&format!("/invoices/{id}"))).await;
    assert_eq!(v["invoice"]["reference_number"], "PO-9");
}
