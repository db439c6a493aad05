//! The control API under `/__sandbox/` and the functions behind it, which
//! the library handle ([`crate::Sandbox`]) calls directly.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::{App, AppRef};
use crate::clock;
use crate::crm::{self, WriteMode, metadata::UI_USER_ID};
use crate::error::{ApiError, Product};
use crate::faults::FaultConfig;
use crate::finance::FinanceState;
use crate::limits::LimitConfig;
use crate::notify::{Delivery, Webhook};
use crate::state::State as Data;

/// Record counts: `"crm/Leads"`, `"crm/Leads/deleted"`,
/// `"books/10234695/invoices"`, `"ap/invoices"`, `"ap/customers/archived"`,
/// … → number of records.
pub type Counts = BTreeMap<String, usize>;

impl App {
    /// Drop all records (organisations, clients and settings stay).
    pub fn reset(&self) {
        self.mutate(|st, _| {
            let orgs = st.finance.orgs.clone();
            *st = Data::new(FinanceState::new(orgs));
        });
        self.limits.reset();
        self.ap.reset_stats();
        self.csb.reset();
        self.bulk.reset();
        self.bulk_write.reset();
        self.notifier.log.lock().unwrap().clear();
    }

    /// Add `n` records to every module of every product.
    pub fn seed(&self, n: usize) {
        let now = self.now();
        self.mutate(|st, _| crate::seed::seed_all(st, n, now));
    }

    /// Seed only some modules: `crm/<Module>` (`crm/Accounts`) or
    /// `<product>/contacts` (every organisation of the product), `n` each.
    pub fn seed_only(&self, what: &[&str], n: usize) -> Result<(), String> {
        let now = self.now();
        let mut crm_modules = Vec::new();
        let mut products = Vec::new();
        for w in what {
            match w.split_once('/') {
                Some(("crm", m)) if crm::def(m).is_some() => crm_modules.push(m.to_string()),
                Some((p, "contacts" | "customers")) => match Product::parse(p) {
                    Some(p) if p != Product::Crm => products.push(p),
                    _ => return Err(format!("cannot seed `{w}`")),
                },
                _ => {
                    return Err(format!(
                        "cannot seed `{w}`: use crm/<Module> or <product>/contacts"
                    ));
                }
            }
        }
        self.mutate(|st, _| {
            let modules: Vec<&str> = crm_modules.iter().map(String::as_str).collect();
            crate::seed::seed_crm_modules(st, n, now, &modules);
            for p in products {
                crate::finance::seed::seed_contacts(st, p, n, now);
            }
        });
        Ok(())
    }

