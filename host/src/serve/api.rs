//! The admin API and the webhook receiver (axum). Every route but
//! `/healthz` and `/hooks/…` (which check the vendor's token or secret)
//! needs a bearer token of a sufficient role, unless the workspace opens
//! the API on loopback (`serve.open_on_loopback`).
//!
//! | route | role |
//! |---|---|
//! | `GET /healthz` | none |
//! | `GET /metrics`, `GET /v1/status`, `GET /v1/jobs/{name}/runs`, `GET /v1/jobs/{name}/runs/{id}`, `GET /v1/jobs/{name}/runs/{id}/export` | viewer |
//! | `POST /v1/jobs/{name}/run`, `…/pause`, `…/resume`, `…/retry`, `…/preview` | operator |
//! | `GET /v1/workspace`, `GET/POST /v1/tokens`, `DELETE /v1/tokens/{name}`, `POST /v1/clock` | admin |
//! | `POST /hooks/{connection}` | the vendor's channel token or webhook secret |

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::tokens::{self, Role};
use super::{JobKind, Service};
use crate::store::{LedgerFilter, RunTrigger};
use crate::sync::{self, NoProgress, RunOptions};

type Shared = Arc<Service>;
type Params = Query<HashMap<String, String>>;

/// An error answer: status and message, as JSON.
struct Fail(StatusCode, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl<E: std::error::Error> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

type Answer = Result<Response, Fail>;

fn ok(v: Value) -> Answer {
    Ok(axum::Json(v).into_response())
}

/// The caller's token must have at least `need`.
fn authorize(s: &Service, headers: &HeaderMap, need: Role) -> Result<(), Fail> {
    if s.config.open_on_loopback {
        return Ok(());
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Fail(
                StatusCode::UNAUTHORIZED,
                "a bearer token is needed (`ferry tokens add`)".into(),
            )
        })?;
    let token = tokens::verify(&s.store, bearer.trim())?
        .ok_or_else(|| Fail(StatusCode::UNAUTHORIZED, "unknown token".into()))?;
    if token.role < need {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` is {}; this needs {}",
                token.name,
                token.role.name(),
                need.name()
            ),
        ));
    }
    Ok(())
}

/// The admin API and webhook receiver of `service`.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/jobs/{name}/runs", get(runs))
        .route("/v1/jobs/{name}/runs/{id}", get(ledger))
        .route("/v1/jobs/{name}/runs/{id}/export", get(export))
        .route("/v1/jobs/{name}/run", post(run_now))
        .route("/v1/jobs/{name}/pause", post(pause))
        .route("/v1/jobs/{name}/resume", post(resume))
        .route("/v1/jobs/{name}/retry", post(retry))
        .route("/v1/jobs/{name}/preview", post(preview))
        .route("/v1/workspace", get(workspace))
        .route("/v1/tokens", get(list_tokens).post(add_token))
        .route("/v1/tokens/{name}", delete(revoke_token))
        .route("/v1/clock", post(clock))
        .route("/hooks/{connection}", post(hook))
        .with_state(service)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(s): State<Shared>, headers: HeaderMap) -> Answer {
    authorize(&s, &headers, Role::Viewer)?;
    let text = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn status(State(s): State<Shared>, headers: HeaderMap) -> Answer {
    authorize(&s, &headers, Role::Viewer)?;
    let (now, ticks) = s.clock_status();
    ok(json!({ "now": now.to_rfc3339(), "ticks": ticks, "jobs": s.status()? }))
}

/// A sync or trigger rule of the workspace.
fn known(s: &Service, name: &str) -> Result<(), Fail> {
    if s.job_of(name).is_some() {
        Ok(())
    } else {
        Err(Fail(
            StatusCode::NOT_FOUND,
            format!("no sync or trigger `{name}`"),
        ))
    }
}

fn number(q: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, Fail> {
    q.get(key).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| Fail(StatusCode::BAD_REQUEST, format!("`{key}` must be a number")))
    })
}

async fn runs(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &headers, Role::Viewer)?;
    known(&s, &name)?;
    let (offset, limit) = (number(&q, "offset", 0)?, number(&q, "limit", 50)?);
    let runs: Vec<_> = s
        .env
        .store
        .runs(&name, offset + limit)?
        .into_iter()
        .skip(offset)
        .collect();
    ok(json!({ "runs": runs }))
}

fn filter(q: &HashMap<String, String>) -> Result<LedgerFilter, Fail> {
    Ok(match q.get("filter").map(String::as_str) {
        None | Some("all") => LedgerFilter::All,
        Some("skipped") => LedgerFilter::Skipped,
        Some("failed") => LedgerFilter::Failed,
        Some("not-done") => LedgerFilter::NotDone,
        Some(other) => {
            return Err(Fail(
                StatusCode::BAD_REQUEST,
                format!("`filter={other}`: use all, skipped, failed or not-done"),
            ));
        }
    })
}

async fn ledger(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &headers, Role::Viewer)?;
    known(&s, &name)?;
    let run = s
        .env
        .store
        .run(&name, id)?
        .ok_or_else(|| Fail(StatusCode::NOT_FOUND, format!("{name} has no run #{id}")))?;
    let (offset, limit) = (number(&q, "offset", 0)?, number(&q, "limit", 100)?);
    let rows = s.env.store.ledger(&name, id, filter(&q)?, offset, limit)?;
    ok(json!({ "run": run, "offset": offset, "rows": rows }))
}

async fn export(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &headers, Role::Viewer)?;
    known(&s, &name)?;
    let rows = s.env.store.ledger(&name, id, filter(&q)?, 0, usize::MAX)?;
    match q.get("format").map(String::as_str) {
        None | Some("json") => ok(json!(rows)),
        Some("csv") => {
            let body = crate::store::ledger_csv(&rows)?;
            Ok(([(header::CONTENT_TYPE, "text/csv")], body).into_response())
        }
        Some(other) => Err(Fail(
            StatusCode::BAD_REQUEST,
            format!("`format={other}`: use csv or json"),
        )),
    }
}

async fn run_now(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &headers, Role::Operator)?;
    known(&s, &name)?;
    let i = s.job_of(&name).expect("known");
    let full = q.get("full").is_some_and(|v| v == "true");
    s.request(i, RunTrigger::Manual, full, std::time::Duration::ZERO);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "queued": s.jobs[i].name })),
    )
        .into_response())
}

async fn set_paused(s: &Service, headers: &HeaderMap, name: &str, paused: bool) -> Answer {
    authorize(s, headers, Role::Operator)?;
    known(s, name)?;
    s.env.store.set_paused(name, paused)?;
    s.wake.notify_one();
    ok(json!({ "name": name, "paused": paused }))
}

async fn pause(State(s): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Answer {
    set_paused(&s, &headers, &name, true).await
}

async fn resume(State(s): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Answer {
    set_paused(&s, &headers, &name, false).await
}

/// A sync's name, or 400 for a trigger rule.
fn sync_name(s: &Service, name: &str, what: &str) -> Result<(), Fail> {
    known(s, name)?;
    match &s.jobs[s.job_of(name).expect("known")].kind {
        JobKind::Sync(_) => Ok(()),
        JobKind::Rules(..) => Err(Fail(
            StatusCode::BAD_REQUEST,
            format!("`{name}` is a trigger rule; {what} is for syncs"),
        )),
    }
}

async fn retry(State(s): State<Shared>, headers: HeaderMap, Path(name): Path<String>) -> Answer {
    authorize(&s, &headers, Role::Operator)?;
    sync_name(&s, &name, "retry")?;
    let run = sync::retry(&s.env, &name, &NoProgress).await?;
    ok(json!({ "run": run }))
}

/// What a first sync would do, written nowhere.
async fn preview(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &headers, Role::Operator)?;
    sync_name(&s, &name, "preview")?;
    let options = RunOptions {
        dry_run: true,
        full: true,
        ..RunOptions::default()
    };
    let run = sync::run(&s.env, &name, &options, &NoProgress).await?;
    let limit = number(&q, "limit", 200)?;
    let rows = s
        .env
        .store
        .ledger(&name, run.id, LedgerFilter::All, 0, limit)?;
    ok(json!({ "run": run, "rows": rows }))
}

async fn workspace(State(s): State<Shared>, headers: HeaderMap) -> Answer {
    authorize(&s, &headers, Role::Admin)?;
    let ws = &s.env.workspace;
    let connections: Vec<Value> = ws
        .connections
        .values()
        .map(|c| {
            json!({
                "name": c.name.value,
                "connector": c.connector.value,
                // Secrets never leave: only where they come from.
                "auth": c.auth.iter().map(|(k, v)| (k.clone(), json!(format!("{:?}", v.value.reference())))).collect::<serde_json::Map<_, _>>(),
                "budget": c.budget.map(|b| json!({"daily": b.daily, "pause_at": b.pause_at})),
                "channel": s.channel(&c.name.value).map(|ch| json!({"channel_id": ch.channel_id, "events": ch.events, "expiry": ch.expiry})),
            })
        })
        .collect();
    let jobs: Vec<Value> = s
        .jobs
        .iter()
        .map(|j| json!({"job": j.name, "runs": j.names(), "schedule": super::schedule_text(&j.schedule)}))
        .collect();
    ok(json!({
        "path": ws.path.display().to_string(),
        "connections": connections,
        "jobs": jobs,
        "listen": s.config.listen.to_string(),
        "public_url": s.config.public_url,
    }))
}

async fn list_tokens(State(s): State<Shared>, headers: HeaderMap) -> Answer {
    authorize(&s, &headers, Role::Admin)?;
    let list: Vec<Value> = tokens::list(&s.store)?
        .into_iter()
        .map(|t| json!({"name": t.name, "role": t.role, "created": t.created}))
        .collect();
    ok(json!({ "tokens": list }))
}

async fn add_token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    authorize(&s, &headers, Role::Admin)?;
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    let name = req.get("name").and_then(Value::as_str).unwrap_or_default();
    let role: Role = serde_json::from_value(req.get("role").cloned().unwrap_or(Value::Null))
        .map_err(|_| {
            Fail(
                StatusCode::BAD_REQUEST,
                "`role` is viewer, operator or admin".into(),
            )
        })?;
    match tokens::create(&s.store, name, role) {
        Ok(secret) => Ok((
            StatusCode::CREATED,
            axum::Json(json!({"name": name, "role": role, "token": secret})),
        )
            .into_response()),
        Err(e @ (tokens::TokenError::Exists(_) | tokens::TokenError::BadName(_))) => {
            Err(Fail(StatusCode::BAD_REQUEST, e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke_token(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Answer {
    authorize(&s, &headers, Role::Admin)?;
    if tokens::revoke(&s.store, &name)? {
        ok(json!({ "revoked": name }))
    } else {
        Err(Fail(StatusCode::NOT_FOUND, format!("no token `{name}`")))
    }
}

/// Move the manual clock (`--manual-clock` only): tests drive schedules.
async fn clock(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Answer {
    authorize(&s, &headers, Role::Admin)?;
    let Some(manual) = &s.manual else {
        return Err(Fail(
            StatusCode::NOT_FOUND,
            "the clock is the system's (start with --manual-clock to move it)".into(),
        ));
    };
    let req: Value = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    let secs = req
        .get("advance_secs")
        .and_then(Value::as_u64)
        .ok_or_else(|| Fail(StatusCode::BAD_REQUEST, "give `advance_secs`".into()))?;
    let now = manual.advance(std::time::Duration::from_secs(secs));
    s.wake.notify_one();
    ok(json!({ "now": now.to_rfc3339() }))
}

async fn hook(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(connection): Path<String>,
    body: Bytes,
) -> Answer {
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    let secret = headers
        .get("x-zoho-webhook-secret")
        .and_then(|v| v.to_str().ok());
    match s.receive(&connection, secret, &json) {
        Ok(queued) => ok(json!({ "queued": queued })),
        Err((status, why)) => Err(Fail(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            why,
        )),
    }
}
