//! The host's `http` capability against a loopback server: credentials,
//! single-flight refresh, refresh-once on an expired token, retries only
//! where safe, the response cap and stripped credential headers.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use ferry::capability::auth::Fixed;
use ferry::capability::http::{Method, Request};
use ferry::capability::{Auth, Grant, HttpError, MemoryTokenStore, OAuth, OAuthConfig, TokenStore};
use ferry::plugin::RefreshOn;
use ferry::secret::Secret;
use serde_json::json;

#[derive(Default)]
struct Counters {
    tokens: AtomicUsize,
    items: AtomicUsize,
    flaky: AtomicUsize,
    slow: AtomicUsize,
    /// Tokens numbered below this are refused as expired.
    refuse_below: AtomicUsize,
}

async fn server(counters: Arc<Counters>) -> String {
    async fn token(
        State(c): State<Arc<Counters>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> impl IntoResponse {
        assert_eq!(
            q.get("grant_type").map(String::as_str),
            Some("refresh_token")
        );
        if q.get("client_secret").map(String::as_str) != Some("shh")
            || q.get("refresh_token").map(String::as_str) != Some("r1")
        {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_client"})),
            );
        }
        // Slow enough that concurrent callers overlap with the refresh.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let n = c.tokens.fetch_add(1, Ordering::SeqCst) + 1;
        (
            StatusCode::OK,
            axum::Json(
                json!({"access_token": format!("tok-{n}"), "expires_in": 3600, "api_domain": "http://x", "token_type": "Bearer"}),
            ),
        )
    }
    async fn items(State(c): State<Arc<Counters>>, headers: HeaderMap) -> impl IntoResponse {
        c.items.fetch_add(1, Ordering::SeqCst);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let n: usize = auth
            .strip_prefix("Zoho-oauthtoken tok-")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if n == 0 || n < c.refuse_below.load(Ordering::SeqCst) {
            return (
                StatusCode::UNAUTHORIZED,
                [("set-cookie", "a=b")],
                axum::Json(
                    json!({"code": 57, "message": "You are not authorized to perform this operation"}),
                ),
            );
        }
        (
            StatusCode::OK,
            [("set-cookie", "session=secret")],
            axum::Json(json!({"auth": auth})),
        )
    }
    async fn flaky(State(c): State<Arc<Counters>>) -> impl IntoResponse {
        match c.flaky.fetch_add(1, Ordering::SeqCst) {
            0 => (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response(),
            1 => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
            _ => (StatusCode::OK, "fine").into_response(),
        }
    }
    async fn fail(State(c): State<Arc<Counters>>) -> impl IntoResponse {
        c.flaky.fetch_add(1, Ordering::SeqCst);
        (StatusCode::BAD_GATEWAY, "down")
    }
    async fn big() -> impl IntoResponse {
        "x".repeat(64 * 1024 * 1024 + 1)
    }
    /// A CSV larger than the response cap.
    async fn export() -> impl IntoResponse {
        let filler = "x".repeat(60);
        let mut csv = String::from("id,filler\n");
        for n in 0..EXPORT_ROWS {
            csv.push_str(&format!("{n},{filler}\n"));
        }
        csv
    }
    async fn slow_export(State(c): State<Arc<Counters>>) -> impl IntoResponse {
        c.slow.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        "id\n1\n2\n"
    }
    let app = axum::Router::new()
        .route("/oauth/v2/token", post(token))
        .route("/items", get(items))
        .route("/flaky", get(flaky))
        .route("/fail", post(fail).get(fail))
        .route("/big", get(big))
        .route("/export.csv", get(export))
        .route("/slow.csv", get(slow_export))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Rows of `/export.csv` (about 36 MB, past the 32 MB response cap).
const EXPORT_ROWS: u64 = 550_000;

fn oauth(base: &str, store: Arc<dyn TokenStore>) -> Arc<Auth> {
    Arc::new(Auth::from(OAuth::new(
        OAuthConfig {
            connection: "crm".into(),
            store_key: "crm".into(),
            token_url: format!("{base}/oauth/v2/token").parse().unwrap(),
            client_id: Secret::new("id"),
            client_secret: Secret::new("shh"),
            grant: Grant::RefreshToken {
                refresh_token: Secret::new("r1"),
            },
            header_template: "Zoho-oauthtoken {token}".into(),
            refresh_on: RefreshOn {
                status: vec![401],
                body_codes: vec!["57".into(), "INVALID_TOKEN".into()],
            },
        },
        store,
    )))
}

fn get_req(path: &str) -> Request {
    Request {
        method: Method::Get,
        url: path.into(),
        headers: vec![],
        body: None,
        idempotent: true,
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_refresh_and_the_token_persists() {
    let counters = Arc::new(Counters::default());
    let base = server(counters.clone()).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::default());
    let caps = support::capabilities(
        &base,
        &["127.0.0.1:*"],
        &[],
        Some(oauth(&base, store.clone())),
    );
    let calls = (0..8).map(|_| {
        let caps = caps.clone();
        tokio::spawn(async move { caps.http.send(get_req("/items")).await })
    });
    for call in calls {
        let resp = call.await.unwrap().unwrap();
        assert_eq!(resp.status, 200);
        assert!(String::from_utf8_lossy(&resp.body).contains("Zoho-oauthtoken tok-1"));
        // Credential headers never reach the plugin.
        assert!(resp.headers.iter().all(|(n, _)| n != "set-cookie"));
    }
    assert_eq!(
        counters.tokens.load(Ordering::SeqCst),
        1,
        "one refresh for eight callers"
    );
    assert_eq!(store.load("crm").unwrap().access_token, "tok-1");
    // A restart (new client, same store) reuses the saved token.
    let again = support::capabilities(&base, &["127.0.0.1:*"], &[], Some(oauth(&base, store)));
    assert_eq!(
        again.http.send(get_req("/items")).await.unwrap().status,
        200
    );
    assert_eq!(counters.tokens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_request_repeated() {
    let counters = Arc::new(Counters::default());
    counters.refuse_below.store(2, Ordering::SeqCst);
    let base = server(counters.clone()).await;
    let caps = support::capabilities(
        &base,
        &["127.0.0.1:*"],
        &[],
        Some(oauth(&base, Arc::new(MemoryTokenStore::default()))),
    );
    let resp = caps.http.send(get_req("/items")).await.unwrap();
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("tok-2"));
    assert_eq!(counters.tokens.load(Ordering::SeqCst), 2);

    // Revoked for good: one refresh, then the refusal is the answer.
    counters.refuse_below.store(usize::MAX, Ordering::SeqCst);
    let resp = caps.http.send(get_req("/items")).await.unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(counters.tokens.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn refused_refresh_is_an_unauthorized_error_without_secrets() {
    let counters = Arc::new(Counters::default());
    let base = server(counters.clone()).await;
    let bad = Arc::new(Auth::from(OAuth::new(
        OAuthConfig {
            connection: "crm".into(),
            store_key: "crm".into(),
            token_url: format!("{base}/oauth/v2/token").parse().unwrap(),
            client_id: Secret::new("id"),
            client_secret: Secret::new("wrong-secret"),
            grant: Grant::RefreshToken {
                refresh_token: Secret::new("r1"),
            },
            header_template: "Zoho-oauthtoken {token}".into(),
            refresh_on: RefreshOn::default(),
        },
        Arc::new(MemoryTokenStore::default()),
    )));
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], Some(bad));
    let err = caps.http.send(get_req("/items")).await.unwrap_err();
    let HttpError::Unauthorized(msg) = &err else {
        panic!("{err}")
    };
    assert!(
        msg.contains("invalid_client") && msg.contains("crm"),
        "{msg}"
    );
    assert!(
        !msg.contains("wrong-secret"),
        "secrets must not appear in errors: {msg}"
    );
    assert_eq!(
        counters.items.load(Ordering::SeqCst),
        0,
        "nothing is sent without credentials"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_when_safe() {
    let counters = Arc::new(Counters::default());
    let base = server(counters.clone()).await;
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], None);
    let resp = caps.http.send(get_req("/flaky")).await.unwrap();
    assert_eq!(
        (resp.status, counters.flaky.load(Ordering::SeqCst)),
        (200, 3),
        "429, then 500, then success"
    );

    // A POST that may have created something is not repeated after a 5xx.
    counters.flaky.store(0, Ordering::SeqCst);
    let post = Request {
        method: Method::Post,
        url: "/fail".into(),
        headers: vec![],
        body: Some(b"{}".to_vec()),
        idempotent: false,
    };
    assert_eq!(caps.http.send(post).await.unwrap().status, 502);
    assert_eq!(counters.flaky.load(Ordering::SeqCst), 1);

    // An idempotent request gives up after the configured attempts.
    counters.flaky.store(0, Ordering::SeqCst);
    assert_eq!(caps.http.send(get_req("/fail")).await.unwrap().status, 502);
    assert_eq!(counters.flaky.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let base = server(Arc::new(Counters::default())).await;
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], None);
    assert_eq!(
        caps.http.send(get_req("/big")).await.unwrap_err(),
        HttpError::TooLarge(32 * 1024 * 1024)
    );
}

/// A download is a request like any other (policy, retries, status) whose
/// body goes to disk: a file past the response cap is read a slice at a
/// time, on from where the last slice ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_pass_the_response_cap_under_the_same_policy() {
    use ferry::capability::download::{self, DownloadError};
    let counters = Arc::new(Counters::default());
    let base = server(Arc::clone(&counters)).await;
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], None);
    let patience = std::time::Duration::from_secs(60);
    let rows = |url: &'static str, zipped, from, max| {
        download::rows(&caps, url, zipped, from, max, patience)
    };
    let first = rows("/export.csv", false, 0, 2).await.unwrap();
    assert_eq!(first.header, ["id", "filler"]);
    assert_eq!(
        first.rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["0", "1"]
    );
    assert!(first.more);
    let last = rows("/export.csv", false, EXPORT_ROWS - 2, 10)
        .await
        .unwrap();
    assert_eq!(last.rows.len(), 2);
    assert_eq!(last.rows[1][0], (EXPORT_ROWS - 1).to_string());
    assert!(!last.more, "the end of the file");

    let err = rows("http://169.254.169.254/x.csv", false, 0, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, DownloadError::Denied(_)), "{err}");
    let err = rows("/fail", false, 0, 1).await.unwrap_err();
    assert_eq!(err, DownloadError::Status(502, "down".into()));
    assert!(
        counters.flaky.load(Ordering::SeqCst) > 1,
        "a failed GET is retried"
    );
    let err = rows("/items", true, 0, 1).await.unwrap_err();
    assert!(matches!(err, DownloadError::Status(401, _)), "{err}");
}

