//! The cluster's console on every worker (`ferry serve --workspaces DIR
//! --listen ADDR`): the whole cluster as the shared store sees it, and the
//! webhook receiver for every workspace in DIR.
//!
//! | route | who |
//! |---|---|
//! | `GET /healthz` | anyone |
//! | `POST /hooks/{workspace}/{connection}` | the connection's webhook secret |
//! | `GET /v1/cluster` | a cluster token (`ferry cluster tokens add`), any role |
//! | `/`, `/login`, `/logout` | the cluster page, signed in by a cluster token |
//!
//! A webhook becomes a row in `ferry_requests` (one per workspace,
//! connection and entity, so a burst received by several workers is one
//! request) and makes the workspace due; whichever worker claims it next
//! runs what reads that entity, once. CRM notification channels are opened
//! and renewed by whichever worker holds the workspace when one is due,
//! notifying `<public_url>/hooks/<workspace>/<connection>`; the worker
//! shares each channel's id and a digest of its token on the
//! [`ChannelBoard`], so the console a notification reaches checks it and
//! files it like a webhook (its entity is the CRM module).
//!
//! Routes but the hooks and `/healthz` are screened like the admin API's
//! ([`super::api::screen`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::access::{Answer, Fail, Identity, ok};
use super::api::screen::{Allowed, guard, guard_pages};
use super::dashboard::html::esc;
use super::dashboard::session::{self, Sessions};
use super::dashboard::{bare, login_form, shell, signed_in};
use super::hooks::{Channel, check_secret, entity_of};
use super::tokens;
use crate::config::ServeConfig;
use crate::store::postgres::{ClusterMeta, LeaseRow, Leases, PgPacer, Requests};

/// The `serve:` section of a workspace in the worker's folder, by its name
/// in the store; `Ok(None)`: no such workspace here.
pub type ServeSections = dyn Fn(&str) -> anyhow::Result<Option<ServeConfig>> + Send + Sync;

/// What the console reads and writes.
pub struct Console {
    /// This worker's name as a lease holder.
    pub worker: String,
    pub leases: Leases,
    pub requests: Requests,
    /// The cluster's own keys: its API tokens and the channels workers
    /// opened.
    pub meta: ClusterMeta,
    /// Requests each vendor account was sent today, by every worker.
    pub accounts: PgPacer,
    pub serve_sections: Box<ServeSections>,
    sessions: Sessions,
}

impl Console {
    pub fn new(
        worker: String,
        leases: Leases,
        requests: Requests,
        meta: ClusterMeta,
        accounts: PgPacer,
        serve_sections: Box<ServeSections>,
    ) -> Console {
        Console {
            worker,
            leases,
            requests,
            meta,
            accounts,
            serve_sections,
            sessions: Sessions::default(),
        }
    }

    fn identify(&self, secret: &str) -> Result<Identity, Fail> {
        let token = tokens::verify(&self.meta, secret.trim())?
            .ok_or_else(|| Fail(StatusCode::UNAUTHORIZED, "unknown cluster token".into()))?;
        Ok(Identity {
            name: token.name,
            role: token.role,
        })
    }

    /// The whole cluster, as JSON.
    fn view(&self) -> Result<Value, Fail> {
        let rows = self.leases.list()?;
        let accounts: Vec<Value> = self
            .accounts
            .accounts_today()?
            .into_iter()
            .map(|(account, calls)| json!({ "account": account, "calls_today": calls }))
            .collect();
        Ok(json!({
            "worker": self.worker,
            "workers": workers(&rows),
            "workspaces": rows,
            "accounts": accounts,
        }))
    }
}

type Shared = Arc<Console>;

/// The CRM notification channels cluster workers opened, in
/// `ferry_cluster_meta` under `channel/<workspace>/<connection>`: the
/// channel's id and a digest of its token (the token itself stays in the
/// workspace's state), so the worker a notification reaches can check it.
#[derive(Clone)]
pub struct ChannelBoard {
    meta: ClusterMeta,
}

impl ChannelBoard {
    pub fn new(meta: ClusterMeta) -> ChannelBoard {
        ChannelBoard { meta }
    }

