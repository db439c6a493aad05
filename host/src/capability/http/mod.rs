//! The `http` capability: every byte a plugin sends leaves through here.
//!
//! Order of checks for one request: URL and headers (refused before any
//! byte leaves) → allowed hosts → rate limit and concurrency → credentials
//! added (API origin only) → DNS, with blocked addresses dropped → send → retries for 429,
//! 5xx and timeouts (only where safe) → one token refresh on an
//! unauthorized answer → response capped in size, credential headers
//! removed.

mod types;
mod wire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use url::Url;

use super::auth::{Auth, AuthError, Token};
use super::policy::{blocked_reason, is_loopback_host};
use super::ratelimit::RateLimiter;
pub use super::usage::ApiUsage;
pub use types::{HttpConfig, HttpError, HttpSettings, Method, Request, Response};
pub(crate) use wire::error_chain;
use wire::{DOWNLOAD_TIMEOUT, Failure, Sink, guarded_client, save};

/// Request headers a plugin may not set: credentials are the host's, and
/// framing headers are the HTTP client's.
const FORBIDDEN_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "upgrade",
    "keep-alive",
    "proxy-connection",
];

/// Response headers never passed back to a plugin.
const CREDENTIAL_RESPONSE_HEADERS: &[&str] = &[
    "set-cookie",
    "set-cookie2",
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
];

/// One connection's HTTP capability, shared by all calls on it.
pub struct HttpCapability {
    config: HttpConfig,
    client: reqwest::Client,
    limiter: RateLimiter,
    auth: Option<Arc<Auth>>,
    usage: Arc<ApiUsage>,
    tape: Option<super::cassette::Tape>,
    /// The organisation's pacing across processes, where a store shares it.
    shared: Option<super::pacing::SharedPacing>,
    /// Vendor metadata kept between runs.
    metadata: Option<super::MetadataCache>,
    /// Origins besides the API's that take its credentials: the data
    /// centre's own other API hosts (Zoho's content host for uploads).
    credentialed: Vec<url::Origin>,
}

impl std::fmt::Debug for HttpCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCapability")
            .field("base_url", &self.config.base_url.as_str())
            .finish()
    }
}

impl HttpCapability {
    /// Build the capability. `auth` attaches credentials to requests for
    /// the base URL's origin, and no other.
    pub fn new(config: HttpConfig, auth: Option<Arc<Auth>>) -> Result<HttpCapability, HttpError> {
        let allow_loopback = config.base_url.host_str().is_some_and(is_loopback_host);
        let client = guarded_client(&config, allow_loopback)?;
        let limiter = RateLimiter::new(
            config.requests_per_minute,
            config.requests_per_second,
            config.concurrency,
        );
        Ok(HttpCapability {
            config,
            client,
            limiter,
            auth,
            usage: Arc::default(),
            tape: None,
            shared: None,
            metadata: None,
            credentialed: Vec::new(),
        })
    }

    /// Send credentials to these origins too (they must also be allowed):
    /// hosts the connector's manifest names as its data centre's API.
    pub fn with_credentialed(mut self, origins: &[Url]) -> HttpCapability {
        self.credentialed = origins.iter().map(Url::origin).collect();
        self
    }

    /// Requests this connection may have in flight at once.
    pub fn concurrency(&self) -> usize {
        self.config.concurrency.max(1) as usize
    }

    /// Pace requests with every process sharing `shared`'s store too.
    pub fn with_shared_pacing(
        mut self,
        shared: Option<super::pacing::SharedPacing>,
    ) -> HttpCapability {
        if let Some(s) = &shared {
            self.usage.share(s.counter());
        }
        self.shared = shared;
        self
    }

    /// Record every exchange into a cassette, or answer from one with no
    /// network (then no credentials are obtained either).
    pub fn with_tape(mut self, tape: Option<super::cassette::Tape>) -> HttpCapability {
        self.tape = tape;
        self
    }

    /// Answer `GET`s of the vendor's metadata from `cache` where it holds
    /// them, and keep new answers there.
    pub fn with_metadata(mut self, cache: Option<super::MetadataCache>) -> HttpCapability {
        self.metadata = cache;
        self
    }

    /// How a cassette names `url`: relative to the base URL when on it.
    fn taped_url(&self, url: &Url) -> String {
        let base = self.config.base_url.as_str().trim_end_matches('/');
        match url.as_str().strip_prefix(base) {
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => rest.to_string(),
            _ => url.to_string(),
        }
    }

    /// What this connection has sent today.
    pub fn usage(&self) -> &Arc<ApiUsage> {
        &self.usage
    }

    /// The connection's base URL.
    pub fn base_url(&self) -> &Url {
        &self.config.base_url
    }

