//! The HTTP router: OAuth, the four products under their real prefixes,
//! Alternative Payments under `/ap`, the control API, and the
//! fault-injection layer (Zoho routes only).

use std::collections::HashMap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::{App, AppRef};
use crate::crm;
use crate::error::{ApiError, Product};
use crate::faults::Fault;

/// Which product a path belongs to.
pub fn product_of(path: &str) -> Option<Product> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "crm" => Some(Product::Crm),
        "books" => Some(Product::Books),
        "invoice" => Some(Product::Invoice),
        "billing" | "subscriptions" => Some(Product::Billing),
        _ => None,
    }
}

/// Build the full router.
pub fn router(app: AppRef) -> Router {
    use crm::records as r;
    let crm = Router::new()
        .route("/crm/{ver}/settings/modules", get(r::settings_modules))
        .route(
            "/crm/{ver}/settings/modules/{module}",
            get(r::settings_module),
        )
        .route("/crm/{ver}/settings/fields", get(r::settings_fields))
        .route(
            "/crm/{ver}/settings/custom_views",
            get(r::settings_custom_views),
        )
        .route("/crm/{ver}/org", get(r::org))
        .route("/crm/{ver}/users", get(r::users))
        .route("/crm/{ver}/coql", post(crm::coql::coql))
        .route("/crm/bulk/{ver}/read", post(crm::bulk::create))
        .route("/crm/bulk/{ver}/read/{job_id}", get(crm::bulk::status))
        .route(
            "/crm/bulk/{ver}/read/{job_id}/result",
            get(crm::bulk::result),
        )
        // Uploads may be 25 MB and more (the handler refuses them past
        // that), above axum's default body limit.
        .route(
            "/crm/{ver}/upload",
            post(crm::bulk_write::upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/crm/bulk/{ver}/write", post(crm::bulk_write::create))
        .route(
            "/crm/bulk/{ver}/write/{job_id}",
            get(crm::bulk_write::status),
        )
        .route(
            "/crm/bulk/{ver}/write/{job_id}/result",
            get(crm::bulk_write::result),
        )
        .route(
            "/crm/{ver}/actions/watch",
            get(crm::watch::list)
                .post(crm::watch::enable)
                .put(crm::watch::replace)
                .patch(crm::watch::patch)
                .delete(crm::watch::disable),
        )
        .route(
            "/crm/{ver}/{module}",
            get(r::list)
                .post(r::create)
                .put(r::update_many)
                .delete(r::delete_many),
        )
        .route("/crm/{ver}/{module}/upsert", post(r::upsert))
        .route("/crm/{ver}/{module}/deleted", get(r::deleted))
        .route("/crm/{ver}/{module}/search", get(r::search))
        .route("/crm/{ver}/{module}/actions/count", get(r::count))
        .route(
            "/crm/{ver}/{module}/{id}",
            get(r::get_one).put(r::update_one).delete(r::delete_path),
        );
    let apis = crm
        .merge(crate::finance::routes::router())
        .layer(middleware::from_fn_with_state(app.clone(), fault_layer));
    Router::new()
        .route("/oauth/v2/token", post(token))
        .route("/oauth/v2/auth", get(authorize))
        .merge(apis)
        .nest(crate::ap::PREFIX, crate::ap::router())
        .merge(crate::ap::control::router())
        .nest(
            crate::campaigns::PREFIX,
            crate::campaigns::router()
                .layer(middleware::from_fn_with_state(app.clone(), count_layer)),
        )
        .nest(crate::csb::PREFIX, crate::csb::router())
        .merge(crate::csb::control::router())
        .merge(crate::control::router())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

pub(crate) async fn token(
    State(app): State<AppRef>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut params = q;
    if let Ok(form) = serde_urlencoded_pairs(&body) {
        params.extend(form);
    }
    let now = app.now();
    let (status, body) = app
        .auth
        .lock()
        .unwrap()
        .token_endpoint(&params, now, app.base_url());
    ApiError::raw(status, body).into_response()
}

/// `GET /oauth/v2/auth`: the browser flow's consent page, accepted at
/// once: a redirect to `redirect_uri` with `code`, `location` and
/// `accounts-server` (and `state`, when given).
async fn authorize(
    State(app): State<AppRef>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let now = app.now();
    let answer = app.auth.lock().unwrap().authorize(&q, now, app.base_url());
    match answer {
        Ok(location) => Response::builder()
            .status(302)
            .header("location", location)
            .body(Body::empty())
            .unwrap_or_default(),
        Err((status, body)) => ApiError::raw(status, body).into_response(),
    }
}

pub(crate) fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, ()> {
    let s = std::str::from_utf8(body).map_err(|_| ())?;
    Ok(s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect())
}

/// Decode `application/x-www-form-urlencoded` text.
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_found_for(path: &str) -> ApiError {
    match product_of(path) {
        Some(Product::Crm) => crm::records::not_found_url(),
        Some(_) => ApiError::finance(404, 5, "Invalid URL Passed"),
        None => ApiError::raw(404, json!({"error": "not found", "path": path})),
    }
}

fn is_ap(path: &str) -> bool {
    path == crate::ap::PREFIX || path.starts_with(&format!("{}/", crate::ap::PREFIX))
}

async fn fallback(req: Request) -> Response {
    if is_ap(req.uri().path()) {
        return crate::ap::not_found("resource").into_response();
    }
    not_found_for(req.uri().path()).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let path = req.uri().path();
    if is_ap(path) {
        return crate::ap::error(405, "method_not_allowed", "method not allowed").into_response();
    }
    match product_of(path) {
        Some(Product::Crm) => ApiError::crm(
            405,
            "INVALID_REQUEST_METHOD",
            "The http request method type is not a valid one",
            json!({}),
        )
        .into_response(),
        Some(_) => ApiError::finance(
            405,
            37,
            format!(
                "The HTTP method {} is not allowed for the requested resource",
                req.method()
            ),
        )
        .into_response(),
        None => ApiError::raw(405, json!({"error": "method not allowed"})).into_response(),
    }
}

/// `METHOD /path` with numeric segments as `{id}`: a route, for counting.
fn route_of(method: &str, path: &str) -> String {
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{method} {}", path.join("/"))
}

/// Count a request in [`App::requests`] (`GET /__sandbox/requests`).
fn count(app: &App, req: &Request) {
    *app.requests
        .lock()
        .unwrap()
        .entry(route_of(req.method().as_str(), req.uri().path()))
        .or_default() += 1;
}

/// Zoho Campaigns' requests are counted, without Zoho's fault injection.
async fn count_layer(State(app): State<AppRef>, req: Request, next: Next) -> Response {
    count(&app, &req);
    next.run(req).await
}

async fn fault_layer(State(app): State<AppRef>, req: Request, next: Next) -> Response {
    count(&app, &req);
    let (fault, latency) = app
        .faults
        .draw(&format!("{} {}", req.method(), req.uri().path()));
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let product = product_of(req.uri().path()).unwrap_or(Product::Books);
    match fault {
        Fault::None => next.run(req).await,
        Fault::ServerError => {
            if product == Product::Crm {
                ApiError::crm(500, "INTERNAL_ERROR", "Internal Server Error", json!({}))
                    .into_response()
            } else {
                ApiError::finance(500, 1000, "Internal error").into_response()
            }
        }
        Fault::RateLimited => {
            if product == Product::Crm {
                ApiError::crm(
                    429,
                    "TOO_MANY_REQUESTS",
                    "You have exceeded the maximum number of API requests allowed per minute",
                    json!({}),
                )
                .with_header("retry-after", "1")
                .into_response()
            } else {
                ApiError::finance(
                    429,
                    44,
                    "For security reasons your organization has been blocked as it have exceeded the maximum number of requests per minute that can originate from an organization.",
                )
                .into_response()
            }
        }
        Fault::Drop => {
            let stream = futures_util::stream::iter(vec![Err::<Bytes, std::io::Error>(
                std::io::Error::other("connection dropped by fault injection"),
            )]);
            Response::new(Body::from_stream(stream))
        }
        Fault::Hang => {
            let resp = next.run(req).await;
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
            resp
        }
        Fault::Truncate => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            parts
                .headers
                .insert(axum::http::header::CONTENT_LENGTH, bytes.len().into());
            let stream = futures_util::stream::iter(vec![
                Ok(half),
                Err(std::io::Error::other("body truncated by fault injection")),
            ]);
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}
