//! Dashboard sessions: signing in with an API token gives a session id in
//! a cookie (`HttpOnly`, `SameSite=Strict`), kept in memory with an
//! expiry; the token itself is never stored in the browser. Each session
//! has a CSRF token that every form carries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::serve::access::Identity;
use crate::serve::tokens::same_secret;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "ferry_session";

/// How long a session lasts from sign-in.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Sessions at most (a flood of sign-ins cannot grow memory without end;
/// the oldest go first).
const MAX: usize = 1000;

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub who: Identity,
    pub csrf: String,
    expires: Instant,
}

impl Session {
    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        same_secret(self.csrf.as_bytes(), given.as_bytes())
    }
}

/// The sessions of one service.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

impl Sessions {
    /// A new session for `who`; returns its id.
    pub(crate) fn open(&self, who: Identity) -> String {
        let id = random(43);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                who,
                csrf: random(32),
                expires: now + LIFETIME,
            },
        );
        id
    }

    /// The live session of this id.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub(crate) fn close(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The session id in a `Cookie` header.
pub(crate) fn cookie_id(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for a session (`secure` when the dashboard is
/// reached over TLS).
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub(crate) fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Role;

    #[test]
    fn a_session_is_found_by_its_id_until_closed_and_checks_its_csrf_token() {
        let sessions = Sessions::default();
        let id = sessions.open(Identity {
            name: "ops".into(),
            role: Role::Operator,
        });
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.who.role, Role::Operator);
        assert!(s.csrf_ok(&s.csrf.clone()));
        assert!(!s.csrf_ok(""));
        assert!(!s.csrf_ok("forged"));
        assert!(sessions.get("other").is_none());
        assert_eq!(
            cookie_id(&format!("a=b; {COOKIE}={id}; c=d")),
            Some(id.as_str())
        );
        let cookie = set_cookie(&id, false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        assert!(set_cookie(&id, true).ends_with("; Secure"));
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }
}