    /// API requests served, by method and path with ids left out
    /// (`POST /books/v3/contacts`): benchmarks count calls by kind.
    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.requests.lock().unwrap().clone()
    }

    /// Record counts per module.
    pub fn counts(&self) -> Counts {
        self.read(|st| {
            let mut out = Counts::new();
            for (name, m) in &st.crm.modules {
                out.insert(format!("crm/{name}"), m.records.len());
                out.insert(format!("crm/{name}/deleted"), m.deleted.len());
            }
            out.insert("ap/customers".into(), st.ap.customers.len());
            out.insert(
                "ap/customers/archived".into(),
                st.ap
                    .customers
                    .values()
                    .filter(|c| c.archived_ms.is_some())
                    .count(),
            );
            out.insert("ap/invoices".into(), st.ap.invoices.len());
            out.insert("ap/payments".into(), st.ap.payments.len());
            out.insert("ap/payouts".into(), st.ap.payouts.len());
            for (key, org) in &st.finance.data {
                for (kind, t) in &org.tables {
                    out.insert(format!("{key}/{kind}"), t.rows.len());
                }
            }
            out
        })
    }

    /// Change CRM records as a person in the web UI would: the change gets a
    /// new `Modified_Time`, `Modified_By` is the web user, and watchers are
    /// notified. `id = None` creates a record.
    pub fn ui_crm_write(
        &self,
        module: &str,
        id: Option<&str>,
        fields: Value,
    ) -> Result<Value, ApiError> {
        let def = crm::records::module(module)?;
        let mut fields = fields;
        let mode = match id {
            Some(id) => {
                fields["id"] = json!(id);
                WriteMode::Update
            }
            None => WriteMode::Create,
        };
        let (status, body) =
            crm::records::write_batch(self, def, mode, &[fields], None, None, UI_USER_ID);
        let entry = body["data"][0].clone();
        if status >= 400 {
            Err(ApiError::raw(400, entry))
        } else {
            Ok(entry)
        }
    }

    /// Change a finance record as a person in the web UI would (the same as
    /// `PUT /__sandbox/ui/{product}/{org}/{resource}/{id}`): validation, a new
    /// modified time and webhooks, as for an API write.
    pub fn ui_finance_write(
        &self,
        product: Product,
        org: &str,
        resource: &str,
        id: &str,
        fields: Value,
    ) -> Result<Value, ApiError> {
        use crate::finance::{ops::Route, routes, spec};
        let spec = spec::by_name(product, resource)
            .ok_or_else(|| ApiError::raw(404, json!({"error": "unknown resource"})))?;
        let body = serde_json::to_vec(&fields).unwrap_or_default();
        let (_, v) = routes::run(
            self,
            product,
            org,
            Route::Update(spec.kind),
            &[id.to_string()],
            &Default::default(),
            &Default::default(),
            &body,
        )?;
        Ok(v)
    }

    /// Run a status action (`sent`, `void`, `accepted`, …) on a finance
    /// record as a person in the web UI would.
    pub fn ui_finance_act(
        &self,
        product: Product,
        org: &str,
        resource: &str,
        id: &str,
        action: &str,
    ) -> Result<Value, ApiError> {
        crate::finance::routes::ui_act(self, product, org, resource, id, action).map(|(_, v)| v)
    }

    /// Delete a CRM record as the web user.
    pub fn ui_crm_delete(&self, module: &str, id: &str) -> Result<Value, ApiError> {
        let def = crm::records::module(module)?;
        let (status, body) = crm::records::delete_ids(self, def, &[id.to_string()], UI_USER_ID);
        let entry = body["data"][0].clone();
        if status >= 400 {
            Err(ApiError::raw(400, entry))
        } else {
            Ok(entry)
        }
    }
}

/// Clock change request (`POST /__sandbox/clock`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClockRequest {
    /// Freeze at this instant (ms since the epoch).
    pub set_ms: Option<i64>,
    /// Freeze at this ISO-8601 instant.
    pub set: Option<String>,
    /// Move by this many milliseconds.
    pub advance_ms: Option<i64>,
    /// Keep running in real time from the new instant instead of freezing.
    pub running: bool,
}

/// Auth settings (`POST /__sandbox/auth`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthRequest {
    pub token_lifetime_secs: Option<f64>,
    pub mint_limit: Option<bool>,
    /// Invalidate every access token now.
    pub revoke: bool,
    /// Revoke this refresh token (and the access tokens it minted).
    pub revoke_refresh_token: Option<String>,
    /// Answer token requests with this `api_domain` (an account of another
    /// data centre); `""` goes back to the sandbox's own origin.
    pub api_domain: Option<String>,
    /// Send the browser flow back with this `accounts-server`; `""` goes
    /// back to the sandbox's own origin.
    pub accounts_server: Option<String>,
    /// The `location` the browser flow reports (default `us`).
    pub location: Option<String>,
}

/// A grant code as the API console's self client makes one
/// (`POST /__sandbox/auth/code`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeRequest {
    /// The client it is for; the sandbox's first client by default.
    pub client_id: Option<String>,
    /// Scopes granted (not enforced).
    pub scope: Option<String>,
    /// How long it can be exchanged; 180 s by default.
    pub expires_in_secs: Option<f64>,
}

impl App {
    /// A single-use grant code, as the API console's self client makes
    /// one. `None` if the client is unknown.
    pub fn grant_code(&self, req: &CodeRequest) -> Option<String> {
        let now = self.now();
        let mut auth = self.auth.lock().unwrap();
        let client = match &req.client_id {
            Some(id) => id.clone(),
            None => auth.clients.first()?.client_id.clone(),
        };
        let lifetime = req
            .expires_in_secs
            .map_or(crate::auth::CODE_LIFETIME_MS, |s| (s * 1000.0) as i64);
        let scope = req.scope.as_deref().unwrap_or("ZohoCRM.modules.ALL");
        auth.mint_code(&client, scope, lifetime, now)
    }
}