    /// Obtain an access token now (a refresh, unless a valid one is
    /// held): whether the connection's credentials work. `Ok(false)` when
    /// the connection has none.
    pub async fn authenticate(&self) -> Result<bool, HttpError> {
        match &self.auth {
            Some(auth) => auth
                .token(&self.client)
                .await
                .map(|_| true)
                .map_err(auth_error),
            None => Ok(false),
        }
    }

    /// Send a plugin's request under the connection's policy.
    pub async fn send(&self, request: Request) -> Result<Response, HttpError> {
        let url = self.check(&request)?;
        match &self.tape {
            Some(super::cassette::Tape::Replay(cassette)) => {
                return cassette.answer(&request, &self.taped_url(&url));
            }
            Some(super::cassette::Tape::Record(cassette)) => {
                let response = self.send_checked(&request, &url, Sink::Memory).await?;
                cassette.record(&request, &self.taped_url(&url), &response);
                return Ok(response);
            }
            None => {}
        }
        let kept = self
            .metadata
            .as_ref()
            .filter(|_| request.method == Method::Get)
            .map(|cache| (cache, self.taped_url(&url)))
            .filter(|(cache, relative)| cache.covers(&request, relative));
        if let Some((cache, relative)) = &kept
            && let Some(answer) = cache.get(relative)
        {
            return Ok(answer);
        }
        let response = self.send_checked(&request, &url, Sink::Memory).await?;
        if let Some((cache, relative)) = &kept {
            cache.put(relative, &response);
        }
        Ok(response)
    }

    /// `GET url` under the connection's policy, like a plugin's request,
    /// with a successful answer's body written to `file` rather than kept
    /// in memory (a vendor's export can be far larger than a page). The
    /// returned response has an empty body then; any other answer keeps
    /// its (capped) body, which says why.
    pub async fn download(&self, url: &str, file: &std::fs::File) -> Result<Response, HttpError> {
        let request = Request::get(url);
        let url = self.check(&request)?;
        if let Some(super::cassette::Tape::Replay(_)) = &self.tape {
            return Err(HttpError::Denied(
                "a cassette holds no downloaded files; replay cannot answer a bulk download".into(),
            ));
        }
        self.send_checked(&request, &url, Sink::File(file)).await
    }

