//! Recorded HTTP: a connection's exchanges kept in a cassette, and played
//! back with no network, so a connector's behaviour can be tested again
//! offline (`ferry plugins test --record` / `--replay`).
//!
//! Only what the plugin sent and received is kept: credentials are added
//! by the host after this point and token requests never pass through it,
//! so no token is recorded; the connection's secrets are scrubbed from
//! every text kept besides, and URLs on the connection's own origin are
//! kept relative to its base URL, so a cassette recorded on one sandbox
//! replays anywhere.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::http::{HttpError, Method, Request, Response};

/// Response headers worth keeping: the ones plugins read.
const KEPT_HEADERS: &[&str] = &["content-type", "link", "retry-after", "location"];

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub method: String,
    /// Relative to the base URL (`/customers?limit=100`) when on its origin.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub response: String,
}

/// Exchanges in the order they happened.
#[derive(Debug, Default)]
pub struct Cassette {
    exchanges: Mutex<Vec<Exchange>>,
    /// Which exchanges a replay has answered with.
    used: Mutex<Vec<bool>>,
    /// Texts never to keep (the connection's secrets).
    scrub: Vec<String>,
}

/// Whether a connection records or replays.
#[derive(Debug, Clone)]
pub enum Tape {
    Record(std::sync::Arc<Cassette>),
    Replay(std::sync::Arc<Cassette>),
}

const SCRUBBED: &str = "<scrubbed>";

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

impl Cassette {
    /// An empty cassette that scrubs `secrets` from what it records.
    pub fn recording(secrets: Vec<String>) -> Cassette {
        Cassette {
            scrub: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
            ..Cassette::default()
        }
    }

    /// A cassette to replay `exchanges` from.
    pub fn replaying(exchanges: Vec<Exchange>) -> Cassette {
        let used = vec![false; exchanges.len()];
        Cassette {
            exchanges: Mutex::new(exchanges),
            used: Mutex::new(used),
            scrub: Vec::new(),
        }
    }

    /// What was recorded.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Recorded exchanges a replay never used.
    pub fn unused(&self) -> Vec<Exchange> {
        let used = self.used.lock().unwrap();
        self.exchanges
            .lock()
            .unwrap()
            .iter()
            .zip(used.iter())
            .filter(|(_, used)| !**used)
            .map(|(e, _)| e.clone())
            .collect()
    }

    fn clean(&self, text: &str) -> String {
        self.scrub.iter().fold(text.to_string(), |t, secret| {
            t.replace(secret.as_str(), SCRUBBED)
        })
    }

    fn body_text(&self, body: &Option<Vec<u8>>) -> Option<String> {
        body.as_ref()
            .map(|b| self.clean(&String::from_utf8_lossy(b)))
    }

    /// Keep one exchange. `url` is the request's URL as the cassette names it.
    pub fn record(&self, request: &Request, url: &str, response: &Response) {
        let exchange = Exchange {
            method: method_name(request.method).into(),
            url: self.clean(url),
            body: self.body_text(&request.body),
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(k, _)| KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| (k.to_ascii_lowercase(), self.clean(v)))
                .collect(),
            response: self.clean(&String::from_utf8_lossy(&response.body)),
        };
        self.exchanges.lock().unwrap().push(exchange);
        self.used.lock().unwrap().push(false);
    }

    /// The recorded answer to `request`: the first unused exchange with
    /// the same method, URL and body.
    pub fn answer(&self, request: &Request, url: &str) -> Result<Response, HttpError> {
        let method = method_name(request.method);
        let body = self.body_text(&request.body);
        let exchanges = self.exchanges.lock().unwrap();
        let mut used = self.used.lock().unwrap();
        let found = exchanges
            .iter()
            .enumerate()
            .find(|(i, e)| !used[*i] && e.method == method && e.url == url && e.body == body);
        let Some((i, e)) = found else {
            return Err(HttpError::InvalidRequest(format!(
                "the cassette has no answer to {method} {url}{}",
                if body.is_some() {
                    " with this body"
                } else {
                    ""
                }
            )));
        };
        used[i] = true;
        Ok(Response {
            status: e.status,
            headers: e.headers.clone(),
            body: e.response.clone().into_bytes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_answer_in_order_and_secrets_are_never_kept() {
        let tape = Cassette::recording(vec!["s3cret-value".into()]);
        let answer = |body: &str| Response {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Set-Cookie".into(), "session=s3cret-value".into()),
            ],
            body: body.as_bytes().to_vec(),
        };
        tape.record(
            &Request::get("/a"),
            "/a?key=s3cret-value",
            &answer(r#"{"n":1,"echo":"s3cret-value"}"#),
        );
        tape.record(
            &Request::get("/a"),
            "/a?key=s3cret-value",
            &answer(r#"{"n":2}"#),
        );
        let kept = serde_json::to_string(&tape.exchanges()).unwrap();
        assert!(!kept.contains("s3cret-value"), "{kept}");
        assert!(!kept.to_ascii_lowercase().contains("set-cookie"), "{kept}");

        let replay = Cassette::replaying(tape.exchanges());
        let url = "/a?key=<scrubbed>";
        let first = replay.answer(&Request::get("/a"), url).unwrap();
        assert_eq!(first.body, br#"{"n":1,"echo":"<scrubbed>"}"#);
        assert_eq!(replay.unused().len(), 1);
        assert_eq!(
            replay.answer(&Request::get("/a"), url).unwrap().body,
            br#"{"n":2}"#
        );
        let err = replay.answer(&Request::get("/a"), url).unwrap_err();
        assert!(err.to_string().contains("no answer to GET /a"), "{err}");
        assert!(replay.unused().is_empty());
    }
}