fn body_json<T: for<'de> Deserialize<'de> + Default>(b: &Bytes) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::raw(400, json!({"error": format!("invalid JSON body: {e}")})))
}

fn ok(v: Value) -> Response {
    ApiError::raw(200, v).into_response()
}

pub fn router() -> Router<AppRef> {
    Router::new()
        .route("/__sandbox/info", get(info))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/seed", post(seed))
        .route("/__sandbox/counts", get(counts))
        .route("/__sandbox/requests", get(requests))
        .route("/__sandbox/clock", get(clock_get).post(clock_set))
        .route("/__sandbox/faults", get(faults_get).post(faults_set))
        .route("/__sandbox/limits", get(limits_get).post(limits_set))
        .route("/__sandbox/limits/usage", get(limits_usage))
        .route("/__sandbox/crm/bulk", get(bulk_get).post(bulk_set))
        .route("/__sandbox/auth", post(auth_set))
        .route("/__sandbox/auth/code", post(auth_code))
        .route("/__sandbox/save", post(save))
        .route("/__sandbox/notifications", get(notifications))
        .route("/__sandbox/notifications/flush", post(notifications_flush))
        .route("/__sandbox/webhooks", get(webhooks_get).post(webhooks_add))
        .route("/__sandbox/find/crm/{module}", get(find_crm))
        .route(
            "/__sandbox/find/{product}/{org}/{resource}",
            get(find_finance),
        )
        .route("/__sandbox/ui/crm/{module}", post(ui_crm_create))
        .route(
            "/__sandbox/ui/crm/{module}/{id}",
            put(ui_crm_update).delete(ui_crm_delete),
        )
        .route(
            "/__sandbox/ui/{product}/{org}/{resource}/{id}",
            put(crate::finance::routes::ui_update),
        )
        .route(
            "/__sandbox/ui/{product}/{org}/{resource}/{id}/{action}",
            post(crate::finance::routes::ui_action),
        )
}

type Query = std::collections::HashMap<String, String>;

/// Whether every `field=value` of the query holds for `data` (as text);
/// `fields` is the projection, not a filter.
fn matches(data: &serde_json::Map<String, Value>, query: &Query) -> bool {
    query
        .iter()
        .filter(|(k, _)| *k != "fields")
        .all(|(k, want)| {
            data.get(k).is_some_and(|v| match v {
                Value::String(s) => s == want,
                other => &other.to_string() == want,
            })
        })
}

/// The record, or only the fields `fields=a,b` names.
fn project(data: &serde_json::Map<String, Value>, query: &Query) -> Value {
    match query.get("fields") {
        None => Value::Object(data.clone()),
        Some(fields) => Value::Object(
            fields
                .split(',')
                .filter_map(|f| {
                    data.get(f.trim())
                        .map(|v| (f.trim().to_string(), v.clone()))
                })
                .collect(),
        ),
    }
}

/// `GET /__sandbox/find/crm/{module}?Field=value[&fields=a,b]`: stored
/// records whose fields equal the query (no auth: for scripts and demos).
async fn find_crm(
    State(app): State<AppRef>,
    Path(module): Path<String>,
    axum::extract::Query(query): axum::extract::Query<Query>,
) -> Response {
    let Some(def) = crm::def(&module) else {
        return ApiError::raw(404, json!({"error": "unknown module"})).into_response();
    };
    let records: Vec<Value> = app.read(|st| {
        st.crm
            .module(def)
            .records
            .values()
            .filter(|r| matches(&r.data, &query))
            .map(|r| project(&r.data, &query))
            .collect()
    });
    ok(json!({ "records": records }))
}

