//! CRM Bulk Read: jobs, polling, the zipped CSV, paging by token, limits.

mod common;

use common::Api;
use reqwest::Method;
use serde_json::{Value, json};

/// Poll a job until it completes; its `result`.
async fn completed(api: &Api, id: &str) -> Value {
    let mut states = Vec::new();
    for _ in 0..5 {
        let (s, v) = api.get(&format!("/crm/bulk/v8/read/{id}")).await;
        assert_eq!(s, 200, "{v}");
        let job = &v["data"][0];
        states.push(job["state"].as_str().unwrap().to_string());
        if job["state"] == "COMPLETED" {
            assert_eq!(states[0], "ADDED", "the first poll sees the job queued");
            return job["result"].clone();
        }
    }
    panic!("the job never completed: {states:?}");
}

#[tokio::test]
async fn a_module_exported_in_pages_of_jobs() {
    let api = Api::frozen(0).await;
    let (_, v) = api
        .post(
            "/crm/v8/Accounts",
            json!({"data": [{"Account_Name": "Acme, Inc."}]}),
        )
        .await;
    let acme = v["data"][0]["details"]["id"].as_str().unwrap().to_string();
    let mut contacts = Vec::new();
    for n in 0..5 {
        let (s, v) = api
            .post(
                "/crm/v8/Contacts",
                json!({"data": [{"Last_Name": format!("Doe {n}"), "Account_Name": {"id": acme}}]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        contacts.push(v["data"][0]["details"]["id"].as_str().unwrap().to_string());
    }
    api.control(
        Method::POST,
        "/crm/bulk",
        Some(json!({"per_page": 3, "polls_to_complete": 1})),
    )
    .await;
    let job = json!({"query": {"module": {"api_name": "Contacts"}, "fields": ["Last_Name", "Account_Name", "Account_Name.Account_Name"]}});
    let (s, v) = api.post("/crm/bulk/v8/read", job.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"][0]["code"], "ADDED_SUCCESSFULLY");
    assert_eq!(v["data"][0]["details"]["state"], "ADDED");
    let id = v["data"][0]["details"]["id"].as_str().unwrap().to_string();

    // Downloading before the job is done is refused.
    let (s, body) = api
        .download_csv(&format!("/crm/bulk/v8/read/{id}/result"))
        .await;
    assert_eq!(s, 400, "{body}");

    let result = completed(&api, &id).await;
    assert_eq!(result["count"], 3);
    assert_eq!(result["page"], 1);
    assert_eq!(result["more_records"], true);
    let (s, csv) = api
        .download_csv(result["download_url"].as_str().unwrap())
        .await;
    assert_eq!(s, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,Last_Name,Account_Name,Account_Name.Account_Name"
    );
    assert_eq!(
        lines[1],
        format!("{},Doe 0,{acme},\"Acme, Inc.\"", contacts[0]),
        "the id first, lookups by id, another module's field by the dot operator, quoted"
    );
    assert_eq!(lines.len(), 4);

    // The next job goes on from the token.
    let mut next = job.clone();
    next["query"]["page_token"] = result["next_page_token"].clone();
    let (s, v) = api.post("/crm/bulk/v8/read", next).await;
    assert_eq!(s, 201, "{v}");
    let second = completed(&api, v["data"][0]["details"]["id"].as_str().unwrap()).await;
    assert_eq!(second["count"], 2);
    assert_eq!(second["page"], 2);
    assert_eq!(second["more_records"], false);
    assert_eq!(second["next_page_token"], Value::Null);
    let (_, csv) = api
        .download_csv(second["download_url"].as_str().unwrap())
        .await;
    let ids: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, vec![contacts[3].as_str(), contacts[4].as_str()]);
}

#[tokio::test]
async fn jobs_refuse_what_zoho_refuses() {
    let api = Api::frozen(2).await;
    let cases = [
        (
            json!({"query": {"module": {"api_name": "Nope"}}}),
            "MODULE_NOT_AVAILABLE",
        ),
        (
            json!({"query": {"module": {"api_name": "Accounts"}, "fields": ["Nope"]}}),
            "FIELD_NOT_AVAILABLE",
        ),
        (
            json!({"query": {"module": {"api_name": "Contacts"}, "fields": ["Account_Name.Nope"]}}),
            "FIELD_NOT_AVAILABLE",
        ),
        (
            json!({"query": {"module": {"api_name": "Accounts"}, "page_token": "garbage"}}),
            "INVALID_REQUEST",
        ),
        (
            json!({"query": {"module": {"api_name": "Accounts"}}, "callback": {"url": "https://x", "method": "get"}}),
            "INVALID_CALLBACK_METHOD",
        ),
    ];
    for (body, code) in cases {
        let (s, v) = api.post("/crm/bulk/v8/read", body.clone()).await;
        assert_eq!(
            (s.as_u16(), v["code"].as_str()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    let (s, v) = api.get("/crm/bulk/v8/read/123").await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );

    // Ten downloads a minute; the eleventh is refused.
    let (_, v) = api
        .post(
            "/crm/bulk/v8/read",
            json!({"query": {"module": {"api_name": "Accounts"}}}),
        )
        .await;
    let result = completed(&api, v["data"][0]["details"]["id"].as_str().unwrap()).await;
    assert_eq!(result["count"], 2);
    let url = result["download_url"].as_str().unwrap();
    for _ in 0..10 {
        assert_eq!(api.download_csv(url).await.0, 200);
    }
    let (s, body) = api.download_csv(url).await;
    assert_eq!(s, 429, "{body}");
}