    fn key(workspace: &str, connection: &str) -> String {
        format!("channel/{workspace}/{connection}")
    }

    /// Share the channel `workspace`'s `connection` has open now.
    pub fn publish(
        &self,
        workspace: &str,
        connection: &str,
        channel: &Channel,
    ) -> Result<(), crate::store::StoreError> {
        self.meta.put(
            &Self::key(workspace, connection),
            &json!({
                "channel_id": channel.channel_id,
                "token_sha256": tokens::digest(&channel.token),
                "expiry": channel.expiry,
            }),
        )
    }

    /// The module a notification names, if it carries the id and token of
    /// the channel open for `workspace`'s `connection`; 401 otherwise.
    fn check(&self, workspace: &str, connection: &str, body: &Value) -> Result<String, Fail> {
        let refused = || {
            Fail(
                StatusCode::UNAUTHORIZED,
                "unknown channel or wrong token".into(),
            )
        };
        let shared = self
            .meta
            .get(&Self::key(workspace, connection))?
            .ok_or_else(refused)?;
        let given_id = match &body["channel_id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let token = body["token"].as_str().unwrap_or_default();
        let digest_matches: bool = shared["token_sha256"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .ct_eq(tokens::digest(token).as_bytes())
            .into();
        if !(digest_matches & (shared["channel_id"] == given_id.as_str())) {
            return Err(refused());
        }
        Ok(body["module"].as_str().unwrap_or_default().to_string())
    }
}

/// The console's routes, answering as `bound`.
pub fn router(console: Arc<Console>, bound: SocketAddr) -> Router {
    let allowed = Arc::new(Allowed::new(bound, None));
    let api = Router::new()
        .route("/v1/cluster", get(cluster))
        .route_layer(middleware::from_fn_with_state(allowed.clone(), guard));
    let pages = Router::new()
        .route("/", get(page))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/assets/dashboard.css", get(super::dashboard::css))
        .route("/assets/dashboard.js", get(super::dashboard::js))
        .route_layer(middleware::from_fn_with_state(allowed, guard_pages));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/hooks/{workspace}/{connection}", post(hook))
        .merge(api)
        .merge(pages)
        .with_state(console)
}

/// The workers holding leases now, with how many workspaces each.
fn workers(rows: &[LeaseRow]) -> Value {
    let mut held: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in rows {
        if let Some(h) = &r.holder {
            *held.entry(h).or_default() += 1;
        }
    }
    held.into_iter()
        .map(|(worker, workspaces)| json!({ "worker": worker, "workspaces": workspaces }))
        .collect()
}

async fn cluster(State(c): State<Shared>, headers: HeaderMap) -> Answer {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            Fail(
                StatusCode::UNAUTHORIZED,
                "give a cluster token: Authorization: Bearer <token> (ferry cluster tokens add)"
                    .into(),
            )
        })?;
    c.identify(bearer)?;
    ok(c.view()?)
}