/// `GET /__sandbox/find/{product}/{org}/{resource}?field=value`.
async fn find_finance(
    State(app): State<AppRef>,
    Path((product, org, resource)): Path<(String, String, String)>,
    axum::extract::Query(query): axum::extract::Query<Query>,
) -> Response {
    let Some(product) = Product::parse(&product).filter(|p| *p != Product::Crm) else {
        return ApiError::raw(404, json!({"error": "unknown product"})).into_response();
    };
    let Some(spec) = crate::finance::spec::by_name(product, &resource) else {
        return ApiError::raw(404, json!({"error": "unknown resource"})).into_response();
    };
    let key = crate::finance::org_key(product, &org);
    let records: Vec<Value> = app.read(|st| {
        st.finance
            .data
            .get(&key)
            .and_then(|d| d.tables.get(spec.table))
            .map(|t| {
                t.rows
                    .values()
                    .filter(|r| matches(&r.data, &query))
                    .map(|r| project(&r.data, &query))
                    .collect()
            })
            .unwrap_or_default()
    });
    ok(json!({ "records": records }))
}

async fn info(State(app): State<AppRef>) -> Response {
    let (orgs, clients) = (
        app.read(|st| st.finance.orgs.clone()),
        app.auth.lock().unwrap().clients.clone(),
    );
    ok(json!({
        "base_url": app.base_url(),
        "token_url": format!("{}/oauth/v2/token", app.base_url()),
        "clients": clients,
        "organizations": orgs,
        "ap": {
            "base_url": app.ap_base_url(),
            "token_url": format!("{}/oauth/token", app.ap_base_url()),
            "clients": app.ap.clients(),
        },
        "now": clock::fmt_crm(app.now()),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SeedRequest {
    records: usize,
}

async fn reset(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: SeedRequest = body_json(&body)?;
    app.reset();
    app.seed(req.records);
    Ok(ok(json!({"counts": app.counts()})))
}

async fn seed(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: SeedRequest = body_json(&body)?;
    app.seed(req.records);
    Ok(ok(json!({"counts": app.counts()})))
}

async fn counts(State(app): State<AppRef>) -> Response {
    ok(json!(app.counts()))
}

/// `GET /__sandbox/requests`: API requests served, by method and route.
async fn requests(State(app): State<AppRef>) -> Response {
    ok(json!({ "requests": app.requests() }))
}

fn clock_json(app: &App) -> Value {
    let now = app.now();
    json!({"now_ms": now, "now": clock::fmt_crm(now), "fixed": app.clock.is_fixed()})
}

async fn clock_get(State(app): State<AppRef>) -> Response {
    ok(clock_json(&app))
}

async fn clock_set(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: ClockRequest = body_json(&body)?;
    let target = match (&req.set, req.set_ms) {
        (Some(s), _) => Some(clock::parse_datetime(s).ok_or_else(|| {
            ApiError::raw(400, json!({"error": "set: not an ISO-8601 date-time"}))
        })?),
        (None, ms) => ms,
    };
    if let Some(t) = target {
        if req.running {
            app.clock.set_running(t)
        } else {
            app.clock.set(t)
        }
    }
    if let Some(d) = req.advance_ms {
        app.clock.advance(d);
    }
    Ok(ok(clock_json(&app)))
}

async fn faults_get(State(app): State<AppRef>) -> Response {
    ok(json!(app.faults.config()))
}

async fn faults_set(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let cfg: FaultConfig = body_json(&body)?;
    app.faults.set(cfg);
    Ok(ok(json!(app.faults.config())))
}

async fn limits_get(State(app): State<AppRef>) -> Response {
    ok(json!(app.limits.config.lock().unwrap().clone()))
}

async fn limits_usage(State(app): State<AppRef>) -> Response {
    ok(json!({ "organizations": app.limits.usage() }))
}

async fn limits_set(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let cfg: LimitConfig = body_json(&body)?;
    app.limits.set(cfg.clone());
    Ok(ok(json!(cfg)))
}

/// `GET /__sandbox/crm/bulk`: how Bulk Read and Bulk Write jobs behave.
async fn bulk_get(State(app): State<AppRef>) -> Response {
    ok(json!(app.bulk.config()))
}

/// `POST /__sandbox/crm/bulk`: `{"per_page": …, "polls_to_complete": …,
/// "write_polls_to_complete": …, "write_rows_max": …}`.
async fn bulk_set(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let config: crate::crm::bulk::BulkConfig = body_json(&body)?;
    app.bulk.set_config(config.clone());
    Ok(ok(json!(config)))
}

async fn auth_set(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: AuthRequest = body_json(&body)?;
    let mut a = app.auth.lock().unwrap();
    if let Some(s) = req.token_lifetime_secs {
        a.lifetime_ms = (s * 1000.0) as i64;
    }
    if let Some(m) = req.mint_limit {
        a.mint_limit = m;
    }
    if req.revoke {
        a.revoke_all();
    }
    let revoked = req
        .revoke_refresh_token
        .as_deref()
        .map(|rt| a.revoke_refresh_token(rt));
    let or_own = |s: String| Some(s).filter(|s| !s.is_empty());
    if let Some(d) = req.api_domain {
        a.api_domain = or_own(d);
    }
    if let Some(d) = req.accounts_server {
        a.accounts_server = or_own(d);
    }
    if let Some(l) = req.location {
        a.location = l;
    }
    Ok(ok(json!({
        "token_lifetime_secs": a.lifetime_ms as f64 / 1000.0,
        "mint_limit": a.mint_limit,
        "api_domain": a.api_domain.as_deref().unwrap_or(app.base_url()),
        "accounts_server": a.accounts_server.as_deref().unwrap_or(app.base_url()),
        "location": a.location,
        "revoked_refresh_token": revoked,
    })))
}

async fn auth_code(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: CodeRequest = body_json(&body)?;
    let code = app
        .grant_code(&req)
        .ok_or_else(|| ApiError::raw(400, json!({"error": "invalid_client"})))?;
    let secs = req
        .expires_in_secs
        .unwrap_or(crate::auth::CODE_LIFETIME_MS as f64 / 1000.0);
    Ok(ok(json!({"code": code, "expires_in_secs": secs})))
}

async fn save(State(app): State<AppRef>) -> Result<Response, ApiError> {
    let path = app.config.lock().unwrap().state_file.clone();
    let Some(path) = path else {
        return Err(ApiError::raw(
            400,
            json!({"error": "no state file configured (--state-file)"}),
        ));
    };
    app.read(|st| st.save(&path))
        .map_err(|e| ApiError::raw(500, json!({"error": e.to_string()})))?;
    Ok(ok(json!({"saved": path.display().to_string()})))
}

async fn notifications(State(app): State<AppRef>) -> Response {
    let log: Vec<Delivery> = app.notifier.log.lock().unwrap().clone();
    ok(json!(log))
}

async fn notifications_flush(State(app): State<AppRef>) -> Response {
    app.notifier.flush().await;
    let n = app.notifier.log.lock().unwrap().len();
    ok(json!({"delivered": n}))
}

async fn webhooks_get(State(app): State<AppRef>) -> Response {
    ok(json!(app.read(|st| st.webhooks.clone())))
}

/// Register a finance webhook (as the web UI's Settings → Webhooks does).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WebhookRequest {
    product: String,
    organization_id: String,
    entity: String,
    url: String,
    events: Vec<crate::notify::Change>,
    secret: Option<String>,
}

async fn webhooks_add(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: WebhookRequest = body_json(&body)?;
    let product = Product::parse(&req.product)
        .filter(|p| *p != Product::Crm)
        .ok_or_else(|| {
            ApiError::raw(
                400,
                json!({"error": "product must be books, invoice or billing"}),
            )
        })?;
    if req.url.is_empty() || req.entity.is_empty() {
        return Err(ApiError::raw(
            400,
            json!({"error": "url and entity are required"}),
        ));
    }
    let hook = app.mutate(|st, _| {
        let id = st.finance_id().to_string();
        let h = Webhook {
            webhook_id: id,
            product,
            organization_id: req.organization_id,
            entity: req.entity,
            url: req.url,
            events: req.events,
            secret: req.secret,
        };
        st.webhooks.push(h.clone());
        h
    });
    Ok(ApiError::raw(201, json!(hook)).into_response())
}

async fn ui_crm_create(
    State(app): State<AppRef>,
    Path(module): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::raw(400, json!({"error": e.to_string()})))?;
    Ok(ApiError::raw(201, app.ui_crm_write(&module, None, fields)?).into_response())
}

async fn ui_crm_update(
    State(app): State<AppRef>,
    Path((module, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::raw(400, json!({"error": e.to_string()})))?;
    Ok(ok(app.ui_crm_write(&module, Some(&id), fields)?))
}

async fn ui_crm_delete(
    State(app): State<AppRef>,
    Path((module, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ok(app.ui_crm_delete(&module, &id)?))
}
