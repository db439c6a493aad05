//! The admin API's handlers: each authorizes its caller, then answers
//! from the service.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::super::Service;
use super::super::access::{Answer, Fail, known, number, ok};
use super::super::actions::{self, Action};
use super::super::tokens::{self, Role};
use super::{Caller, Params, Shared, authorize};
use crate::store::{LedgerFilter, RunRecord};

pub(super) async fn healthz() -> &'static str {
    "ok"
}

pub(super) async fn metrics(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    let text = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

pub(super) async fn status(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    let (now, ticks) = s.clock_status();
    ok(
        json!({ "now": now.to_rfc3339(), "ticks": ticks, "jobs": s.status()?.iter().map(super::super::Status::json).collect::<Vec<_>>() }),
    )
}

pub(super) async fn runs(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    known(&s, &name)?;
    let (offset, limit) = (number(&q, "offset", 0)?, number(&q, "limit", 50)?);
    let runs: Vec<_> = s
        .env
        .store
        .runs(&name, offset + limit)?
        .into_iter()
        .skip(offset)
        .collect();
    let runs: Vec<_> = runs.iter().map(RunRecord::report).collect();
    ok(json!({ "runs": runs }))
}

fn filter(q: &HashMap<String, String>) -> Result<LedgerFilter, Fail> {
    match q.get("filter") {
        None => Ok(LedgerFilter::All),
        Some(name) => LedgerFilter::parse(name).ok_or_else(|| {
            Fail(
                StatusCode::BAD_REQUEST,
                format!("`filter={name}`: use all, skipped, failed, not-done or conflicts"),
            )
        }),
    }
}

pub(super) async fn ledger(
    State(s): State<Shared>,
    caller: Caller,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    known(&s, &name)?;
    let run = s
        .env
        .store
        .run(&name, id)?
        .ok_or_else(|| Fail(StatusCode::NOT_FOUND, format!("{name} has no run #{id}")))?;
    let (offset, limit) = (number(&q, "offset", 0)?, number(&q, "limit", 100)?);
    let rows = s.env.store.ledger(&name, id, filter(&q)?, offset, limit)?;
    ok(json!({ "run": run.report(), "offset": offset, "rows": rows }))
}

pub(super) async fn export(
    State(s): State<Shared>,
    caller: Caller,
    Path((name, id)): Path<(String, u64)>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
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

/// The links of a sync or rule (of one `from` record with `?id=`).
pub(super) async fn links(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    known(&s, &name)?;
    let links: Vec<Value> = s
        .env
        .store
        .links_listed(&name, q.get("id").map(String::as_str))?
        .into_iter()
        .map(|(from, to, link)| json!({ "from": from, "to": to, "link": link }))
        .collect();
    ok(json!({ "links": links }))
}

pub(super) async fn run_now(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    let full = q.get("full").is_some_and(|v| v == "true");
    let action = if full { Action::FullRun } else { Action::Run };
    authorize(&s, &caller, action.role())?;
    let job = actions::run_now(&s, &name, full)?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({ "queued": job }))).into_response())
}

pub(super) async fn set_paused(s: &Service, caller: &Caller, name: &str, paused: bool) -> Answer {
    let action = if paused {
        Action::Pause
    } else {
        Action::Resume
    };
    authorize(s, caller, action.role())?;
    actions::set_paused(s, name, paused)?;
    ok(json!({ "name": name, "paused": paused }))
}

pub(super) async fn pause(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer {
    set_paused(&s, &caller, &name, true).await
}

pub(super) async fn resume(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer {
    set_paused(&s, &caller, &name, false).await
}

pub(super) async fn retry(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer {
    authorize(&s, &caller, Action::Retry.role())?;
    let run = actions::retry(&s, &name).await?;
    ok(json!({ "run": run.as_ref().map(RunRecord::report) }))
}

/// What a first sync would do, written nowhere.
pub(super) async fn preview(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Action::Preview.role())?;
    let (run, rows) = actions::preview(&s, &name, number(&q, "limit", 200)?).await?;
    ok(json!({ "run": run.report(), "rows": rows }))
}

pub(super) async fn workspace(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
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
        .map(|j| json!({"job": j.name, "runs": j.names(), "schedule": super::super::schedule_text(&j.schedule)}))
        .collect();
    ok(json!({
        "path": ws.path.display().to_string(),
        "connections": connections,
        "jobs": jobs,
        "listen": s.config.listen.to_string(),
        "public_url": s.config.public_url,
    }))
}

pub(super) async fn list_tokens(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
    let list: Vec<Value> = tokens::list(&s.store)?
        .into_iter()
        .map(|t| json!({"name": t.name, "role": t.role, "created": t.created}))
        .collect();
    ok(json!({ "tokens": list }))
}

pub(super) async fn add_token(State(s): State<Shared>, caller: Caller, body: Bytes) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
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

pub(super) async fn revoke_token(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
    if tokens::revoke(&s.store, &name)? {
        ok(json!({ "revoked": name }))
    } else {
        Err(Fail(StatusCode::NOT_FOUND, format!("no token `{name}`")))
    }
}

/// Move the manual clock (`--manual-clock` only): tests drive schedules.
pub(super) async fn clock(State(s): State<Shared>, caller: Caller, body: Bytes) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
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

pub(super) async fn hook(
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
