//! The simulator's own admin API under `/__sim/` (loopback only, no auth,
//! not counted): request accounting, the current ground truth, runtime
//! fault changes, forced token expiry, scripted random changes and the
//! audit log's configuration and raw contents. Tests and scripts use it to
//! assert what a sync cost and what provisioning changed.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::accounting::FaultKind;
use crate::changes::{ChangeRequest, apply_random_changes};
use crate::config::{AuditConfig, Faults};
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

fn bad_body(e: axum::extract::rejection::JsonRejection) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": e.body_text() })),
    )
        .into_response()
}

/// `POST /__sim/changes` `{"seed": N, "steps": M}`: applies a random change
/// sequence (recorded as a console administrator's activities) and returns
/// `{"applied": [...]}`.
pub async fn apply_changes(
    State(app): State<AppState>,
    body: Result<Json<ChangeRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(req)) => {
            let mut st = app.store.write().unwrap_or_else(|e| e.into_inner());
            let applied = apply_random_changes(&mut st, req.seed, req.steps);
            drop(st);
            Json(json!({ "applied": applied })).into_response()
        }
        Err(e) => bad_body(e),
    }
}

/// `GET /__sim/activities`: every recorded activity, visible or not,
/// oldest first.
pub async fn activities(State(app): State<AppState>) -> Response {
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let env_url = st.env_url();
    let all: Vec<_> = st
        .audit
        .all()
        .iter()
        .map(|a| a.to_json(&st.env_id, &env_url))
        .collect();
    drop(st);
    Json(json!({ "activities": all })).into_response()
}

/// `GET /__sim/audit`: the audit log's configuration.
pub async fn get_audit(State(app): State<AppState>) -> Response {
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    Json(st.audit.config.clone()).into_response()
}

/// `PUT /__sim/audit`: replaces it (omitted fields take defaults).
pub async fn put_audit(
    State(app): State<AppState>,
    body: Result<Json<AuditConfig>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(Json(c)) => {
            let mut st = app.store.write().unwrap_or_else(|e| e.into_inner());
            st.audit.set_config(c.clone());
            Json(c).into_response()
        }
        Err(e) => bad_body(e),
    }
}
