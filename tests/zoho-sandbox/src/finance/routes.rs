//! Finance routes for Books, Invoice and Billing.

use axum::Router;

use crate::app::AppRef;

pub fn router() -> Router<AppRef> {
    Router::new()
}

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use crate::error::ApiError;

/// `PUT /__sandbox/ui/{product}/{org}/{resource}/{id}`: edit a record as the web UI.
pub async fn ui_update(State(_app): State<AppRef>, Path((_p, _o, _r, _id)): Path<(String, String, String, String)>, _body: Bytes) -> Result<Response, ApiError> {
    Err(ApiError::raw(501, serde_json::json!({"error": "not implemented"})))
}

/// `POST /__sandbox/ui/{product}/{org}/{resource}/{id}/{action}`.
pub async fn ui_action(State(_app): State<AppRef>, Path((_p, _o, _r, _id, _a)): Path<(String, String, String, String, String)>, _body: Bytes) -> Result<Response, ApiError> {
    Err(ApiError::raw(501, serde_json::json!({"error": "not implemented"})))
}
