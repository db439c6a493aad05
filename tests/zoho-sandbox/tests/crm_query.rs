mod common;

use std::time::Duration;

use common::{Api, T0};
use reqwest::StatusCode;
use serde_json::json;
use zoho_sandbox::Sandbox;

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn search_criteria_grammar() {
    let api = Api::frozen(30).await;
    let (s, v) = api
        .get(&format!(
            "/crm/v8/Deals/search?criteria={}",
            enc("(Stage:equals:Closed Won)")
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["Stage"] == "Closed Won")
    );
    let (_, v) = api
        .get(&format!(
            "/crm/v8/Deals/search?criteria={}",
            enc("((Stage:in:Closed Won,Qualification) and (Amount:greater_equal:0))")
        ))
        .await;
    let n = v["data"].as_array().unwrap().len();
    assert!(n >= 6, "{n}");
    let (_, v) = api
        .get(&format!(
            "/crm/v8/Accounts/search?criteria={}",
            enc("(Account_Name:starts_with:account 00001)")
        ))
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 10);
    // Escaping: a name with brackets and a comma.
    api.post(
        "/crm/v8/Accounts",
        json!({"data": [{"Account_Name": "Smith (UK), Ltd"}]}),
    )
    .await;
    let (s, v) = api
        .get(&format!(
            "/crm/v8/Accounts/search?criteria={}",
            enc("(Account_Name:equals:Smith \\(UK\\)\\, Ltd)")
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"][0]["Account_Name"], "Smith (UK), Ltd");
    // Nothing found: 204.
    let (s, _) = api
        .get(&format!(
            "/crm/v8/Leads/search?criteria={}",
            enc("(Last_Name:equals:Nobody)")
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // email= shortcut, bad operator, comparisons on dates.
    let (s, _) = api
        .get("/crm/v8/Leads/search?email=lead3@example.com")
        .await;
    assert_eq!(s, 200);
    let (s, v) = api
        .get(&format!(
            "/crm/v8/Leads/search?criteria={}",
            enc("(Last_Name:around:x)")
        ))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_QUERY");
    let (_, v) = api
        .get(&format!(
            "/crm/v8/Deals/search?criteria={}",
            enc("((Closing_Date:greater_than:2025-02-13) or (Deal_Name:equals:Deal 000001))")
        ))
        .await;
    assert!(!v["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn search_has_an_indexing_delay() {
    let api = Api::start(
        Sandbox::builder()
            .fixed_clock(T0)
            .search_delay(Duration::from_secs(5)),
    )
    .await;
    api.post("/crm/v8/Leads", json!({"data": [{"Last_Name": "Fresh"}]}))
        .await;
    let q = format!(
        "/crm/v8/Leads/search?criteria={}",
        enc("(Last_Name:equals:Fresh)")
    );
    assert_eq!(api.get(&q).await.0, StatusCode::NO_CONTENT);
    api.sb.advance_clock(Duration::from_secs(5));
    assert_eq!(api.get(&q).await.0, StatusCode::OK);
}

#[tokio::test]
async fn coql_select_where_order_limit() {
    let api = Api::frozen(25).await;
    let (s, v) = api.post("/crm/v8/coql", json!({"select_query": "select Deal_Name, Amount, Account_Name.Account_Name from Deals where Stage = 'Closed Won' or Amount >= 5000 order by Amount desc, Deal_Name limit 0, 5"})).await;
    assert_eq!(s, 200, "{v}");
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(rows[0]["Amount"].as_f64() >= rows[1]["Amount"].as_f64());
    assert!(
        rows[0]["Account_Name.Account_Name"]
            .as_str()
            .unwrap()
            .starts_with("Account")
    );
    assert_eq!(v["info"]["count"], 5);
    assert_eq!(v["info"]["more_records"], true);
    let (_, v) = api.post("/crm/v8/coql", json!({"select_query": "select Last_Name from Leads where Email like '%3@example.com' and Last_Name is not null"})).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let (s, _) = api
        .post(
            "/crm/v8/coql",
            json!({"select_query": "select Last_Name from Leads where Last_Name = 'nobody'"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = api
        .post(
            "/crm/v8/coql",
            json!({"select_query": "select Nope from Leads"}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "INVALID_QUERY");
    let (s, v) = api
        .post("/crm/v8/coql", json!({"select_query": "select from Leads"}))
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], "SYNTAX_ERROR");
    let (_, v) = api.post("/crm/v8/coql", json!({"select_query": "select Deal_Name from Deals where Stage in ('Closed Won', 'Closed Lost') limit 100"})).await;
    assert!(v["data"].as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn deleted_feed_with_if_modified_since() {
    let api = Api::frozen(5).await;
    let (_, v) = api.get("/crm/v8/Leads?fields=Last_Name").await;
    let ids: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    api.delete(&format!("/crm/v8/Leads?ids={},{}", ids[0], ids[1]))
        .await;
    api.sb.advance_clock(Duration::from_secs(10));
    api.delete(&format!("/crm/v8/Leads/{}", ids[2])).await;
    let (_, v) = api.get("/crm/v8/Leads/deleted?type=recycle").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert_eq!(v["info"]["more_records"], false);
    let (_, _, v) = api
        .call(
            reqwest::Method::GET,
            "/crm/v8/Leads/deleted",
            None,
            &[("If-Modified-Since", "2025-01-15T12:00:05+00:00")],
        )
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let (s, _) = api.get("/crm/v8/Leads/deleted?type=permanent").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(api.sb.counts()["crm/Leads"], 2);
}
