//! CSB's part of the control API, under `/__sandbox/csb` (no auth): what
//! CSB's UI does, and everything stored, for assertions.
//!
//! | Endpoint | What |
//! |---|---|
//! | `GET /__sandbox/csb` | base URL, secret key, accounts, invoices, writes |
//! | `POST /__sandbox/csb/reset` | drop CSB's accounts and invoices |
//! | `POST /__sandbox/csb/accounts` `{account_id, name}` | create an account (as the UI) |

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::{PREFIX, SECRET_KEY, error};
use crate::ap::reply;
use crate::app::AppRef;
use crate::error::ApiError;

pub fn router() -> Router<AppRef> {
    Router::new()
        .route("/__sandbox/csb", get(show))
        .route("/__sandbox/csb/reset", post(reset))
        .route("/__sandbox/csb/accounts", post(add_account))
}

async fn show(State(app): State<AppRef>) -> Response {
    let d = app.csb.snapshot();
    reply(
        200,
        json!({
            "base_url": format!("{}{PREFIX}", app.base_url()),
            "secret_key": SECRET_KEY,
            "accounts": d.accounts,
            "invoices": d.invoices,
            "writes": d.writes,
        }),
    )
}

async fn reset(State(app): State<AppRef>) -> Response {
    app.csb.reset();
    reply(200, json!({"status": "reset"}))
}

#[derive(Deserialize)]
struct NewAccount {
    account_id: String,
    #[serde(default)]
    name: String,
}

async fn add_account(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let a: NewAccount = serde_json::from_slice(&body)
        .map_err(|e| error(400, &format!("invalid JSON body: {e}")))?;
    if a.account_id.trim().is_empty() {
        return Err(error(422, "account_id is required"));
    }
    app.csb.add_account(&a.account_id, &a.name);
    Ok(reply(201, json!({"account_id": a.account_id})))
}