    async fn send_checked(
        &self,
        request: &Request,
        url: &Url,
        sink: Sink<'_>,
    ) -> Result<Response, HttpError> {
        let url = url.clone();
        // Credentials go to the API origin only (scheme, host and port),
        // and to the data centre's other API origins its manifest names:
        // never to the accounts server, an extra allowed host or another
        // port, where a plugin could read them back.
        let origin = url.origin();
        let auth = self.auth.as_ref().filter(|_| {
            origin == self.config.base_url.origin() || self.credentialed.contains(&origin)
        });
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = match auth {
                Some(auth) => Some(auth.token(&self.client).await.map_err(auth_error)?),
                None => None,
            };
            let outcome = {
                let _permit = self.limiter.acquire().await;
                if let Some(shared) = &self.shared {
                    shared.wait().await;
                }
                self.attempt(request, &url, token.as_ref(), sink).await
            };
            let retry_in = match &outcome {
                Ok(resp) => {
                    if let (Some(auth), Some(token)) = (auth, &token)
                        && !refreshed
                        && auth.is_unauthorized(resp.status, &resp.body)
                    {
                        // The token expired or was revoked early: refresh
                        // once and repeat; a second refusal is the answer.
                        refreshed = true;
                        auth.invalidate(&token.access).await;
                        attempt -= 1;
                        continue;
                    }
                    self.retry_delay_for_status(request, resp, attempt)
                }
                Err(Failure::Timeout(_) | Failure::Connection(_)) if request.idempotent => {
                    Some(self.backoff(attempt))
                }
                Err(_) => None,
            };
            match retry_in {
                Some(wait) if attempt < self.config.settings.max_attempts => {
                    tracing::debug!(url = %url, attempt, wait_ms = wait.as_millis() as u64, "retrying request");
                    tokio::time::sleep(wait).await;
                }
                _ => return outcome.map_err(Failure::into_http_error),
            }
        }
    }

    /// Resolve the URL and refuse what policy forbids, before anything is sent.
    fn check(&self, request: &Request) -> Result<Url, HttpError> {
        let url = if request.url.starts_with('/') {
            let base = self.config.base_url.as_str().trim_end_matches('/');
            Url::parse(&format!("{base}{}", request.url))
        } else {
            Url::parse(&request.url)
        }
        .map_err(|e| HttpError::InvalidRequest(format!("bad URL `{}`: {e}", request.url)))?;
        let local = self
            .config
            .base_url
            .host_str()
            .is_some_and(is_loopback_host);
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            other => {
                return Err(HttpError::Denied(format!(
                    "scheme `{other}` is not allowed (only https, or http to a local sandbox)"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpError::Denied(
                "credentials in URLs are not allowed".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| HttpError::InvalidRequest(format!("URL `{url}` has no host")))?;
        let port = url.port_or_known_default().unwrap_or(0);
        let default_port = if url.scheme() == "https" { 443 } else { 80 };
        if !self.config.allowed_hosts.allows(host, port, default_port) {
            return Err(HttpError::Denied(self.config.allowed_hosts.refusal(
                host,
                port,
                default_port,
            )));
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            && let Some(reason) = blocked_reason(ip, local)
        {
            return Err(HttpError::Denied(format!(
                "address {ip} is {reason} and may not be reached"
            )));
        }
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            let credential = self.auth.as_ref().is_some_and(|a| a.header_name() == lower);
            if credential || FORBIDDEN_REQUEST_HEADERS.contains(&lower.as_str()) {
                return Err(HttpError::Denied(format!(
                    "plugins may not set the `{name}` header; credentials are added by the host"
                )));
            }
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::InvalidRequest(format!("bad header name `{name}`")))?;
            reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| HttpError::InvalidRequest(format!("bad value for header `{name}`")))?;
        }
        Ok(url)
    }

    async fn attempt(
        &self,
        request: &Request,
        url: &Url,
        token: Option<&Token>,
        sink: Sink<'_>,
    ) -> Result<Response, Failure> {
        let timeout = match sink {
            Sink::Memory => self.config.settings.request_timeout,
            Sink::File(_) => DOWNLOAD_TIMEOUT,
        };
        let mut builder = self
            .client
            .request(request.method.to_reqwest(), url.clone())
            .timeout(timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(token) = token {
            let mut value =
                reqwest::header::HeaderValue::from_str(&token.header).map_err(|_| {
                    Failure::Other(HttpError::Unauthorized(
                        "token is not a valid header value".into(),
                    ))
                })?;
            value.set_sensitive(true);
            builder = builder.header(token.name.as_str(), value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let mut response = builder.send().await.map_err(Failure::from_reqwest)?;
        let status = response.status().as_u16();
        self.usage.record(status);
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| !CREDENTIAL_RESPONSE_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect();
        if let Sink::File(file) = sink
            && (200..300).contains(&status)
        {
            save(&mut response, file).await?;
            return Ok(Response {
                status,
                headers,
                body: Vec::new(),
            });
        }
        let cap = self.config.settings.max_response_bytes;
        if response.content_length().is_some_and(|len| len > cap) {
            return Err(Failure::Other(HttpError::TooLarge(cap)));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(Failure::from_reqwest)? {
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(Failure::Other(HttpError::TooLarge(cap)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// How long to wait before repeating a request that got `resp`, if it
    /// should be repeated at all.
    fn retry_delay_for_status(
        &self,
        request: &Request,
        resp: &Response,
        attempt: u32,
    ) -> Option<Duration> {
        match resp.status {
            // Refused without being processed: always safe to repeat.
            429 => Some(retry_after(resp).map_or_else(
                || self.backoff(attempt),
                |d| d.min(self.config.settings.max_backoff),
            )),
            500..=599 if request.idempotent => Some(self.backoff(attempt)),
            _ => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let s = &self.config.settings;
        let ceiling = s
            .initial_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(s.max_backoff);
        // Full jitter: spreads retries of many workers apart.
        let millis =
            rand::rng().random_range(ceiling.as_millis() as u64 / 2..=ceiling.as_millis() as u64);
        Duration::from_millis(millis)
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(resp: &Response) -> Option<Duration> {
    let value = resp
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim()
        .to_string();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_parse(&value)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn httpdate_parse(value: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(value).ok().or_else(|| {
        // `Sun, 06 Nov 1994 08:49:37 GMT`
        let parts: Vec<&str> = value.split_whitespace().collect();
        if parts.len() != 6 {
            return None;
        }
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .iter()
        .position(|m| *m == parts[2])?
            + 1;
        let text = format!("{}-{month:02}-{:0>2}T{}Z", parts[3], parts[1], parts[4]);
        humantime::parse_rfc3339_weak(&text).ok()
    })
}

fn auth_error(e: AuthError) -> HttpError {
    HttpError::Unauthorized(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let resp = |v: &str| Response {
            status: 429,
            headers: vec![("Retry-After".into(), v.into())],
            body: vec![],
        };
        assert_eq!(retry_after(&resp("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&resp("Sun, 06 Nov 1994 08:49:37 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&resp("soon")), None);
    }
}