/// A file slower to arrive than a call may wait goes on downloading in
/// the background: the impatient call gets no rows and `more`, a later
/// one the rows, from one download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_download_goes_on_between_calls() {
    use ferry::capability::download;
    let counters = Arc::new(Counters::default());
    let base = server(Arc::clone(&counters)).await;
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], None);
    let short = std::time::Duration::from_millis(50);
    let waiting = download::rows(&caps, "/slow.csv", false, 0, 5, short)
        .await
        .unwrap();
    assert!(waiting.rows.is_empty() && waiting.more, "{waiting:?}");
    let rows = download::rows(&caps, "/slow.csv", false, 0, 5, short * 200)
        .await
        .unwrap();
    assert_eq!(rows.header, ["id"]);
    assert_eq!(rows.rows, [["1"], ["2"]]);
    assert!(!rows.more);
    assert_eq!(counters.slow.load(Ordering::SeqCst), 1, "one download");
}

#[tokio::test]
async fn policy_refusals_happen_before_sending() {
    let base = server(Arc::new(Counters::default())).await;
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], None);
    let refuse = |url: &str| Request {
        url: url.into(),
        ..get_req("/")
    };
    let err = caps
        .http
        .send(refuse("ftp://127.0.0.1/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("scheme")),
        "{err}"
    );
    let err = caps
        .http
        .send(refuse("http://user:pw@127.0.0.1/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("credentials in URLs")),
        "{err}"
    );
    let err = caps
        .http
        .send(refuse("http://169.254.169.254/latest/meta-data"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Denied(_)), "{err}");
    // A connection whose base is not local may not reach loopback at all.
    let remote = support::capabilities("https://api.example.com", &["*"], &[], None);
    let err = remote
        .http
        .send(refuse("https://127.0.0.1/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("loopback")),
        "{err}"
    );
    let err = remote
        .http
        .send(refuse("http://api.example.com/x"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("scheme `http`")),
        "{err}"
    );
}

/// The token goes to the API origin (scheme, host and port) and nowhere
/// else: not to another allowed origin, where a plugin could read it back,
/// and a loopback port the connection was not given is refused outright.
#[tokio::test]
async fn credentials_go_to_the_api_origin_only() {
    let api = Arc::new(Counters::default());
    let base = server(api.clone()).await;
    let other = server(Arc::new(Counters::default())).await;
    let port = |url: &str| url.rsplit(':').next().unwrap().to_string();
    let caps = support::capabilities(
        &base,
        &[
            &format!("127.0.0.1:{}", port(&base)),
            &format!("127.0.0.1:{}", port(&other)),
        ],
        &[],
        Some(oauth(&base, Arc::new(MemoryTokenStore::default()))),
    );
    let resp = caps.http.send(get_req("/items")).await.unwrap();
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("Zoho-oauthtoken tok-1"));

    // Another allowed origin gets the request, without the token (its
    // `/items` answers 401 to a request without one, and no refresh
    // follows, since no token was sent).
    let resp = caps
        .http
        .send(get_req(&format!("{other}/items")))
        .await
        .unwrap();
    assert_eq!(resp.status, 401);
    assert_eq!(api.tokens.load(Ordering::SeqCst), 1);

    // A port nobody allowed.
    let err = caps
        .http
        .send(get_req("http://127.0.0.1:1/items"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("127.0.0.1:1") && m.contains("another port")),
        "{err}"
    );
}

/// A data centre's other API origin its manifest names (Zoho's content
/// host, where Bulk Write uploads go) gets the API's token too; other
/// allowed origins still do not.
#[tokio::test]
async fn the_data_centres_content_origin_gets_credentials_too() {
    let api = Arc::new(Counters::default());
    let base = server(api.clone()).await;
    let content = server(Arc::new(Counters::default())).await;
    let other = server(Arc::new(Counters::default())).await;
    let port = |url: &str| url.rsplit(':').next().unwrap().to_string();
    let caps = support::capabilities_with(
        &base,
        &[
            &format!("127.0.0.1:{}", port(&base)),
            &format!("127.0.0.1:{}", port(&content)),
            &format!("127.0.0.1:{}", port(&other)),
        ],
        Some(oauth(&base, Arc::new(MemoryTokenStore::default()))),
        &[content.parse().unwrap()],
    );
    let resp = caps
        .http
        .send(get_req(&format!("{content}/items")))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(String::from_utf8_lossy(&resp.body).contains("Zoho-oauthtoken tok-1"));
    let resp = caps
        .http
        .send(get_req(&format!("{other}/items")))
        .await
        .unwrap();
    assert_eq!(resp.status, 401, "not named by the manifest: no token");
}

/// A vendor with the client-credentials grant (Alternative Payments'
/// shape): `POST /oauth/token`, client id and secret as HTTP Basic, a form
/// body, a bearer token that lasts `lifetime` seconds, no refresh token.
async fn client_credentials_vendor(tokens: Arc<AtomicUsize>, lifetime: u64) -> String {
    async fn token(
        State((tokens, lifetime)): State<(Arc<AtomicUsize>, u64)>,
        headers: HeaderMap,
        body: String,
    ) -> impl IntoResponse {
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
        // base64("id:shh")
        if basic != "Basic aWQ6c2ho" {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"code": "unauthorized", "message": "invalid client"})),
            );
        }
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some("client_credentials")
        );
        assert_eq!(form.get("scope").map(String::as_str), Some("read write"));
        let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
        (
            StatusCode::OK,
            axum::Json(
                json!({"access_token": format!("cc-{n}"), "token_type": "Bearer", "expires_in": lifetime}),
            ),
        )
    }
    async fn echo(headers: HeaderMap) -> impl IntoResponse {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        axum::Json(
            json!({"authorization": header("authorization"), "x-api-key": header("x-api-key")}),
        )
    }
    let app = axum::Router::new()
        .route("/oauth/token", post(token))
        .route("/echo", get(echo))
        .with_state((tokens, lifetime));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn client_credentials(base: &str, secret: &str) -> Arc<Auth> {
    Arc::new(Auth::from(OAuth::new(
        OAuthConfig {
            connection: "ap".into(),
            store_key: "ap".into(),
            token_url: format!("{base}/oauth/token").parse().unwrap(),
            client_id: Secret::new("id"),
            client_secret: Secret::new(secret),
            grant: Grant::ClientCredentials {
                scopes: vec!["read".into(), "write".into()],
            },
            header_template: "Bearer {token}".into(),
            refresh_on: RefreshOn {
                status: vec![401],
                body_codes: vec![],
            },
        },
        Arc::new(MemoryTokenStore::default()),
    )))
}

