//! The screen in front of the admin routes and the dashboard's pages:
//! `Host` must name this server, and changes must not come from another
//! site (see the parent module).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::super::access::Fail;

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
pub(crate) async fn guard(
    State(allowed): State<Arc<Allowed>>,
    req: Request,
    next: Next,
) -> Response {
    guarded(&allowed, req, next, false).await
}

/// The screen as a layer on the dashboard's pages.
pub(crate) async fn guard_pages(
    State(allowed): State<Arc<Allowed>>,
    req: Request,
    next: Next,
) -> Response {
    guarded(&allowed, req, next, true).await
}

pub(crate) async fn guarded(
    allowed: &Allowed,
    mut req: Request,
    next: Next,
    forms: bool,
) -> Response {
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
}
