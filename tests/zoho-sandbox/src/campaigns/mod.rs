//! Zoho Campaigns emulation, mounted under [`PREFIX`] (`/campaigns`): a
//! connector's base URL is `http://127.0.0.1:PORT/campaigns/api/v1.1`
//! where the real one is `https://campaigns.zoho.<dc>/api/v1.1`.
//!
//! | Path (under `/campaigns/api/v1.1`) | What |
//! |---|---|
//! | `getmailinglists` | mailing lists (`sort`, `fromindex`, `range`) |
//! | `getlistsubscribers` | a list's contacts (`listkey`, `status`, `fromindex`, `range`) |
//! | `json/listsubscribe`, `listsubscribe` | add or update one contact (`listkey`, `contactinfo`, `topic_id`) |
//! | `addlistsubscribersinbulk` | add up to 10 `emailids` |
//! | `json/listunsubscribe`, `listunsubscribe` | unsubscribe one contact |
//! | `topics` | list topics (GET), create one from `details` (POST) |
//! | `contact/allfields` | the contact fields |
//! | `custom/add` | create a custom field |
//!
//! `POST /campaigns/oauth/v2/token` is the sandbox's Zoho token endpoint
//! again, so one origin serves a connection's API and accounts server.
//!
//! Parameters come from the query or a form body, as Campaigns takes
//! them. Every answer is JSON; errors are HTTP 200 with `status: "error"`
//! and a `code` (401 for a missing or bad token). The Zoho OAuth tokens of
//! the sandbox (`/oauth/v2/token`) are accepted as `Zoho-oauthtoken`.
//! Every guess is listed in `CAMPAIGNS-UNCONFIRMED.md` next to the crate's
//! `Cargo.toml`.

pub mod store;

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::app::AppRef;
use crate::error::{ApiError, Product};
pub use store::{CampaignsError, Store};

/// Where Campaigns is mounted on the sandbox's port.
pub const PREFIX: &str = "/campaigns";

/// Campaigns' state, shared by its handlers.
#[derive(Debug, Default)]
pub struct Campaigns {
    pub store: Mutex<Store>,
}

/// The Campaigns routes (without the prefix).
pub fn router() -> Router<AppRef> {
    let v = "/api/v1.1";
    Router::new()
        // Zoho's accounts server on the same prefix, so a connection's
        // sandbox origin serves both (the real one is accounts.zoho.<dc>).
        .route("/oauth/v2/token", post(crate::server::token))
        .route(&format!("{v}/getmailinglists"), get(lists).post(lists))
        .route(
            &format!("{v}/getlistsubscribers"),
            get(subscribers).post(subscribers),
        )
        .route(
            &format!("{v}/json/listsubscribe"),
            get(subscribe).post(subscribe),
        )
        .route(
            &format!("{v}/listsubscribe"),
            get(subscribe).post(subscribe),
        )
        .route(
            &format!("{v}/addlistsubscribersinbulk"),
            get(bulk).post(bulk),
        )
        .route(
            &format!("{v}/json/listunsubscribe"),
            get(unsubscribe).post(unsubscribe),
        )
        .route(
            &format!("{v}/listunsubscribe"),
            get(unsubscribe).post(unsubscribe),
        )
        .route(&format!("{v}/topics"), get(topics).post(add_topic))
        .route(&format!("{v}/contact/allfields"), get(fields).post(fields))
        .route(&format!("{v}/custom/add"), get(add_field).post(add_field))
}

type Params = HashMap<String, String>;

fn params(q: Params, body: &Bytes) -> Params {
    let mut p = q;
    if let Ok(form) = crate::server::serde_urlencoded_pairs(body) {
        p.extend(form);
    }
    p
}

fn ok(uri: &str, mut body: Map<String, Value>) -> Response {
    body.insert("status".into(), json!("success"));
    body.entry("code").or_insert(json!("0"));
    body.insert("uri".into(), json!(format!("/api/v1.1/{uri}")));
    body.insert("version".into(), json!("1.1"));
    ApiError::raw(200, Value::Object(body)).into_response()
}

fn fail(uri: &str, e: CampaignsError) -> Response {
    ApiError::raw(
        200,
        json!({"status": "error", "code": e.code, "message": e.message,
               "uri": format!("/api/v1.1/{uri}"), "version": "1.1"}),
    )
    .into_response()
}

