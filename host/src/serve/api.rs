//! The admin API and the webhook receiver (axum).
//!
//! | route | role |
//! |---|---|
//! | `GET /healthz` | none |
//! | `GET /metrics`, `GET /v1/status`, `GET /v1/jobs/{name}/runs`, `GET /v1/jobs/{name}/runs/{id}`, `GET /v1/jobs/{name}/runs/{id}/export` | viewer |
//! | `POST /v1/jobs/{name}/run`, `…/pause`, `…/resume`, `…/retry`, `…/preview` | operator |
//! | `GET /v1/workspace`, `GET/POST /v1/tokens`, `DELETE /v1/tokens/{name}`, `POST /v1/clock` | admin |
//! | `POST /hooks/{connection}` | the vendor's channel token or webhook secret |
//! | `/`, `/jobs/…`, `/links`, `/connections` | the dashboard: a session's role ([`super::dashboard`]) |
//!
//! Before any token is looked at, every admin route (all but `/healthz`
//! and `/hooks/…`) is screened ([`screen`]):
//!
//! * its `Host` must name this server — the address it is bound to (with
//!   `localhost`, `127.0.0.1` and `[::1]` when that is loopback; any IP
//!   literal when it is bound to every address) or `serve.public_url`'s
//!   host and port — or it is answered 421: a page whose name was
//!   re-pointed at 127.0.0.1 (DNS rebinding) is not this server;
//! * a request that changes something (any method but GET and HEAD) is
//!   refused 403 when a browser may have sent it for another site: a body
//!   an HTML form can send (`application/x-www-form-urlencoded`,
//!   `multipart/form-data`, `text/plain`) or any body not declared JSON,
//!   an `Origin` other than the server's own, or `Sec-Fetch-Site:
//!   cross-site`. Scripts (curl) that send no `Origin` and no body, or a
//!   JSON body, pass.
//!
//! The dashboard's pages are screened alike, except that a same-site form
//! body passes ([`screen_as`]): their session cookie is `SameSite=Strict`
//! and every form carries the session's CSRF token.
//!
//! Then every route but `/healthz` and the hooks needs a bearer token of a
//! sufficient role. With `serve.open_on_loopback`, a request without a
//! token that comes straight from loopback (no `Forwarded`,
//! `X-Forwarded-*` or `X-Real-IP` header: nothing relayed it) may read
//! what a viewer may; changing anything needs a token everywhere.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use super::Service;
use super::access::{self, Answer, Fail, known, number, ok};
use super::actions::{self, Action};
use super::tokens::{self, Role};
use crate::store::{LedgerFilter, RunRecord};

type Shared = Arc<Service>;
type Params = Query<HashMap<String, String>>;

/// Who is calling: the request's headers, and whether it came straight
/// from this machine.
pub(super) struct Caller {
    pub(super) headers: HeaderMap,
    pub(super) loopback: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Caller {
            loopback: direct_loopback(peer, &parts.headers),
            headers: parts.headers.clone(),
        })
    }
}

/// Headers a proxy adds: a request carrying one was relayed, whoever
/// first sent it, so it is not a loopback caller even when the proxy is.
const RELAYED: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Whether the peer is a loopback address and nothing says it relays
/// someone else. An unknown peer is not loopback.
pub(super) fn direct_loopback(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    };
    ip.is_loopback() && !RELAYED.iter().any(|h| headers.contains_key(*h))
}

/// The caller's token must have at least `need`. Without a token, a
/// direct loopback caller may read (viewer) when the workspace says
/// `serve.open_on_loopback`; nothing else passes.
fn authorize(s: &Service, caller: &Caller, need: Role) -> Result<(), Fail> {
    let bearer = caller
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    access::authorize(s, bearer, caller.loopback, need).map(|_| ())
}

/// One origin the server is reached at: scheme, host (lowercase, IPv6 in
/// brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    scheme: String,
    host: String,
    port: u16,
}

impl Site {
    /// `scheme://authority`, normalised as a URL is (case, IP forms,
    /// default ports).
    fn parse(scheme: &str, authority: &str) -> Option<Site> {
        let url = url::Url::parse(&format!("{scheme}://{authority}/")).ok()?;
        Site::of(&url)
    }

