//! The simulator's own admin API under `/__sim/` (loopback only, no auth,
//! not counted): request accounting, the current ground truth, runtime
//! fault changes and forced token expiry. Tests and scripts use it to
//! assert what a sync cost and what provisioning changed.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::accounting::FaultKind;
use crate::config::Faults;
use crate::paging::Params;

pub async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /__sim/stats`.
pub async fn stats(State(app): State<AppState>) -> Response {
    Json(app.stats.snapshot()).into_response()
}

/// `POST /__sim/stats/reset`.
pub async fn reset_stats(State(app): State<AppState>) -> Response {
    app.stats.reset();
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /__sim/state` (the ground truth); `?summary=true` gives counts only.
pub async fn state(State(app): State<AppState>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    if params.get("summary") == Some("true") {
        return Json(st.summary()).into_response();
    }
    let gt = st.ground_truth();
    drop(st);
    Json(gt).into_response()
}

/// `GET /__sim/faults`.
pub async fn get_faults(State(app): State<AppState>) -> Response {
    Json(app.faults.get()).into_response()
}

/// `PUT /__sim/faults`: replaces all faults (omitted fields take defaults).
pub async fn put_faults(
    State(app): State<AppState>,
    body: Result<Json<Faults>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(f)) => {
            app.faults.set(f.clone());
            Json(f).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.body_text() })),
        )
            .into_response(),
    }
}

/// `POST /__sim/tokens/expire`: every issued token is expired now.
pub async fn expire_tokens(State(app): State<AppState>) -> Response {
    app.tokens.expire_all();
    app.stats.fault(FaultKind::TokenExpiry);
    StatusCode::NO_CONTENT.into_response()
}
