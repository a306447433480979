//! `GET /v1/environments/{env}`: the environment object. Unlike every
//! sub-resource (403 for a missing environment), this one answers 404 for
//! an unknown environment (checklist item 4); connectors use it to tell a
//! missing environment from a missing role (§7 quirk 3), and its
//! `createdAt` to tell a new environment's window (§7 quirk 1).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::hal;
use crate::AppState;
use crate::auth::Authed;
use crate::errors::{ApiError, ApiResult};

pub async fn get_environment(
    State(app): State<AppState>,
    a: Authed,
    Path(env): Path<String>,
) -> ApiResult<Response> {
    if env != app.env_id && env != app.other_env_id {
        return Err(ApiError::not_found(&format!(
            "Unable to find environment with id {env}."
        )));
    }
    if a.env != env {
        // The access token was issued for another environment.
        return Err(ApiError::forbidden());
    }
    let st = app.read();
    let mut v = st.environment_json(&env);
    // A new-environment window makes the environment new (DOCS-8830).
    if let Some(ms) = app.faults.warmup_created_ms().filter(|_| env == app.env_id) {
        v["createdAt"] = serde_json::json!(crate::util::fmt_ts(ms));
    }
    Ok(hal(StatusCode::OK, &v))
}
