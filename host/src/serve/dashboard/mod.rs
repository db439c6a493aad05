//! The dashboard: pages for people on the admin listener, rendered on the
//! server from the same data and actions as the admin API.
//!
//! | page | what |
//! |---|---|
//! | `/` | every sync and rule: state, progress, last and next run, run history |
//! | `/jobs/{name}` | its runs, a chart of records and API calls, actions |
//! | `/jobs/{name}/runs/{id}` | the ledger, failures by reason, exports |
//! | `/jobs/{name}/links`, `/links?id=` | links and who made them |
//! | `/connections` | endpoints, organisations, API calls against budgets |
//!
//! Signing in with an API token opens a session ([`session`]); roles are
//! the API's ([`crate::serve::actions::Action::role`]): a viewer sees no
//! button it may not use, and the server refuses it anyway. Every form
//! carries the session's CSRF token. Assets are compiled in: no CDN, no
//! build step. A little JavaScript refreshes a page while it shows a run
//! in progress; every page works without it.

mod charts;
mod connections;
pub(crate) mod html;
mod job;
mod links;
mod overview;
mod run;
pub mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::html::esc;
use self::session::Session;
use super::Service;
use super::access::{self, Fail, Identity};
use super::actions::{self, Action};
use super::tokens::Role;

type Shared = Arc<Service>;

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

/// The dashboard's routes (screened like the API's: see `api::router`).
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(overview::page))
        .route("/ui", get(home))
        .route("/dashboard", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/connections", get(connections::page))
        .route("/links", get(links::record))
        .route("/jobs/{name}", get(job::page))
        .route("/jobs/{name}/links", get(links::job))
        .route("/jobs/{name}/runs/{id}", get(run::page))
        .route("/jobs/{name}/runs/{id}/export", get(run::export))
        .route("/jobs/{name}/{action}", post(act))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
}

async fn home() -> Redirect {
    Redirect::to("/")
}

pub(crate) async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

pub(crate) async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JS,
    )
        .into_response()
}

/// Who is looking at a page: a signed-in session, or, with
/// `serve.open_on_loopback`, a direct loopback caller reading as viewer
/// (as the API lets it). Anyone else is sent to sign in.
pub(crate) struct Viewer {
    pub who: Identity,
    /// `None` for the open loopback reader, who has no forms.
    pub session: Option<(String, Session)>,
}

impl Viewer {
    pub fn may(&self, action: Action) -> bool {
        self.session.is_some() && self.who.role >= action.role()
    }

    /// The hidden CSRF field of a form.
    pub fn csrf_field(&self) -> String {
        let token = self.session.as_ref().map_or("", |(_, s)| s.csrf.as_str());
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            esc(token)
        )
    }
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(session::cookie_id)
            .map(str::to_string);
        if let Some(id) = id
            && let Some(session) = s.sessions.get(&id)
        {
            return Ok(Viewer {
                who: session.who.clone(),
                session: Some((id, session)),
            });
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let loopback = super::api::direct_loopback(peer, &parts.headers);
        if access::authorize(s, None, loopback, Role::Viewer).is_ok() {
            return Ok(Viewer {
                who: Identity {
                    name: "loopback".into(),
                    role: Role::Viewer,
                },
                session: None,
            });
        }
        Err(Redirect::to("/login").into_response())
    }
}

/// Whether the dashboard is reached over TLS (its cookie is then `Secure`).
fn secure(s: &Service) -> bool {
    s.config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https:"))
}

/// Where a page is in the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Connections,
    Other,
}

/// A whole page: header, navigation, `body` in `<main>`. With `live`, the
/// script refreshes `<main>`: every second while it shows a run in
/// progress (`Some(true)`), every few seconds otherwise (`Some(false)`).
pub(crate) fn layout(
    viewer: &Viewer,
    title: &str,
    nav: Nav,
    live: Option<bool>,
    body: &str,
) -> Response {
    let link = |href: &str, text: &str, here: bool| {
        let current = if here { " aria-current=\"page\"" } else { "" };
        format!("<a href=\"{href}\"{current}>{text}</a>")
    };
    let signed = match &viewer.session {
        Some((_, session)) => signed_in(session),
        None => "<span class=\"who\">read-only (loopback)</span> <a href=\"/login\">Sign in</a>"
            .to_string(),
    };
    let nav = format!(
        "{}{}",
        link("/", "Overview", nav == Nav::Overview),
        link("/connections", "Connections", nav == Nav::Connections)
    );
    shell(title, &nav, &signed, live, body)
}

/// Who is signed in, and the form that signs out.
pub(crate) fn signed_in(session: &Session) -> String {
    format!(
        "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><span class=\"who\">{} · {}</span> <button type=\"submit\" class=\"link\">Sign out</button></form>",
        esc(&session.csrf),
        esc(&session.who.name),
        session.who.role.name()
    )
}

/// The page around `body`: the header with `nav` and `signed` (who is
/// signed in), `<main>` refreshed by the script when `live` (see
/// [`layout`]).
pub(crate) fn shell(
    title: &str,
    nav: &str,
    signed: &str,
    live: Option<bool>,
    body: &str,
) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Ferry</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<header class="top">
<a class="brand" href="/">Ferry</a>
<nav aria-label="Main">{nav}</nav>
<div class="session">{signed}</div>
</header>
<main id="main"{live}>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
        live = live.map_or(String::new(), |l| format!(" data-live=\"{l}\"")),
    );
    html_response(page)
}

