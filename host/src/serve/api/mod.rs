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

mod routes;
pub(crate) mod screen;

use screen::Allowed;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware;
use axum::routing::{delete, get, post};

use super::Service;
use super::access::{self, Fail};
use super::tokens::Role;

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

/// The admin API and webhook receiver of `service`, bound to `bound`.
///
/// `/healthz` and `/hooks/…` are not screened: vendors call the hooks
/// through proxies and tunnels that may rewrite `Host` and send bodies of
/// their own types, and each hook carries its own secret (a channel token
/// or a webhook secret, checked in constant time) that a page of another
/// site does not have, so neither a re-pointed name nor a cross-site post
/// gains anything there; `/healthz` says only `ok`.
pub fn router(service: Arc<Service>, bound: SocketAddr) -> Router {
    use routes::*;
    use screen::{guard, guard_pages};
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
#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
