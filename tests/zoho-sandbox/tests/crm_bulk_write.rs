//! CRM Bulk Write: the upload, jobs, polling, the rows written once, the
//! zipped result CSV, and what Zoho refuses.

mod common;

use std::io::Write;

use common::Api;
use common::oas::{Specs, require_specs};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The organisation's zgid, as `GET /crm/v8/org` reports it.
const ZGID: &str = "5725767";

/// A ZIP archive holding one entry.
fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(name, options).unwrap();
    zip.write_all(content).unwrap();
    zip.finish().unwrap().into_inner()
}

/// `POST /crm/v8/upload` of `file` as the form part `file`, with the
/// headers given (`feature`, `X-CRM-ORG`).
async fn upload_with(api: &Api, file: &[u8], headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let boundary = "sandbox-bulk-write-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.zip\"\r\nContent-Type: application/zip\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut req = api
        .http
        .post(format!("{}/crm/v8/upload", api.sb.base_url()))
        .header("Authorization", format!("Zoho-oauthtoken {}", api.token))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// Upload a CSV zipped; its file id.
async fn upload(api: &Api, csv: &str) -> String {
    let (s, v) = upload_with(
        api,
        &zip_of("accounts.csv", csv.as_bytes()),
        &[("feature", "bulk-write"), ("X-CRM-ORG", ZGID)],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["details"]["file_id"].as_str().unwrap().to_string()
}

/// Create a job; its id.
async fn job(api: &Api, body: Value) -> String {
    let (s, v) = api.post("/crm/bulk/v8/write", body).await;
    assert_eq!(s, 201, "{v}");
    v["details"]["id"].as_str().unwrap().to_string()
}

/// Poll until `COMPLETED`; the job.
async fn completed(api: &Api, id: &str) -> Value {
    for _ in 0..5 {
        let (s, v) = api.get(&format!("/crm/bulk/v8/write/{id}")).await;
        assert_eq!(s, 200, "{v}");
        if v["status"] == "COMPLETED" {
            return v;
        }
    }
    panic!("job {id} never completed");
}

/// The result of a completed job, as lines.
async fn result_lines(api: &Api, job: &Value) -> Vec<String> {
    let url = job["result"]["download_url"].as_str().unwrap();
    let (s, csv) = api.download_csv(url).await;
    assert_eq!(s, 200, "{csv}");
    csv.lines().map(String::from).collect()
}

async fn count(api: &Api, module: &str) -> u64 {
    let (_, v) = api.get(&format!("/crm/v8/{module}/actions/count")).await;
    v["count"].as_u64().unwrap()
}

/// Check a response against the Bulk Write OpenAPI file, when present.
fn conforms(method: &str, path: &str, status: u16, body: &Value) {
    let Some(dir) = require_specs() else { return };
    let mut specs = Specs::new(dir);
    let file = "crm_v8_oas/bulk_write.json";
    let (_, schema) = specs.response_schema(file, method, path, status);
    let errors = specs.validate(file, &schema, body);
    assert!(errors.is_empty(), "{method} {path}: {errors:?}\n{body}");
}

#[tokio::test]
async fn a_file_of_accounts_is_written_once_with_a_result_a_row() {
    let api = Api::frozen(0).await;
    api.control(
        Method::POST,
        "/crm/bulk",
        Some(json!({"write_polls_to_complete": 2})),
    )
    .await;
    let csv = "Account Name,Phone,Employees\r\nAcme,555-0001,12\r\n\"Globex, Inc.\",555-0002,\r\n,555-0003,7\r\n";
    let file_id = upload(&api, csv).await;
    let (s, v) = api
        .post(
            "/crm/bulk/v8/write",
            json!({
                "operation": "insert",
                "resource": [{
                    "type": "data",
                    "module": {"api_name": "Accounts"},
                    "file_id": file_id,
                    "field_mappings": [
                        {"api_name": "Account_Name", "index": 0},
                        {"api_name": "Phone", "index": 1},
                        {"api_name": "Employees", "index": 2},
                    ],
                }],
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["code"], "SUCCESS");
    assert_eq!(v["details"]["created_by"]["id"], "5725767000000411001");
    conforms("post", "/crm/bulk/v8/write", 201, &v);
    let id = v["details"]["id"].as_str().unwrap().to_string();

    // Downloading before the job is done is refused.
    let (s, body) = api
        .download_csv(&format!("/crm/bulk/v8/write/{id}/result"))
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("INVALID_REQUEST"), "{body}");

    // Queued, then in progress: nothing is written yet.
    let mut states = Vec::new();
    for _ in 0..2 {
        let (s, v) = api.get(&format!("/crm/bulk/v8/write/{id}")).await;
        assert_eq!(s, 200, "{v}");
        assert!(v.get("result").is_none(), "{v}");
        states.push(v["status"].as_str().unwrap().to_string());
        conforms("get", "/crm/bulk/v8/write/{job_id}", 200, &v);
    }
    assert_eq!(states, ["ADDED", "IN PROGRESS"]);
    assert_eq!(count(&api, "Accounts").await, 0);

    // The poll that completes the job writes the rows.
    let (_, done) = api.get(&format!("/crm/bulk/v8/write/{id}")).await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    conforms("get", "/crm/bulk/v8/write/{job_id}", 200, &done);
    assert_eq!(done["operation"], "insert");
    assert_eq!(done["character_encoding"], "UTF-8");
    let resource = &done["resource"][0];
    assert_eq!(resource["status"], "COMPLETED");
    assert_eq!(resource["module"]["api_name"], "Accounts");
    assert_eq!(resource["field_mappings"][1]["api_name"], "Phone");
    assert_eq!(
        resource["file"],
        json!({"status": "COMPLETED", "name": "accounts.csv", "added_count": 2, "skipped_count": 1, "updated_count": 0, "total_count": 3})
    );
    let url = done["result"]["download_url"].as_str().unwrap();
    assert_eq!(
        url,
        format!("{}/crm/bulk/v8/write/{id}/result", api.sb.base_url())
    );
    assert_eq!(count(&api, "Accounts").await, 2);

    // Polling again answers the same and writes nothing more.
    for _ in 0..2 {
        let (_, again) = api.get(&format!("/crm/bulk/v8/write/{id}")).await;
        assert_eq!(again["status"], "COMPLETED");
        assert_eq!(again["resource"][0]["file"]["added_count"], 2);
    }
    assert_eq!(count(&api, "Accounts").await, 2);

    let lines = result_lines(&api, &done).await;
    assert_eq!(
        lines[0],
        "Account Name,Phone,Employees,STATUS,RECORD_ID,ERRORS"
    );
    assert_eq!(lines.len(), 4, "{lines:?}");
    let acme = lines[1]
        .strip_prefix("Acme,555-0001,12,ADDED,")
        .unwrap_or_else(|| panic!("{}", lines[1]))
        .strip_suffix(',')
        .unwrap()
        .to_string();
    let globex = lines[2]
        .strip_prefix("\"Globex, Inc.\",555-0002,,ADDED,")
        .unwrap_or_else(|| panic!("{}", lines[2]))
        .strip_suffix(',')
        .unwrap()
        .to_string();
    assert_eq!(
        lines[3], ",555-0003,7,SKIPPED,,MANDATORY_NOT_FOUND-Account Name",
        "Zoho's <code>-<column header>"
    );

    // The records are there, with the uploaded values, as REST wrote them.
    let (s, v) = api.get(&format!("/crm/v8/Accounts/{acme}")).await;
    assert_eq!(s, 200);
    let record = &v["data"][0];
    assert_eq!(record["Account_Name"], "Acme");
    assert_eq!(record["Phone"], "555-0001");
    assert_eq!(record["Employees"], 12);
    assert_eq!(record["Created_Time"], "2025-01-15T12:00:00+00:00");
    assert_eq!(record["Owner"]["id"], "5725767000000411001");
    let (_, v) = api.get(&format!("/crm/v8/Accounts/{globex}")).await;
    assert_eq!(v["data"][0]["Account_Name"], "Globex, Inc.");
    assert_eq!(v["data"][0]["Employees"], Value::Null);

    // The calls are counted like any other CRM call.
    let requests = api.control(Method::GET, "/requests", None).await;
    assert_eq!(requests["requests"]["POST /crm/v8/upload"], 1);
    assert_eq!(requests["requests"]["GET /crm/bulk/v8/write/{id}"], 5);
    assert_eq!(
        requests["requests"]["GET /crm/bulk/v8/write/{id}/result"],
        2
    );
}

#[tokio::test]
async fn updates_upserts_lookups_and_the_callback() {
    let api = Api::frozen(0).await;
    api.control(
        Method::POST,
        "/crm/bulk",
        Some(json!({"write_polls_to_complete": 0})),
    )
    .await;
    let (_, v) = api
        .post(
            "/crm/v8/Accounts",
            json!({"data": [{"Account_Name": "Acme", "Phone": "111", "Website": "acme.example"}]}),
        )
        .await;
    let acme = v["data"][0]["details"]["id"].as_str().unwrap().to_string();

    // Update found by a unique field; empty cells are left alone with
    // `ignore_empty`; a row naming no record is skipped.
    let file_id = upload(&api, "Name,Phone,Website\nacme,222,\nNobody,333,\n").await;
    let id = job(
        &api,
        json!({
            "operation": "update",
            "ignore_empty": true,
            "callback": {"url": "http://127.0.0.1:9/bulk-callback", "method": "post"},
            "resource": [{
                "type": "data",
                "module": {"api_name": "Accounts"},
                "file_id": file_id,
                "find_by": "Account_Name",
                "field_mappings": [
                    {"api_name": "Account_Name", "index": 0},
                    {"api_name": "Phone", "index": 1},
                    {"api_name": "Website", "index": 2},
                ],
            }],
        }),
    )
    .await;
    let done = completed(&api, &id).await;
    assert_eq!(done["resource"][0]["file"]["updated_count"], 1, "{done}");
    assert_eq!(done["resource"][0]["file"]["skipped_count"], 1);
    let lines = result_lines(&api, &done).await;
    assert_eq!(lines[1], format!("acme,222,,UPDATED,{acme},"));
    assert_eq!(lines[2], "Nobody,333,,SKIPPED,,RESOURCE_NOT_FOUND-Name");
    let (_, v) = api.get(&format!("/crm/v8/Accounts/{acme}")).await;
    assert_eq!(v["data"][0]["Phone"], "222");
    assert_eq!(v["data"][0]["Website"], "acme.example", "ignore_empty");

    // Zoho posts the completed job to the callback URL.
    api.sb.flush_notifications().await;
    let log = api.control(Method::GET, "/notifications", None).await;
    let callback = log
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["url"] == "http://127.0.0.1:9/bulk-callback")
        .expect("the callback was sent");
    assert_eq!(callback["body"]["id"], id.as_str());
    assert_eq!(callback["body"]["status"], "COMPLETED");

    // Update by id; without `ignore_empty` an empty cell clears the field.
    let file_id = upload(&api, &format!("id,Website\n{acme},\n")).await;
    let id = job(
        &api,
        json!({"operation": "update", "resource": [{"module": {"api_name": "Accounts"}, "file_id": file_id, "find_by": "id",
            "field_mappings": [{"api_name": "id", "index": 0}, {"api_name": "Website", "index": 1}]}]}),
    )
    .await;
    let lines = result_lines(&api, &completed(&api, &id).await).await;
    assert_eq!(lines[1], format!("{acme},,UPDATED,{acme},"));
    let (_, v) = api.get(&format!("/crm/v8/Accounts/{acme}")).await;
    assert_eq!(v["data"][0]["Website"], Value::Null);

    // Upsert: found rows are updated, the rest added.
    let file_id = upload(&api, "Name,Phone\nAcme,444\nInitech,555\n").await;
    let id = job(
        &api,
        json!({"operation": "upsert", "resource": [{"module": {"api_name": "Accounts"}, "file_id": file_id, "find_by": "Account_Name",
            "field_mappings": [{"api_name": "Account_Name", "index": 0}, {"api_name": "Phone", "index": 1}]}]}),
    )
    .await;
    let done = completed(&api, &id).await;
    let lines = result_lines(&api, &done).await;
    assert_eq!(lines[1], format!("Acme,444,UPDATED,{acme},"));
    assert!(lines[2].starts_with("Initech,555,ADDED,"), "{}", lines[2]);
    assert_eq!(count(&api, "Accounts").await, 2);

    // Contacts whose account is named, not given by id (the mapping's
    // `find_by`); a name no account has skips the row.
    let file_id = upload(&api, "Last,Account\nDoe,Initech\nRoe,Umbrella\n").await;
    let id = job(
        &api,
        json!({"operation": "insert", "resource": [{"module": {"api_name": "Contacts"}, "file_id": file_id,
            "field_mappings": [{"api_name": "Last_Name", "index": 0}, {"api_name": "Account_Name", "index": 1, "find_by": "Account_Name"}]}]}),
    )
    .await;
    let lines = result_lines(&api, &completed(&api, &id).await).await;
    let doe = lines[1]
        .strip_prefix("Doe,Initech,ADDED,")
        .unwrap_or_else(|| panic!("{}", lines[1]))
        .trim_end_matches(',')
        .to_string();
    assert_eq!(lines[2], "Roe,Umbrella,SKIPPED,,INVALID_DATA-Account");
    let (_, v) = api.get(&format!("/crm/v8/Contacts/{doe}")).await;
    assert_eq!(v["data"][0]["Account_Name"]["name"], "Initech");
}

#[tokio::test]
async fn jobs_refuse_what_zoho_refuses() {
    let api = Api::frozen(0).await;
    let file_id = upload(&api, "Name,Phone\nAcme,1\n").await;
    let resource = |mappings: Value| json!([{"type": "data", "module": {"api_name": "Accounts"}, "file_id": file_id, "field_mappings": mappings}]);
    let name = json!([{"api_name": "Account_Name", "index": 0}]);
    let cases = [
        (
            json!({"resource": resource(name.clone())}),
            "MISSING_REQUIRED_KEY",
        ),
        (
            json!({"operation": "delete", "resource": resource(name.clone())}),
            "INVALID_DATA",
        ),
        (
            json!({"operation": "insert", "resource": [{"module": {"api_name": "Nope"}, "file_id": file_id, "field_mappings": name}]}),
            "MODULE_NOT_AVAILABLE",
        ),
        (
            json!({"operation": "insert", "resource": [{"module": {"api_name": "Accounts"}, "file_id": "123", "field_mappings": name}]}),
            "INVALID_FILE_ID",
        ),
        (
            json!({"operation": "insert", "resource": resource(json!([{"api_name": "Account_Name", "index": 0}, {"api_name": "Nope", "index": 1}]))}),
            "INVALID_FIELD_NAME",
        ),
        (
            json!({"operation": "insert", "resource": resource(json!([{"api_name": "Account_Name", "index": 2}]))}),
            "COLUMN_INDEX_NOT_FOUND",
        ),
        (
            json!({"operation": "insert", "resource": resource(json!([{"api_name": "Account_Name"}]))}),
            "MISSING_REQUIRED_KEY",
        ),
        (
            json!({"operation": "insert", "callback": {"url": "http://127.0.0.1:9/", "method": "get"}, "resource": resource(name.clone())}),
            "INVALID_CALLBACK_METHOD",
        ),
        (
            json!({"operation": "insert", "resource": resource(json!([{"api_name": "Phone", "index": 1}]))}),
            "MANDATORY_FIELDS_NOT_MAPPED",
        ),
        (
            json!({"operation": "update", "resource": resource(name.clone())}),
            "MISSING_REQUIRED_KEY",
        ),
        (
            json!({"operation": "update", "resource": [{"module": {"api_name": "Accounts"}, "file_id": file_id, "find_by": "Phone", "field_mappings": name}]}),
            "INVALID_DATA",
        ),
        (
            json!({"operation": "insert", "resource": [resource(name.clone())[0].clone(), resource(name.clone())[0].clone()]}),
            "NOT_SUPPORTED_FEATURE",
        ),
    ];
    for (body, code) in cases {
        let (s, v) = api.post("/crm/bulk/v8/write", body.clone()).await;
        assert_eq!(s, 400, "{body} → {v}");
        assert_eq!(v["code"], code, "{body} → {v}");
        assert_eq!(v["status"], "error");
    }
    let (_, v) = api
        .post(
            "/crm/bulk/v8/write",
            json!({"resource": resource(name.clone())}),
        )
        .await;
    assert_eq!(
        v["message"],
        "required key operation is not found in request body."
    );
    let (_, v) = api
        .post(
            "/crm/bulk/v8/write",
            json!({"operation": "insert", "resource": resource(json!([{"api_name": "ast_Name", "index": 0}]))}),
        )
        .await;
    assert_eq!(v["message"], "invalid mapping. invalid api_name ast_Name.");

    // Unknown jobs.
    let (s, v) = api.get("/crm/bulk/v8/write/5725767000010999999").await;
    assert_eq!(
        (s.as_u16(), v["code"].as_str()),
        (400, Some("RESOURCE_NOT_FOUND"))
    );
    let (s, body) = api
        .download_csv("/crm/bulk/v8/write/5725767000010999999/result")
        .await;
    assert_eq!(s, 400);
    assert!(body.contains("RESOURCE_NOT_FOUND"), "{body}");

    // A reset forgets the uploaded files.
    api.control(Method::POST, "/reset", None).await;
    let (_, v) = api
        .post(
            "/crm/bulk/v8/write",
            json!({"operation": "insert", "resource": resource(name)}),
        )
        .await;
    assert_eq!(v["code"], "INVALID_FILE_ID");
}

#[tokio::test]
async fn uploads_refuse_what_zoho_refuses() {
    let api = Api::frozen(0).await;
    let good = [("feature", "bulk-write"), ("X-CRM-ORG", ZGID)];
    let file = zip_of("a.csv", b"Account_Name\nAcme\n");

    // The headers Zoho's file server requires.
    for headers in [
        vec![("X-CRM-ORG", ZGID)],
        vec![("feature", "bulk-write")],
        vec![("feature", "bulk-read"), ("X-CRM-ORG", ZGID)],
        vec![("feature", "bulk-write"), ("X-CRM-ORG", "42")],
    ] {
        let (s, v) = upload_with(&api, &file, &headers).await;
        assert_eq!(s, 400, "{headers:?}: {v}");
        assert_eq!(
            v["x-error"],
            "check if headers [feature, X-CRM-ORG] are present and valid"
        );
    }
    // The organisation's id does as well as its zgid.
    let (s, v) = upload_with(
        &api,
        &file,
        &[
            ("feature", "bulk-write"),
            ("X-CRM-ORG", "5725767000000021001"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["code"], "FILE_UPLOAD_SUCCESS");
    assert_eq!(v["message"], "file uploaded.");
    assert_eq!(v["details"]["created_time"], "2025-01-15T12:00:00+00:00");

    // Not a ZIP, or no CSV inside.
    for bad in [b"Account_Name\nAcme\n".to_vec(), zip_of("a.txt", b"x")] {
        let (s, v) = upload_with(&api, &bad, &good).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["code"], "INVALID_FILE_FORMAT");
        assert_eq!(
            v["message"],
            "invalid file format. only zip format is supported"
        );
    }

    // Past 25 MB.
    let big = vec![b'x'; 25 * 1024 * 1024 + 1];
    let (s, v) = upload_with(&api, &big, &good).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["code"], "FILE_TOO_LARGE");

    // The rows a file may hold (25 000, shrunk here); older control
    // bodies still work and keep the write settings' defaults.
    let config = api.control(Method::GET, "/crm/bulk", None).await;
    assert_eq!(config["write_polls_to_complete"], 1);
    assert_eq!(config["write_rows_max"], 25_000);
    let config = api
        .control(Method::POST, "/crm/bulk", Some(json!({"per_page": 10})))
        .await;
    assert_eq!(config["write_rows_max"], 25_000);
    api.control(
        Method::POST,
        "/crm/bulk",
        Some(json!({"write_rows_max": 2})),
    )
    .await;
    let three = zip_of("a.csv", b"Account_Name\nA\nB\nC\n");
    let (s, v) = upload_with(&api, &three, &good).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["code"], "LIMIT_EXCEEDED");
    assert_eq!(v["details"]["limit"], 2);
    let two = zip_of("a.csv", b"Account_Name\nA\nB\n");
    let (s, _) = upload_with(&api, &two, &good).await;
    assert_eq!(s, 200);

    // Like every CRM call, an upload needs a token.
    let resp = api
        .http
        .post(format!("{}/crm/v8/upload", api.sb.base_url()))
        .header("feature", "bulk-write")
        .header("X-CRM-ORG", ZGID)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