async fn hook(
    State(c): State<Shared>,
    headers: HeaderMap,
    Path((workspace, connection)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    let serve = (c.serve_sections)(&workspace)
        .map_err(|e| Fail(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")))?
        .ok_or_else(|| {
            Fail(
                StatusCode::NOT_FOUND,
                format!("no workspace `{workspace}` here"),
            )
        })?;
    let entity = if json.get("channel_id").is_some() {
        // CRM: the channel's id and token come back in the body.
        ChannelBoard::new(c.meta.clone()).check(&workspace, &connection, &json)?
    } else {
        // The finance products: a shared secret in a header.
        let secret = headers
            .get("x-zoho-webhook-secret")
            .and_then(|v| v.to_str().ok());
        check_secret(&serve, &connection, secret).map_err(|(status, why)| {
            Fail(
                StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
                why,
            )
        })?;
        entity_of(&json)
    };
    c.requests
        .add(&workspace, &connection, &entity, serve.debounce)?;
    tracing::info!(workspace, connection, entity, "webhook: run requested");
    let answer = json!({ "queued": true, "workspace": workspace, "entity": entity });
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

/// The signed-in session of a request, if any.
fn session_of(c: &Console, headers: &HeaderMap) -> Option<(String, session::Session)> {
    let id = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session::cookie_id)?;
    c.sessions.get(id).map(|s| (id.to_string(), s))
}

const TOKEN_COMMAND: &str = "ferry cluster tokens add";

async fn login_page() -> Response {
    bare("Sign in", &login_form(None, TOKEN_COMMAND))
}

async fn login(State(c): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    match c.identify(token) {
        Ok(who) => {
            tracing::info!(token = who.name, "cluster page: signed in");
            let id = c.sessions.open(who);
            (
                [(header::SET_COOKIE, session::set_cookie(&id, false))],
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(Fail(status, why)) => {
            let mut page = bare("Sign in", &login_form(Some(&why), TOKEN_COMMAND));
            *page.status_mut() = status;
            page
        }
    }
}

async fn logout(
    State(c): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let given = form.get("csrf").map(String::as_str).unwrap_or_default();
    if let Some((id, s)) = session_of(&c, &headers)
        && s.csrf_ok(given)
    {
        c.sessions.close(&id);
    }
    (
        [(header::SET_COOKIE, session::clear_cookie(false))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// Seconds as a short span: `12s`, `3m`, `2h`.
fn span(secs: f64) -> String {
    let s = secs.abs().round() as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

async fn page(State(c): State<Shared>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&c, &headers) else {
        return Redirect::to("/login").into_response();
    };
    let rows = match c.leases.list() {
        Ok(rows) => rows,
        Err(e) => {
            let mut page = bare(
                "Cluster",
                &format!(
                    "<p class=\"error\" role=\"alert\">{}</p>",
                    esc(&e.to_string())
                ),
            );
            *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return page;
        }
    };
    let held = rows.iter().filter(|r| r.holder.is_some()).count();
    let mut body = format!(
        "<h1>Cluster</h1><p>{} workspaces, {held} held now by {} workers. This page is served by worker <code>{}</code>.</p>",
        rows.len(),
        workers(&rows).as_array().map_or(0, Vec::len),
        esc(&c.worker)
    );
    body.push_str("<div class=\"scroll\"><table class=\"cluster\"><thead><tr><th scope=\"col\">Workspace</th><th scope=\"col\">Held by</th><th scope=\"col\">Epoch</th><th scope=\"col\">Last heartbeat</th><th scope=\"col\">Lease left</th><th scope=\"col\">Next due</th><th scope=\"col\">Webhook requests</th></tr></thead><tbody>");
    for r in &rows {
        let (holder, beat, left) = match &r.holder {
            Some(h) => (
                format!("<code>{}</code>", esc(h)),
                r.heartbeat_age
                    .map_or("-".into(), |a| format!("{} ago", span(a))),
                span(r.expires_in),
            ),
            None => ("idle".into(), "-".into(), "-".into()),
        };
        let due = if r.due_in <= 0.0 {
            "now".to_string()
        } else {
            format!("in {}", span(r.due_in))
        };
        body.push_str(&format!(
            "<tr data-workspace=\"{ws}\"><td>{ws}</td><td>{holder}</td><td>{}</td><td>{beat}</td><td>{left}</td><td>{due}</td><td>{}</td></tr>",
            r.epoch,
            r.requests,
            ws = esc(&r.workspace),
        ));
    }
    body.push_str("</tbody></table></div>");
    let accounts = c.accounts.accounts_today().unwrap_or_default();
    if !accounts.is_empty() {
        body.push_str("<h2>Vendor accounts today</h2><p>Requests since 00:00 UTC from every worker: what a daily budget counts.</p><div class=\"scroll\"><table class=\"accounts\"><thead><tr><th scope=\"col\">Account</th><th scope=\"col\">Requests today</th></tr></thead><tbody>");
        for (account, calls) in accounts {
            body.push_str(&format!(
                "<tr><td><code>{}</code></td><td>{calls}</td></tr>",
                esc(&account)
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    shell(
        "Cluster",
        "<a href=\"/\" aria-current=\"page\">Cluster</a>",
        &signed_in(&session),
        Some(false),
        &body,
    )
}