    fn of(url: &url::Url) -> Option<Site> {
        Some(Site {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The names the admin API answers to: what `Host` may say, and so which
/// origins are its own.
#[derive(Debug, Clone)]
pub(crate) struct Allowed {
    sites: Vec<Site>,
    /// Bound to every address (`0.0.0.0`, `::`): any IP literal on this
    /// port (an IP literal cannot be re-pointed, a name can).
    any_ip: Option<u16>,
}

impl Allowed {
    /// For a server bound to `bound`, reached from outside at `public_url`.
    pub(crate) fn new(bound: SocketAddr, public_url: Option<&str>) -> Allowed {
        let port = bound.port();
        let ip = bound.ip();
        let mut authorities: Vec<String> = Vec::new();
        if ip.is_loopback() || ip.is_unspecified() {
            for name in ["localhost", "127.0.0.1", "[::1]"] {
                authorities.push(format!("{name}:{port}"));
            }
        }
        if !ip.is_unspecified() {
            authorities.push(bound.to_string());
        }
        let mut sites: Vec<Site> = authorities
            .iter()
            .filter_map(|a| Site::parse("http", a))
            .collect();
        if let Some(site) = public_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| Site::of(&u))
        {
            sites.push(site);
        }
        let mut unique = Vec::new();
        for s in sites {
            if !unique.contains(&s) {
                unique.push(s);
            }
        }
        Allowed {
            sites: unique,
            any_ip: ip.is_unspecified().then_some(port),
        }
    }

    /// The sites a `Host` value names (none: not this server).
    fn matching(&self, host: &str) -> Vec<Site> {
        // A Host is an authority only: no user, path, query or fragment.
        if host.is_empty() || host.contains(['@', '/', '\\', '?', '#', ' ']) {
            return Vec::new();
        }
        let Ok(url) = url::Url::parse(&format!("http://{host}/")) else {
            return Vec::new();
        };
        let Some(name) = url.host_str().map(str::to_ascii_lowercase) else {
            return Vec::new();
        };
        // Without a port (or with http's, which a URL drops) a Host means
        // the scheme's default.
        let fits = |site: &Site| match url.port() {
            Some(p) => p == site.port,
            None => site.port == 80 || Some(site.port) == default_port(&site.scheme),
        };
        let mut out: Vec<Site> = self
            .sites
            .iter()
            .filter(|s| s.host == name && fits(s))
            .cloned()
            .collect();
        if let Some(port) = self.any_ip
            && matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)))
            && url.port().unwrap_or(80) == port
        {
            out.push(Site {
                scheme: "http".into(),
                host: name,
                port,
            });
        }
        out
    }