/// Only this server's own scripts, styles and forms, and never inside
/// another site's frame (a button there could be clicked through a
/// disguise).
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub(crate) fn html_response(page: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        page,
    )
        .into_response()
}

/// A refusal or error as a page.
pub(crate) fn fail_page(viewer: Option<&Viewer>, fail: Fail) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">Back to the overview</a></p>",
        fail.0.canonical_reason().unwrap_or("Error"),
        esc(&fail.1)
    );
    let mut page = match viewer {
        Some(v) => layout(v, "Error", Nav::Other, None, &body),
        None => bare("Error", &body),
    };
    *page.status_mut() = fail.0;
    page
}

/// A page without navigation (signing in).
pub(crate) fn bare(title: &str, body: &str) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Ferry</title>
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body>
<main id="main" class="narrow">
{body}
</main>
</body>
</html>
"#,
        title = esc(title)
    );
    html_response(page)
}

/// The sign-in form; `command` is the one that makes a token.
pub(crate) fn login_form(error: Option<&str>, command: &str) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    });
    format!(
        r#"<h1>Sign in to Ferry</h1>
{error}<form method="post" action="/login" class="stack">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="hint">Make a token with <code>{command} &lt;name&gt; --role viewer|operator|admin</code>. It is kept on the server; the browser holds only a session cookie.</p>
"#
    )
}

const TOKEN_COMMAND: &str = "ferry tokens add";

async fn login_page() -> Response {
    bare("Sign in", &login_form(None, TOKEN_COMMAND))
}

async fn login(State(s): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    match access::identify(&s, token) {
        Ok(who) => {
            tracing::info!(token = who.name, "dashboard: signed in");
            let id = s.sessions.open(who);
            (
                [(header::SET_COOKIE, session::set_cookie(&id, secure(&s)))],
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

/// The CSRF token a form sent must be its session's.
fn check_csrf(viewer: &Viewer, form: &HashMap<String, String>) -> Result<(), Fail> {
    let given = form.get("csrf").map(String::as_str).unwrap_or_default();
    match &viewer.session {
        Some((_, session)) if session.csrf_ok(given) => Ok(()),
        Some(_) => Err(Fail(
            StatusCode::FORBIDDEN,
            "the form's CSRF token is not this session's; reload the page and try again".into(),
        )),
        None => Err(Fail(
            StatusCode::UNAUTHORIZED,
            "sign in with a token to change anything".into(),
        )),
    }
}

async fn logout(
    State(s): State<Shared>,
    viewer: Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(fail) = check_csrf(&viewer, &form) {
        return fail_page(Some(&viewer), fail);
    }
    if let Some((id, _)) = &viewer.session {
        s.sessions.close(id);
    }
    (
        [(header::SET_COOKIE, session::clear_cookie(secure(&s)))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// A button's action on a job: the session's CSRF token, then the role
/// (the same check as the API's), then the same call as the API.
async fn act(
    State(s): State<Shared>,
    viewer: Viewer,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result = async {
        check_csrf(&viewer, &form)?;
        let action = match action.as_str() {
            "run" => Action::Run,
            "full-run" => Action::FullRun,
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "retry" => Action::Retry,
            "preview" => Action::Preview,
            "unlink" => Action::Unlink,
            other => {
                return Err(Fail(StatusCode::NOT_FOUND, format!("no action `{other}`")));
            }
        };
        access::allow(&viewer.who, action.role())?;
        tracing::info!(
            token = viewer.who.name,
            job = name,
            ?action,
            "dashboard action"
        );
        let back = format!("/jobs/{}", html::url_part(&name));
        let done = match action {
            Action::Run | Action::FullRun => {
                let job = actions::run_now(&s, &name, action == Action::FullRun)?;
                format!("queued a run of {job}")
            }
            Action::Pause | Action::Resume => {
                actions::set_paused(&s, &name, action == Action::Pause)?;
                if action == Action::Pause {
                    "paused"
                } else {
                    "resumed"
                }
                .to_string()
            }
            Action::Retry => match actions::retry(&s, &name).await? {
                Some(run) => format!("retried failed records in run #{}", run.id),
                None => "nothing to retry".to_string(),
            },
            Action::Preview => {
                let (run, rows) = actions::preview(&s, &name, 500).await?;
                return Ok(job::preview_page(&viewer, &name, &run, &rows));
            }
            Action::Unlink => {
                let from = form.get("from").map(String::as_str).unwrap_or_default();
                let to = form.get("to").map(String::as_str).unwrap_or_default();
                actions::unlink_link(&s, &name, from, to)?;
                return Ok(Redirect::to(&format!(
                    "{back}/links?done={}",
                    html::url_part(&format!("unlinked {from} → {to}"))
                ))
                .into_response());
            }
        };
        Ok(Redirect::to(&format!("{back}?done={}", html::url_part(&done))).into_response())
    }
    .await;
    result.unwrap_or_else(|fail| fail_page(Some(&viewer), fail))
}

/// A note at the top of a page after an action (`?done=`).
pub(crate) fn done_note(q: &HashMap<String, String>) -> String {
    q.get("done").map_or(String::new(), |d| {
        format!("<p class=\"note\" role=\"status\">Done: {}</p>", esc(d))
    })
}
