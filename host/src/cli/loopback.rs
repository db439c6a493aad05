//! The browser flow's one-shot listener: Ferry waits on 127.0.0.1 for the
//! accounts server to send the browser back with a grant code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::oneshot;

/// The path Zoho is asked to send the browser back to.
pub const CALLBACK_PATH: &str = "/callback";

/// What the redirect carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub code: String,
    /// The data centre Zoho says the account is in (`us`, `eu`, …).
    pub location: Option<String>,
    /// The accounts server of that data centre.
    pub accounts_server: Option<String>,
}

/// A redirect, judged: the code, a refusal to report, or not ours.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Code(Callback),
    /// The user (or Zoho) refused: `error=access_denied`.
    Refused(String),
    /// Without our `state`: not the sign-in Ferry started.
    Foreign,
}

fn judge(query: &HashMap<String, String>, state: &str) -> Verdict {
    if query.get("state").map(String::as_str) != Some(state) {
        return Verdict::Foreign;
    }
    if let Some(error) = query.get("error") {
        return Verdict::Refused(error.clone());
    }
    match query.get("code").filter(|c| !c.is_empty()) {
        Some(code) => Verdict::Code(Callback {
            code: code.clone(),
            location: query.get("location").cloned(),
            accounts_server: query.get("accounts-server").cloned(),
        }),
        None => Verdict::Refused("no code in the redirect".into()),
    }
}

type Outcome = Result<Callback, String>;

#[derive(Clone)]
struct Shared {
    state: String,
    done: Arc<Mutex<Option<oneshot::Sender<Outcome>>>>,
}

/// A listener on 127.0.0.1, bound before the sign-in starts.
pub struct Listener {
    listener: tokio::net::TcpListener,
    port: u16,
}

impl Listener {
    /// Listen on `127.0.0.1:port` (0: a free port).
    pub async fn bind(port: u16) -> anyhow::Result<Listener> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        let port = listener.local_addr()?.port();
        Ok(Listener { listener, port })
    }

    /// `http://127.0.0.1:<port>/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Serve until a redirect with `state` arrives (or `timeout` passes),
    /// then stop.
    pub async fn wait(self, state: &str, timeout: Duration) -> anyhow::Result<Callback> {
        let (tx, rx) = oneshot::channel();
        let shared = Shared {
            state: state.to_string(),
            done: Arc::new(Mutex::new(Some(tx))),
        };
        let router = Router::new()
            .route(CALLBACK_PATH, get(callback))
            .with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let outcome = tokio::time::timeout(timeout, rx).await;
        let _ = stop.send(());
        // The answer page is on its way; a browser holding the connection
        // open does not keep Ferry waiting.
        if tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .is_err()
        {
            tracing::debug!("loopback listener still closing");
        }
        match outcome {
            Err(_) => bail!(
                "no redirect came within {}",
                humantime::format_duration(timeout)
            ),
            Ok(Err(_)) => bail!("the loopback listener stopped"),
            Ok(Ok(Err(why))) => bail!("the sign-in was not completed: {why}"),
            Ok(Ok(Ok(callback))) => Ok(callback),
        }
    }
}

async fn callback(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (outcome, text) = match judge(&query, &shared.state) {
        Verdict::Foreign => {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                Html(page("This is not the sign-in Ferry is waiting for.")),
            )
                .into_response();
        }
        Verdict::Refused(why) => (
            Err(why),
            "Zoho did not grant access; Ferry stopped. You can close this tab.",
        ),
        Verdict::Code(c) => (
            Ok(c),
            "Ferry received the grant code. You can close this tab and go back to the terminal.",
        ),
    };
    if let Some(tx) = shared.done.lock().unwrap().take() {
        let _ = tx.send(outcome);
    }
    Html(page(text)).into_response()
}

fn page(text: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Ferry</title></head><body><p>{text}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_redirect_is_ours_only_with_our_state() {
        assert_eq!(
            judge(
                &q(&[
                    ("state", "s"),
                    ("code", "1000.x"),
                    ("location", "eu"),
                    ("accounts-server", "https://accounts.zoho.eu")
                ]),
                "s"
            ),
            Verdict::Code(Callback {
                code: "1000.x".into(),
                location: Some("eu".into()),
                accounts_server: Some("https://accounts.zoho.eu".into()),
            })
        );
        assert_eq!(judge(&q(&[("code", "1000.x")]), "s"), Verdict::Foreign);
        assert_eq!(
            judge(&q(&[("state", "t"), ("code", "1000.x")]), "s"),
            Verdict::Foreign
        );
        assert_eq!(
            judge(&q(&[("state", "s"), ("error", "access_denied")]), "s"),
            Verdict::Refused("access_denied".into())
        );
    }
}