    /// What to tell a caller the server answers to.
    fn describe(&self) -> String {
        let mut names: Vec<String> = self
            .sites
            .iter()
            .map(|s| format!("{}:{}", s.host, s.port))
            .collect();
        if let Some(port) = self.any_ip {
            names.push(format!("any IP address:{port}"));
        }
        names.join(", ")
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Why a request was refused before its token was looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its `Host` is not this server (DNS rebinding, a stray proxy): 421.
    Host(String),
    /// It changes something and a browser may have sent it for another
    /// site: 403.
    CrossSite(String),
}

/// Content types an HTML form (or a script's "simple" request) can send
/// to any site without asking it first.
const FORM_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// Screen a request to the admin API: `Host`, and for any method but GET
/// and HEAD, signs that another site's page sent it.
#[cfg(test)]
pub(crate) fn screen(
    method: &Method,
    headers: &HeaderMap,
    allowed: &Allowed,
) -> Result<(), Refusal> {
    screen_as(method, headers, allowed, false)
}

/// [`screen`]; with `forms`, a same-site form body passes too (the
/// dashboard's pages: their session cookie is `SameSite=Strict` and every
/// form carries the session's CSRF token).
pub(crate) fn screen_as(
    method: &Method,
    headers: &HeaderMap,
    allowed: &Allowed,
    forms: bool,
) -> Result<(), Refusal> {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    let Some(host) = text(header::HOST) else {
        return Err(Refusal::Host(format!(
            "no `Host` header; this server answers to {}",
            allowed.describe()
        )));
    };
    let sites = allowed.matching(&host);
    if sites.is_empty() {
        let shown: String = host.chars().take(100).collect();
        return Err(Refusal::Host(format!(
            "`Host: {shown}` is not this server; it answers to {} (set `serve.public_url` for another name)",
            allowed.describe()
        )));
    }
    if *method == Method::GET || *method == Method::HEAD {
        return Ok(());
    }
    if text(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(Refusal::CrossSite(
            "`Sec-Fetch-Site: cross-site`: a page of another site sent this".into(),
        ));
    }
    if let Some(origin) = text(header::ORIGIN) {
        let own = url::Url::parse(&origin)
            .ok()
            .and_then(|u| Site::of(&u))
            .is_some_and(|o| sites.contains(&o));
        if !own {
            let shown: String = origin.chars().take(100).collect();
            return Err(Refusal::CrossSite(format!(
                "`Origin: {shown}` is not this server's own origin ({})",
                sites[0].origin()
            )));
        }
    }
    let content_type = text(header::CONTENT_TYPE);
    let essence = content_type.as_deref().map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if forms && essence.as_deref() == Some("application/x-www-form-urlencoded") {
        return Ok(());
    }
    if let Some(e) = &essence
        && FORM_TYPES.contains(&e.as_str())
    {
        return Err(Refusal::CrossSite(format!(
            "`Content-Type: {e}` is what a form on any site can send; send `application/json`"
        )));
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || text(header::CONTENT_LENGTH).is_some_and(|n| n != "0");
    let json = essence
        .as_deref()
        .is_some_and(|e| e == "application/json" || e.ends_with("+json"));
    if has_body && !json {
        return Err(Refusal::CrossSite(
            "a request with a body must say `Content-Type: application/json`".into(),
        ));
    }
    Ok(())
}

/// The screen as a layer on the admin routes.
async fn guard(State(allowed): State<Arc<Allowed>>, req: Request, next: Next) -> Response {
    guarded(&allowed, req, next, false).await
}

/// The screen as a layer on the dashboard's pages.
async fn guard_pages(State(allowed): State<Arc<Allowed>>, req: Request, next: Next) -> Response {
    guarded(&allowed, req, next, true).await
}

async fn guarded(allowed: &Allowed, mut req: Request, next: Next, forms: bool) -> Response {
    // HTTP/2 carries the authority in the URI, not in `Host`.
    if !req.headers().contains_key(header::HOST)
        && let Some(a) = req.uri().authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        req.headers_mut().insert(header::HOST, v);
    }
    match screen_as(req.method(), req.headers(), allowed, forms) {
        Ok(()) => next.run(req).await,
        Err(Refusal::Host(why)) => {
            tracing::warn!("refused: {why}");
            Fail(StatusCode::MISDIRECTED_REQUEST, why).into_response()
        }
        Err(Refusal::CrossSite(why)) => {
            tracing::warn!(method = %req.method(), path = req.uri().path(), "refused: {why}");
            Fail(StatusCode::FORBIDDEN, why).into_response()
        }
    }
}

/// The admin API and webhook receiver of `service`, bound to `bound`.
///
/// `/healthz` and `/hooks/…` are not screened: vendors call the hooks
/// through proxies and tunnels that may rewrite `Host` and send bodies of
/// their own types, and each hook carries its own secret (a channel token
/// or a webhook secret, checked in constant time) that a page of another
/// site does not have, so neither a re-pointed name nor a cross-site post
/// gains anything there; `/healthz` says only `ok`.
pub fn router(service: Arc<Service>, bound: SocketAddr) -> Router {
    let allowed = Arc::new(Allowed::new(bound, service.config.public_url.as_deref()));
    let admin = Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/jobs/{name}/runs", get(runs))
        .route("/v1/jobs/{name}/runs/{id}", get(ledger))
        .route("/v1/jobs/{name}/runs/{id}/export", get(export))
        .route("/v1/jobs/{name}/links", get(links))
        .route("/v1/jobs/{name}/run", post(run_now))
        .route("/v1/jobs/{name}/pause", post(pause))
        .route("/v1/jobs/{name}/resume", post(resume))
        .route("/v1/jobs/{name}/retry", post(retry))
        .route("/v1/jobs/{name}/preview", post(preview))
        .route("/v1/workspace", get(workspace))
        .route("/v1/tokens", get(list_tokens).post(add_token))
        .route("/v1/tokens/{name}", delete(revoke_token))
        .route("/v1/clock", post(clock))
        .route_layer(middleware::from_fn_with_state(allowed.clone(), guard));
    let pages = super::dashboard::routes()
        .route_layer(middleware::from_fn_with_state(allowed, guard_pages));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/hooks/{connection}", post(hook))
        .merge(admin)
        .merge(pages)
        .with_state(service)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    let text = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

async fn status(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Viewer)?;
    let (now, ticks) = s.clock_status();
    ok(
        json!({ "now": now.to_rfc3339(), "ticks": ticks, "jobs": s.status()?.iter().map(super::Status::json).collect::<Vec<_>>() }),
    )
}

async fn runs(
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

async fn ledger(
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

async fn export(
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
async fn links(
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

async fn run_now(
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

async fn set_paused(s: &Service, caller: &Caller, name: &str, paused: bool) -> Answer {
    let action = if paused {
        Action::Pause
    } else {
        Action::Resume
    };
    authorize(s, caller, action.role())?;
    actions::set_paused(s, name, paused)?;
    ok(json!({ "name": name, "paused": paused }))
}

async fn pause(State(s): State<Shared>, caller: Caller, Path(name): Path<String>) -> Answer {
    set_paused(&s, &caller, &name, true).await
}

async fn resume(State(s): State<Shared>, caller: Caller, Path(name): Path<String>) -> Answer {
    set_paused(&s, &caller, &name, false).await
}

async fn retry(State(s): State<Shared>, caller: Caller, Path(name): Path<String>) -> Answer {
    authorize(&s, &caller, Action::Retry.role())?;
    let run = actions::retry(&s, &name).await?;
    ok(json!({ "run": run.as_ref().map(RunRecord::report) }))
}

/// What a first sync would do, written nowhere.
async fn preview(
    State(s): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Params,
) -> Answer {
    authorize(&s, &caller, Action::Preview.role())?;
    let (run, rows) = actions::preview(&s, &name, number(&q, "limit", 200)?).await?;
    ok(json!({ "run": run.report(), "rows": rows }))
}

async fn workspace(State(s): State<Shared>, caller: Caller) -> Answer {
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

async fn list_tokens(State(s): State<Shared>, caller: Caller) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
    let list: Vec<Value> = tokens::list(&s.store)?
        .into_iter()
        .map(|t| json!({"name": t.name, "role": t.role, "created": t.created}))
        .collect();
    ok(json!({ "tokens": list }))
}

async fn add_token(State(s): State<Shared>, caller: Caller, body: Bytes) -> Answer {
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

async fn revoke_token(State(s): State<Shared>, caller: Caller, Path(name): Path<String>) -> Answer {
    authorize(&s, &caller, Role::Admin)?;
    if tokens::revoke(&s.store, &name)? {
        ok(json!({ "revoked": name }))
    } else {
        Err(Fail(StatusCode::NOT_FOUND, format!("no token `{name}`")))
    }
}

/// Move the manual clock (`--manual-clock` only): tests drive schedules.
async fn clock(State(s): State<Shared>, caller: Caller, body: Bytes) -> Answer {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_screen_refuses_other_hosts_and_cross_site_changes() {
        let loopback = Allowed::new("127.0.0.1:8700".parse().unwrap(), None);
        let public = Allowed::new(
            "127.0.0.1:8700".parse().unwrap(),
            Some("https://ferry.example.com"),
        );
        let everywhere = Allowed::new("0.0.0.0:8700".parse().unwrap(), None);
        let v6 = Allowed::new("[::1]:8700".parse().unwrap(), None);
        let json = ("content-type", "application/json");
        let some_body = ("content-length", "2");
        // (allowed, method, headers, expected: "ok" | "host" | "cross")
        type Row<'a> = (&'a Allowed, &'a str, &'a [(&'a str, &'a str)], &'a str);
        let table: &[Row] = &[
            // Host: the bound address, its loopback names, public_url.
            (&loopback, "GET", &[("host", "127.0.0.1:8700")], "ok"),
            (&loopback, "GET", &[("host", "localhost:8700")], "ok"),
            (&loopback, "GET", &[("host", "LocalHost:8700")], "ok"),
            (&loopback, "GET", &[("host", "[::1]:8700")], "ok"),
            (&loopback, "GET", &[("host", "evil.example:1234")], "host"),
            (&loopback, "GET", &[("host", "evil.example:8700")], "host"),
            (&loopback, "GET", &[("host", "127.0.0.1:8701")], "host"),
            (&loopback, "GET", &[("host", "127.0.0.1")], "host"),
            (&loopback, "GET", &[("host", "evil@127.0.0.1:8700")], "host"),
            (&loopback, "GET", &[("host", "")], "host"),
            (&loopback, "GET", &[], "host"),
            (&loopback, "GET", &[("host", "ferry.example.com")], "host"),
            (&public, "GET", &[("host", "ferry.example.com")], "ok"),
            (&public, "GET", &[("host", "FERRY.example.com:443")], "ok"),
            (
                &public,
                "GET",
                &[("host", "ferry.example.com:8443")],
                "host",
            ),
            (&public, "GET", &[("host", "127.0.0.1:8700")], "ok"),
            (&everywhere, "GET", &[("host", "10.1.2.3:8700")], "ok"),
            (&everywhere, "GET", &[("host", "[fd00::1]:8700")], "ok"),
            (&everywhere, "GET", &[("host", "localhost:8700")], "ok"),
            (
                &everywhere,
                "GET",
                &[("host", "rebound.example:8700")],
                "host",
            ),
            (&everywhere, "GET", &[("host", "10.1.2.3:8701")], "host"),
            (&v6, "GET", &[("host", "[::1]:8700")], "ok"),
            (&v6, "GET", &[("host", "[0:0:0:0:0:0:0:1]:8700")], "ok"),
            (&v6, "GET", &[("host", "localhost:8700")], "ok"),
            // The Host check comes first, for every method.
            (&loopback, "POST", &[("host", "evil.example:1234")], "host"),
            // Changes: scripts without Origin or body pass; JSON passes.
            (&loopback, "POST", &[("host", "127.0.0.1:8700")], "ok"),
            (
                &loopback,
                "POST",
                &[("host", "127.0.0.1:8700"), ("content-length", "0")],
                "ok",
            ),
            (
                &loopback,
                "POST",
                &[("host", "127.0.0.1:8700"), json, some_body],
                "ok",
            ),
            (
                &loopback,
                "DELETE",
                &[
                    ("host", "127.0.0.1:8700"),
                    (
                        "content-type",
                        "application/merge-patch+json; charset=utf-8",
                    ),
                    some_body,
                ],
                "ok",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "localhost:8700"),
                    ("origin", "http://localhost:8700"),
                    json,
                    some_body,
                ],
                "ok",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "localhost:8700"),
                    ("sec-fetch-site", "same-origin"),
                ],
                "ok",
            ),
            (
                &public,
                "POST",
                &[
                    ("host", "ferry.example.com"),
                    ("origin", "https://ferry.example.com"),
                ],
                "ok",
            ),
            // Form bodies, whatever the Origin.
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("content-type", "application/x-www-form-urlencoded"),
                    some_body,
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("content-type", "Multipart/Form-Data; boundary=x"),
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("content-type", "text/plain;charset=UTF-8"),
                    ("origin", "http://127.0.0.1:8700"),
                ],
                "cross",
            ),
            // A body that does not say it is JSON (a Blob from a page).
            (
                &loopback,
                "POST",
                &[("host", "127.0.0.1:8700"), some_body],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[("host", "127.0.0.1:8700"), ("transfer-encoding", "chunked")],
                "cross",
            ),
            // Other origins, including the same host on another scheme or port.
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("origin", "http://evil.example"),
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[("host", "127.0.0.1:8700"), ("origin", "null")],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("origin", "http://127.0.0.1:3000"),
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("origin", "https://127.0.0.1:8700"),
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("origin", "http://localhost:8700"),
                ],
                "cross",
            ),
            (
                &loopback,
                "POST",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("sec-fetch-site", "cross-site"),
                    json,
                ],
                "cross",
            ),
            // Reading is not screened for cross-site signs.
            (
                &loopback,
                "GET",
                &[
                    ("host", "127.0.0.1:8700"),
                    ("origin", "http://evil.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                "ok",
            ),
            (
                &loopback,
                "HEAD",
                &[("host", "127.0.0.1:8700"), ("content-type", "text/plain")],
                "ok",
            ),
        ];
        for (allowed, method, pairs, expected) in table {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let got = match screen(&method, &headers(pairs), allowed) {
                Ok(()) => "ok",
                Err(Refusal::Host(_)) => "host",
                Err(Refusal::CrossSite(_)) => "cross",
            };
            assert_eq!(got, *expected, "{method} {pairs:?}");
        }
        // Refusals say why.
        let why = screen(
            &Method::POST,
            &headers(&[
                ("host", "127.0.0.1:8700"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]),
            &loopback,
        );
        assert!(
            matches!(&why, Err(Refusal::CrossSite(m)) if m.contains("application/x-www-form-urlencoded")),
            "{why:?}"
        );
        let why = screen(
            &Method::GET,
            &headers(&[("host", "evil.example:1234")]),
            &loopback,
        );
        assert!(
            matches!(&why, Err(Refusal::Host(m)) if m.contains("evil.example:1234") && m.contains("localhost:8700")),
            "{why:?}"
        );
    }

    #[test]
    fn a_relayed_request_is_not_a_loopback_caller() {
        let local: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:50000".parse().unwrap();
        let v6: SocketAddr = "[::1]:50000".parse().unwrap();
        let remote: SocketAddr = "10.0.0.9:50000".parse().unwrap();
        let none = headers(&[]);
        assert!(direct_loopback(Some(local), &none));
        assert!(direct_loopback(Some(mapped), &none));
        assert!(direct_loopback(Some(v6), &none));
        assert!(!direct_loopback(Some(remote), &none));
        assert!(!direct_loopback(None, &none));
        for h in RELAYED {
            assert!(
                !direct_loopback(Some(local), &headers(&[(h, "203.0.113.7")])),
                "{h}"
            );
        }
    }
}