/// The token check: `None` for a sandbox Zoho access token, else the
/// refusal (401, code 1007).
fn refused(app: &AppRef, headers: &HeaderMap) -> Option<Response> {
    let now = app.now();
    let checked = app.auth.lock().unwrap().check(Product::Crm, headers, now);
    checked.err().map(|_| {
        ApiError::raw(
            401,
            json!({"status": "error", "code": "1007",
                   "message": "Invalid OAuth token. Please provide a valid Zoho-oauthtoken."}),
        )
        .into_response()
    })
}

fn index(p: &Params, name: &str, default: usize) -> usize {
    p.get(name)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// `contactinfo`: JSON text, or the loose `{First Name:mac,Contact Email:x}`
/// of Campaigns' older samples.
pub fn parse_info(text: &str) -> Result<Map<String, Value>, CampaignsError> {
    if let Ok(Value::Object(m)) = serde_json::from_str(text) {
        return Ok(m);
    }
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'));
    let Some(inner) = inner else {
        return Err(CampaignsError {
            code: "903",
            message: "Mandatory fields are missing.".into(),
        });
    };
    Ok(inner
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), json!(v.trim())))
        .collect())
}

macro_rules! guarded {
    ($app:expr, $headers:expr) => {
        if let Some(r) = refused(&$app, &$headers) {
            return r;
        }
    };
}

async fn lists(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let st = app.campaigns.store.lock().unwrap();
    if st.lists.is_empty() {
        let e = CampaignsError {
            code: "2401",
            message: "No mailing list has been created. Please create a list.".into(),
        };
        return fail("getmailinglists", e);
    }
    let mut all: Vec<&store::List> = st.lists.iter().collect();
    let desc = p.get("sort").is_some_and(|s| s == "desc");
    if desc {
        all.reverse();
    }
    let from = index(&p, "fromindex", 1).max(1);
    let range = index(&p, "range", store::DEFAULT_RANGE);
    let page: Vec<Value> = all
        .iter()
        .skip(from - 1)
        .take(range)
        .map(|l| {
            let unsub = l
                .members
                .iter()
                .filter(|(_, m)| m.status == store::Status::Unsubscribed)
                .count();
            json!({"listkey": l.key, "listname": l.name,
                   "noofcontacts": (l.members.len() - unsub).to_string(),
                   "noofunsubcnt": unsub.to_string(), "noofbouncecnt": "0",
                   "created_time": l.created_ms.to_string(), "lockstatus": "unlocked",
                   "is_public": "false"})
        })
        .collect();
    let mut b = Map::new();
    b.insert("list_of_details".into(), json!(page));
    b.insert(
        "sort".into(),
        json!(if desc {
            "Descending Order"
        } else {
            "Ascending Order"
        }),
    );
    b.insert("fromindex".into(), json!(from.to_string()));
    b.insert("range".into(), json!(range.to_string()));
    ok("getmailinglists", b)
}

async fn subscribers(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let st = app.campaigns.store.lock().unwrap();
    let key = p.get("listkey").map(String::as_str).unwrap_or("");
    let list = match st.list(key) {
        Ok(l) => l,
        Err(e) => return fail("getlistsubscribers", e),
    };
    let want = p.get("status").map(String::as_str).unwrap_or("active");
    let from = index(&p, "fromindex", 1).max(1);
    let range = index(&p, "range", store::DEFAULT_RANGE);
    let page: Vec<Value> = list
        .members
        .iter()
        .filter(|(_, m)| match want {
            "unsub" => m.status == store::Status::Unsubscribed,
            "bounce" => false,
            _ => m.status == store::Status::Active,
        })
        .skip(from - 1)
        .take(range)
        .map(|(e, m)| st.subscriber_json(list, e, m))
        .collect();
    let mut b = Map::new();
    b.insert("list_of_details".into(), json!(page));
    b.insert(
        "list_details".into(),
        json!({"listname": list.name, "noofcontacts": list.members.len().to_string(), "ispublic": "false"}),
    );
    b.insert("fromindex".into(), json!(from.to_string()));
    b.insert("range".into(), json!(range.to_string()));
    ok("getlistsubscribers", b)
}