async fn echoed(caps: &ferry::capability::Capabilities, header: &str) -> String {
    let resp = caps.http.send(get_req("/echo")).await.unwrap();
    assert_eq!(resp.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    body[header].as_str().unwrap().to_string()
}

#[tokio::test]
async fn client_credentials_get_a_token_by_basic_auth_and_a_new_one_on_expiry() {
    let tokens = Arc::new(AtomicUsize::new(0));
    // A token whose whole life is inside the renewal margin counts as
    // expired at once: every request asks for a new one.
    let base = client_credentials_vendor(tokens.clone(), 0).await;
    let caps = support::capabilities(
        &base,
        &["127.0.0.1:*"],
        &[],
        Some(client_credentials(&base, "shh")),
    );
    assert_eq!(echoed(&caps, "authorization").await, "Bearer cc-1");
    assert_eq!(echoed(&caps, "authorization").await, "Bearer cc-2");
    assert_eq!(tokens.load(Ordering::SeqCst), 2);

    // A long-lived token is reused.
    let tokens = Arc::new(AtomicUsize::new(0));
    let base = client_credentials_vendor(tokens.clone(), 3600).await;
    let caps = support::capabilities(
        &base,
        &["127.0.0.1:*"],
        &[],
        Some(client_credentials(&base, "shh")),
    );
    for _ in 0..3 {
        assert_eq!(echoed(&caps, "authorization").await, "Bearer cc-1");
    }
    assert_eq!(tokens.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refused_client_credentials_say_so_without_the_secret() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let base = client_credentials_vendor(tokens.clone(), 3600).await;
    let caps = support::capabilities(
        &base,
        &["127.0.0.1:*"],
        &[],
        Some(client_credentials(&base, "wrong-secret")),
    );
    let err = caps.http.send(get_req("/echo")).await.unwrap_err();
    let HttpError::Unauthorized(msg) = &err else {
        panic!("{err}")
    };
    assert!(
        msg.contains("invalid client") && msg.contains("401"),
        "{msg}"
    );
    assert!(!msg.contains("wrong-secret"), "{msg}");
}

#[tokio::test]
async fn api_keys_and_basic_credentials_are_attached_by_the_host_only() {
    let base = client_credentials_vendor(Arc::new(AtomicUsize::new(0)), 3600).await;
    let key = Arc::new(Auth::Fixed(Fixed::header(
        "X-API-Key",
        Secret::new("k-123"),
    )));
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], Some(key));
    assert_eq!(echoed(&caps, "x-api-key").await, "k-123");
    assert_eq!(echoed(&caps, "authorization").await, "");
    // The key's header is the host's: a plugin may not set it.
    let mut forged = get_req("/echo");
    forged.headers.push(("X-Api-Key".into(), "mine".into()));
    let err = caps.http.send(forged).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Denied(ref m) if m.contains("X-Api-Key")),
        "{err}"
    );

    // HTTP Basic with a secret key as the user name and no password.
    let basic = Arc::new(Auth::Fixed(Fixed::basic(&Secret::new("csb-secret"), None)));
    let caps = support::capabilities(&base, &["127.0.0.1:*"], &[], Some(basic));
    // base64("csb-secret:")
    assert_eq!(
        echoed(&caps, "authorization").await,
        "Basic Y3NiLXNlY3JldDo="
    );
}
