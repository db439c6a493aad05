mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn create_get_update_delete() {
    let api = Api::frozen(0).await;
    let (s, v) = api
        .post(
            "/crm/v8/Accounts",
            json!({"data": [{"Account_Name": "Acme", "Phone": "123"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let e = &v["data"][0];
    assert_eq!(e["code"], "SUCCESS");
    assert_eq!(e["message"], "record added");
    assert_eq!(e["details"]["$approval_state"], "approved");
    let acc = e["details"]["id"].as_str().unwrap().to_string();
    assert_eq!(acc.len(), 19);
    assert_eq!(e["details"]["Created_Time"], "2025-01-15T12:00:00+00:00");

    // Contact with a lookup as {id}; read back as {name, id}.
    let (s, v) = api.post("/crm/v8/Contacts", json!({"data": [{"Last_Name": "Smith", "First_Name": "Jo", "Account_Name": {"id": acc}}]})).await;
    assert_eq!(s, 201, "{v}");
    let cid = v["data"][0]["details"]["id"].as_str().unwrap().to_string();
    let (s, v) = api.get(&format!("/crm/v8/Contacts/{cid}")).await;
    assert_eq!(s, 200);
    let rec = &v["data"][0];
    assert_eq!(rec["Account_Name"], json!({"name": "Acme", "id": acc}));
    assert_eq!(rec["Full_Name"], "Jo Smith");
    assert_eq!(rec["Owner"]["id"], "5725767000000411001");
    assert_eq!(rec["$approval_state"], "approved");

    // Update moves Modified_Time; renaming the account renames the lookup.
    api.sb.advance_clock(Duration::from_secs(5));
    let (s, v) = api
        .put(
            &format!("/crm/v8/Accounts/{acc}"),
            json!({"data": [{"Account_Name": "Acme Corp"}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["message"], "record updated");
    assert_eq!(
        v["data"][0]["details"]["Modified_Time"],
        "2025-01-15T12:00:05+00:00"
    );
    let (_, v) = api.get(&format!("/crm/v8/Contacts/{cid}")).await;
    assert_eq!(v["data"][0]["Account_Name"]["name"], "Acme Corp");

    // Delete; the deleted feed shows it; a second delete fails.
    let (s, v) = api.delete(&format!("/crm/v8/Contacts/{cid}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["message"], "record deleted");
    let (s, _) = api.get(&format!("/crm/v8/Contacts/{cid}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api.get("/crm/v8/Contacts/deleted?type=all").await;
    assert_eq!(s, 200);
    assert_eq!(v["data"][0]["id"], cid);
    assert_eq!(v["data"][0]["type"], "recycle");
    assert_eq!(v["data"][0]["display_name"], "Jo Smith");
    let (s, v) = api
        .call(
            Method::DELETE,
            &format!("/crm/v8/Contacts?ids={cid}"),
            None,
            &[],
        )
        .await
        .0
        .as_u16()
        .eq(&400)
        .then_some(())
        .map(|_| (StatusCode::BAD_REQUEST, Value::Null))
        .unwrap_or((StatusCode::OK, Value::Null));
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(api.sb.counts()["crm/Contacts/deleted"], 1);
}

#[tokio::test]
async fn mixed_and_failed_batches() {
    let api = Api::frozen(0).await;
    let (s, v) = api
        .post(
            "/crm/v8/Leads",
            json!({"data": [{"Last_Name": "A"}, {"First_Name": "no last name"}]}),
        )
        .await;
    assert_eq!(s, 207, "{v}");
    assert_eq!(v["data"][0]["status"], "success");
    assert_eq!(v["data"][1]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(v["data"][1]["details"]["api_name"], "Last_Name");
    assert_eq!(v["data"][1]["details"]["json_path"], "$.data[1].Last_Name");
    let (s, v) = api
        .post(
            "/crm/v8/Leads",
            json!({"data": [{"Last_Name": "B", "Email": "not-an-email"}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["data"][0]["code"], "INVALID_DATA");
    assert_eq!(v["data"][0]["details"]["api_name"], "Email");
    // Unique field.
    api.post(
        "/crm/v8/Accounts",
        json!({"data": [{"Account_Name": "Dup"}]}),
    )
    .await;
    let (s, v) = api
        .post(
            "/crm/v8/Accounts",
            json!({"data": [{"Account_Name": "dup"}]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["data"][0]["code"], "DUPLICATE_DATA");
    // More than 100 records.
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"Last_Name": format!("L{i}")}))
        .collect();
    let (s, v) = api.post("/crm/v8/Leads", json!({"data": many})).await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "LIMIT_EXCEEDED");
    let (s, v) = api.post("/crm/v8/Nope", json!({"data": [{}]})).await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_MODULE");
    assert_eq!(api.sb.counts()["crm/Leads"], 1);
}

#[tokio::test]
async fn upsert_with_duplicate_check_fields() {
    let api = Api::frozen(0).await;
    let (s, v) = api.post("/crm/v8/Leads/upsert", json!({"data": [{"Last_Name": "X", "Email": "x@example.com"}], "duplicate_check_fields": ["Email"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["action"], "insert");
    let id = v["data"][0]["details"]["id"].clone();
    let (s, v) = api.post("/crm/v8/Leads/upsert", json!({"data": [{"Last_Name": "Y", "Email": "X@example.com"}, {"Last_Name": "Z", "Email": "z@example.com"}], "duplicate_check_fields": ["Email"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["action"], "update");
    assert_eq!(v["data"][0]["duplicate_field"], "Email");
    assert_eq!(v["data"][0]["details"]["id"], id);
    assert_eq!(v["data"][1]["action"], "insert");
    assert_eq!(api.sb.counts()["crm/Leads"], 2);
}

#[tokio::test]
async fn fields_required_on_v8_only() {
    let api = Api::frozen(3).await;
    let (s, v) = api.get("/crm/v8/Leads").await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "REQUIRED_PARAM_MISSING");
    assert_eq!(v["details"]["param_name"], "fields");
    let (s, v) = api.get("/crm/v2/Leads").await;
    assert_eq!(s, 200);
    assert!(v["data"][0]["Email"].is_string());
    assert!(v["info"].get("next_page_token").is_none());
    let (s, v) = api.get("/crm/v8/Leads?fields=Last_Name").await;
    assert_eq!(s, 200);
    let rec = v["data"][0].as_object().unwrap();
    assert!(rec.contains_key("id") && rec.contains_key("Last_Name") && !rec.contains_key("Email"));
    let (s, _) = api.get("/crm/v9/Leads?fields=Last_Name").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn page_then_page_token_reaches_everything() {
    let mut api = Api::frozen(0).await;
    // CRM only: finance seeding is not needed here.
    api.sb
        .app()
        .mutate(|st, _| zoho_sandbox::seed::seed_crm(st, 2500, common::T0));
    let mut seen = HashSet::new();
    let mut token: Option<String> = None;
    for page in 1..=20 {
        let path = match &token {
            None => format!(
                "/crm/v8/Deals?fields=Deal_Name&per_page=200&page={page}&sort_by=Modified_Time&sort_order=asc"
            ),
            Some(t) => format!("/crm/v8/Deals?fields=Deal_Name&per_page=200&page_token={t}"),
        };
        let (s, v) = api.get(&path).await;
        assert_eq!(s, 200, "{v}");
        for r in v["data"].as_array().unwrap() {
            assert!(
                seen.insert(r["id"].as_str().unwrap().to_string()),
                "duplicate"
            );
        }
        if !v["info"]["more_records"].as_bool().unwrap() {
            break;
        }
        if page >= 3 {
            token = Some(v["info"]["next_page_token"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 2500);
    let (s, v) = api.get("/crm/v8/Deals?fields=Deal_Name&page=11").await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "DISCRETE_PAGINATION_LIMIT_EXCEEDED");
    // A token bound to one sort order refuses another.
    let (_, v) = api.get("/crm/v8/Deals?fields=Deal_Name&sort_by=id").await;
    let t = v["info"]["next_page_token"].as_str().unwrap();
    let (s, v) = api
        .get(&format!(
            "/crm/v8/Deals?fields=Deal_Name&page_token={t}&sort_by=Modified_Time"
        ))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "TOKEN_BOUND_DATA_MISMATCH");
    // Tokens expire after a day.
    api.sb.advance_clock(Duration::from_secs(86_401));
    api.token = common::token(&api.sb, &api.http).await;
    let (s, v) = api
        .get(&format!("/crm/v8/Deals?fields=Deal_Name&page_token={t}"))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "EXPIRED_VALUE");
}

#[tokio::test]
async fn if_modified_since_and_sorting() {
    let api = Api::frozen(10).await;
    let (s, v) = api.get("/crm/v8/Accounts?fields=Account_Name,Modified_Time&sort_by=Modified_Time&sort_order=desc").await;
    assert_eq!(s, 200);
    let times: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Modified_Time"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(times, sorted);
    let since = "2025-01-15T12:00:00+00:00";
    let (s, _, _) = api
        .call(
            Method::GET,
            "/crm/v8/Accounts?fields=Account_Name",
            None,
            &[("If-Modified-Since", since)],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    api.sb.advance_clock(Duration::from_secs(1));
    let id = v["data"][3]["id"].as_str().unwrap().to_string();
    api.put(
        &format!("/crm/v8/Accounts/{id}"),
        json!({"data": [{"Phone": "42"}]}),
    )
    .await;
    let (s, _, v) = api
        .call(
            Method::GET,
            "/crm/v8/Accounts?fields=Account_Name",
            None,
            &[("If-Modified-Since", since)],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], id);
}

#[tokio::test]
async fn metadata_and_custom_views() {
    let api = Api::frozen(20).await;
    let (s, v) = api.get("/crm/v8/settings/modules").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = v["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["api_name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Deals") && names.contains(&"Leads"));
    let (s, v) = api.get("/crm/v2/settings/fields?module=Deals").await;
    assert_eq!(s, 200);
    let stage = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["api_name"] == "Stage")
        .unwrap();
    let won = stage["pick_list_values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["actual_value"] == "Closed Won")
        .unwrap();
    assert_eq!(won["probability"], 100);
    let custom: Vec<&Value> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["custom_field"] == true)
        .collect();
    assert!(!custom.is_empty());
    let (s, v) = api.get("/crm/v8/settings/modules/Deals").await;
    assert_eq!(s, 200);
    assert_eq!(v["modules"][0]["api_name"], "Deals");
    let (s, v) = api.get("/crm/v8/settings/custom_views?module=Deals").await;
    assert_eq!(s, 200);
    let won_view = v["custom_views"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Closed Won Deals")
        .unwrap();
    let cvid = won_view["id"].as_str().unwrap();
    let (s, v) = api
        .get(&format!("/crm/v8/Deals?fields=Stage&cvid={cvid}"))
        .await;
    assert_eq!(s, 200);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["Stage"] == "Closed Won")
    );
    assert!(!v["data"].as_array().unwrap().is_empty());
    let (s, v) = api.get("/crm/v2/org").await;
    assert_eq!(s, 200);
    assert!(v["org"][0]["id"].is_string());
    // Stage drives Probability on writes.
    let acc = api.get("/crm/v8/Accounts?fields=Account_Name").await.1["data"][0]["id"].clone();
    let (_, v) = api.post("/crm/v8/Deals", json!({"data": [{"Deal_Name": "D", "Stage": "Negotiation/Review", "Closing_Date": "2025-02-01", "Amount": 1000, "Account_Name": {"id": acc}}]})).await;
    let id = v["data"][0]["details"]["id"].as_str().unwrap().to_string();
    let (_, v) = api.get(&format!("/crm/v8/Deals/{id}")).await;
    assert_eq!(v["data"][0]["Probability"], 90);
    assert_eq!(v["data"][0]["Expected_Revenue"], 900.0);
}

#[tokio::test]
async fn ui_changes_look_like_real_changes() {
    let api = Api::frozen(5).await;
    let (_, v) = api.get("/crm/v8/Deals?fields=Stage").await;
    let id = v["data"][0]["id"].as_str().unwrap().to_string();
    api.sb.advance_clock(Duration::from_secs(60));
    let out = api
        .control(
            Method::PUT,
            &format!("/ui/crm/Deals/{id}"),
            Some(json!({"Stage": "Closed Won"})),
        )
        .await;
    assert_eq!(out["code"], "SUCCESS");
    let (_, v) = api.get(&format!("/crm/v8/Deals/{id}")).await;
    assert_eq!(v["data"][0]["Stage"], "Closed Won");
    assert_eq!(v["data"][0]["Probability"], 100);
    assert_eq!(v["data"][0]["Modified_By"]["id"], "5725767000000411002");
    assert_eq!(v["data"][0]["Modified_Time"], "2025-01-15T12:01:00+00:00");
}
