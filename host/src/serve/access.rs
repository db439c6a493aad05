//! Who may do what, for the admin API and the dashboard alike: a caller's
//! role from its token, and the answer when it falls short.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::tokens::{self, Role};
use super::{JobKind, Service};

/// An error answer: status and message (JSON from the API, a page from
/// the dashboard).
#[derive(Debug)]
pub(crate) struct Fail(pub StatusCode, pub String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl<E: std::error::Error> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

pub(crate) type Answer = Result<Response, Fail>;

pub(crate) fn ok(v: Value) -> Answer {
    Ok(axum::Json(v).into_response())
}

/// Who a caller is: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub name: String,
    pub role: Role,
}

/// The identity of a bearer token: a stored token, or the token of
/// commands beside the service (admin).
pub(crate) fn identify(s: &Service, bearer: &str) -> Result<Identity, Fail> {
    let bearer = bearer.trim();
    if s.local_token
        .get()
        .is_some_and(|local| super::local::same_token(bearer, local))
    {
        return Ok(Identity {
            name: "local".into(),
            role: Role::Admin,
        });
    }
    let token = tokens::verify(&s.store, bearer)?
        .ok_or_else(|| Fail(StatusCode::UNAUTHORIZED, "unknown token".into()))?;
    Ok(Identity {
        name: token.name,
        role: token.role,
    })
}

/// The caller must have at least `need`: by its bearer token, or, without
/// one, as a direct loopback caller when the workspace says
/// `serve.open_on_loopback` (reading only).
pub(crate) fn authorize(
    s: &Service,
    bearer: Option<&str>,
    loopback: bool,
    need: Role,
) -> Result<Option<Identity>, Fail> {
    let Some(bearer) = bearer else {
        if s.config.open_on_loopback && loopback {
            if need == Role::Viewer {
                return Ok(None);
            }
            return Err(Fail(
                StatusCode::UNAUTHORIZED,
                format!(
                    "`serve.open_on_loopback` opens reading only; this needs a token of role {} (`ferry tokens add`)",
                    need.name()
                ),
            ));
        }
        return Err(Fail(
            StatusCode::UNAUTHORIZED,
            "a bearer token is needed (`ferry tokens add`)".into(),
        ));
    };
    let who = identify(s, bearer)?;
    allow(&who, need)?;
    Ok(Some(who))
}

/// `who` must have at least `need`.
pub(crate) fn allow(who: &Identity, need: Role) -> Result<(), Fail> {
    if who.role < need {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` is {}; this needs {}",
                who.name,
                who.role.name(),
                need.name()
            ),
        ));
    }
    Ok(())
}

/// A sync or trigger rule of the workspace.
pub(crate) fn known(s: &Service, name: &str) -> Result<usize, Fail> {
    s.job_of(name).ok_or_else(|| {
        Fail(
            StatusCode::NOT_FOUND,
            format!("no sync or trigger `{name}`"),
        )
    })
}

/// A sync's name, or 400 for a trigger rule or a rollup.
pub(crate) fn sync_name(s: &Service, name: &str, what: &str) -> Result<(), Fail> {
    let i = known(s, name)?;
    match &s.jobs[i].kind {
        JobKind::Sync(_) => Ok(()),
        JobKind::Rules(..) => Err(Fail(
            StatusCode::BAD_REQUEST,
            format!("`{name}` is a trigger rule; {what} is for syncs"),
        )),
        JobKind::Rollup(_) => Err(Fail(
            StatusCode::BAD_REQUEST,
            format!("`{name}` is a rollup; {what} is for syncs"),
        )),
    }
}

pub(crate) fn number(
    q: &HashMap<String, String>,
    key: &str,
    default: usize,
) -> Result<usize, Fail> {
    q.get(key).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| Fail(StatusCode::BAD_REQUEST, format!("`{key}` must be a number")))
    })
}
