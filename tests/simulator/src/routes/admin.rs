//! The simulator's own admin API under `/__sim/` (loopback only, no auth,
//! not counted): request accounting, the current ground truth, runtime
//! fault changes, forced token expiry, scripted random changes and the
//! audit log's configuration and raw contents. Tests and scripts use it to
//! assert what a sync cost and what provisioning changed.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;
use crate::changes::{ChangeRequest, apply_random_changes};
use crate::config::{AuditConfig, Faults};
use crate::listing::Params;

/// A JSON body; a bad one is answered 400 `{"error": ...}`.
type JsonBody<T> = Result<Json<T>, JsonRejection>;

fn bad_body(e: JsonRejection) -> Response {
    let body = Json(json!({ "error": e.body_text() }));
    (StatusCode::BAD_REQUEST, body).into_response()
}

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /__sim/stats`.
pub async fn stats(State(app): State<AppState>) -> Response {
    Json(app.stats.snapshot()).into_response()
}

/// `POST /__sim/stats/reset`.
pub async fn reset_stats(State(app): State<AppState>) -> StatusCode {
    app.stats.reset();
    StatusCode::NO_CONTENT
}

/// `GET /__sim/state` (the ground truth); `?summary=true` gives counts only.
pub async fn state(State(app): State<AppState>, uri: Uri) -> Response {
    let st = app.read();
    if Params::from_uri(&uri).get("summary") == Some("true") {
        return Json(st.summary()).into_response();
    }
    let gt = st.ground_truth();
    drop(st);
    Json(gt).into_response()
}

/// `GET /__sim/faults`.
pub async fn get_faults(State(app): State<AppState>) -> Json<Faults> {
    Json(app.faults.get())
}

/// `PUT /__sim/faults`: replaces all faults (omitted fields take defaults).
pub async fn put_faults(
    State(app): State<AppState>,
    body: JsonBody<Faults>,
) -> Result<Json<Faults>, Response> {
    let Json(f) = body.map_err(bad_body)?;
    app.faults.set(f.clone());
    Ok(Json(f))
}

/// `POST /__sim/tokens/expire`: every issued token is expired now.
pub async fn expire_tokens(State(app): State<AppState>) -> StatusCode {
    app.tokens.expire_all();
    app.stats.fault(|f| &mut f.token_expiries);
    StatusCode::NO_CONTENT
}

/// `POST /__sim/changes` `{"seed": N, "steps": M}`: applies a random change
/// sequence (recorded as a console administrator's activities) and returns
/// `{"applied": [...]}`.
pub async fn apply_changes(
    State(app): State<AppState>,
    body: JsonBody<ChangeRequest>,
) -> Result<Json<Value>, Response> {
    let Json(req) = body.map_err(bad_body)?;
    let applied = apply_random_changes(&mut app.write(), req.seed, req.steps);
    Ok(Json(json!({ "applied": applied })))
}

/// `GET /__sim/activities`: every recorded activity, visible or not,
/// oldest first.
pub async fn activities(State(app): State<AppState>) -> Json<Value> {
    Json(json!({ "activities": app.activities() }))
}

/// `GET /__sim/audit`: the audit log's configuration.
pub async fn get_audit(State(app): State<AppState>) -> Json<AuditConfig> {
    Json(app.read().audit.config.clone())
}

/// `PUT /__sim/audit`: replaces it (omitted fields take defaults).
pub async fn put_audit(
    State(app): State<AppState>,
    body: JsonBody<AuditConfig>,
) -> Result<Json<AuditConfig>, Response> {
    let Json(c) = body.map_err(bad_body)?;
    app.write().audit.set_config(c.clone());
    Ok(Json(c))
}