async fn subscribe(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let uri = "json/listsubscribe";
    let info = match parse_info(p.get("contactinfo").map(String::as_str).unwrap_or("")) {
        Ok(i) => i,
        Err(e) => return fail(uri, e),
    };
    let now = app.now();
    let key = p.get("listkey").map(String::as_str).unwrap_or("");
    let topic = p.get("topic_id").map(String::as_str);
    let r = app
        .campaigns
        .store
        .lock()
        .unwrap()
        .subscribe(key, &info, topic, now);
    match r {
        Ok(outcome) => {
            let message = match outcome {
                store::Outcome::Added => "User successfully subscribed.",
                store::Outcome::Updated => "User details updated successfully.",
            };
            let mut b = Map::new();
            b.insert("message".into(), json!(message));
            ok(uri, b)
        }
        Err(e) => fail(uri, e),
    }
}

async fn bulk(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let now = app.now();
    let key = p.get("listkey").map(String::as_str).unwrap_or("");
    let emails = p.get("emailids").map(String::as_str).unwrap_or("");
    let r = app
        .campaigns
        .store
        .lock()
        .unwrap()
        .add_bulk(key, emails, now);
    match r {
        Ok(_) => {
            let mut b = Map::new();
            b.insert("message".into(), json!("Contacts added successfully."));
            ok("addlistsubscribersinbulk", b)
        }
        Err(e) => fail("addlistsubscribersinbulk", e),
    }
}

async fn unsubscribe(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let uri = "json/listunsubscribe";
    let info = match parse_info(p.get("contactinfo").map(String::as_str).unwrap_or("")) {
        Ok(i) => i,
        Err(e) => return fail(uri, e),
    };
    let email = info
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("contact email") || *k == "contact_email")
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("");
    let key = p.get("listkey").map(String::as_str).unwrap_or("");
    match app.campaigns.store.lock().unwrap().unsubscribe(key, email) {
        Ok(()) => {
            let mut b = Map::new();
            b.insert("message".into(), json!("User successfully unsubscribed."));
            ok(uri, b)
        }
        Err(e) => fail(uri, e),
    }
}

async fn topics(State(app): State<AppRef>, headers: HeaderMap) -> Response {
    guarded!(app, headers);
    let st = app.campaigns.store.lock().unwrap();
    let all: Vec<Value> = st
        .topics
        .iter()
        .map(|t| json!({"topic_id": t.id, "topic_name": t.name, "topic_desc": t.desc}))
        .collect();
    let mut b = Map::new();
    b.insert("code".into(), json!("200"));
    b.insert("topics".into(), json!(all));
    ok("topics", b)
}

async fn add_topic(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let details =
        parse_info(p.get("details").map(String::as_str).unwrap_or("{}")).unwrap_or_default();
    let get = |k: &str| {
        details
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let r = app
        .campaigns
        .store
        .lock()
        .unwrap()
        .add_topic(&get("topic_name"), &get("topic_desc"));
    match r {
        Ok(id) => {
            let mut b = Map::new();
            b.insert("code".into(), json!("200"));
            b.insert("topic_id".into(), json!(id));
            b.insert("message".into(), json!("Success"));
            ok("topics", b)
        }
        Err(e) => fail("topics", e),
    }
}

async fn fields(State(app): State<AppRef>, headers: HeaderMap) -> Response {
    guarded!(app, headers);
    let st = app.campaigns.store.lock().unwrap();
    let all: Vec<Value> = st
        .fields
        .iter()
        .map(|f| {
            json!({"DISPLAY_NAME": f.display, "FIELD_NAME": f.key, "FIELD_TYPE": f.field_type,
                   "IS_CUSTOM": f.custom, "FIELD_LENGTH": f.length.to_string()})
        })
        .collect();
    let mut b = Map::new();
    b.insert("response".into(), json!({"fieldnames": {"fieldname": all}}));
    ok("contact/allfields", b)
}

async fn add_field(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<Params>,
    body: Bytes,
) -> Response {
    guarded!(app, headers);
    let p = params(q, &body);
    let name = p.get("fieldname").map(String::as_str).unwrap_or("");
    let ft = p.get("fieldtype").map(String::as_str).unwrap_or("");
    let len = p.get("fieldlength").and_then(|s| s.parse().ok());
    let r = app.campaigns.store.lock().unwrap().add_field(name, ft, len);
    match r {
        Ok(f) => {
            let mut b = Map::new();
            b.insert("code".into(), json!("200"));
            b.insert(
                "response".into(),
                json!({"message": "Success", "fieldname": f.display, "fieldtype": f.field_type,
                       "fieldlength": f.length.to_string(), "mandatory_check": "success",
                       "code": "200", "type": "json", "uri": "/api/v1.1/custom/add"}),
            );
            ok("custom/add", b)
        }
        Err(e) => fail("custom/add", e),
    }
}
