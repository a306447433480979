//! `GET /environments/{env}/activities` and `GET .../activities/{id}`
//! (pingone-activities.md §1): the audit log, newest first, behind the
//! mandatory `recordedAt` window and the audit API's own rate limit. The
//! rules themselves live in `activity.rs`; this file wires them to the
//! listing helper. The POST search, `activityResources` and restores are
//! not modelled.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::{hal, not_found};
use crate::AppState;
use crate::activity::{self, DEFAULT_PAGE, MAX_PAGE};
use crate::auth::EnvCtx;
use crate::errors::{ApiError, ApiResult, Detail};
use crate::filter;
use crate::listing::{ListSpec, Listing};
use crate::util::now_ms;

/// The audit API's own limit (§1.6): 429 `REQUEST_LIMITED` + `Retry-After`.
fn audit_rate(app: &AppState) -> ApiResult<()> {
    let config = app.read().audit.config.clone();
    app.audit_limiter
        .take(&config)
        .map_err(ApiError::rate_limited)
}

/// `GET /activities?filter=…&limit=…`.
pub async fn list(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    audit_rate(&app)?;
    let spec = ListSpec {
        counts: false,
        page_default: Some(DEFAULT_PAGE),
        ..ListSpec::filtered("activities", &filter::ACTIVITIES, MAX_PAGE)
    };
    let (list, query) = Listing::parse_vetted(&app, &uri, spec, |expr| {
        activity::vet(expr)
            .map_err(|message| Detail::new("INVALID_FILTER", Some("filter"), &message).into())
    })?;
    let st = app.read();
    let items = st.audit.query(&query, now_ms());
    let env_url = st.env_url();
    Ok(list.respond_repeating(
        "activities",
        &items,
        |a| activity::position(a),
        |a| st.audit.repeats_at_boundary(a),
        |a| Some(a.to_json(&st.env_id, &env_url)),
    ))
}

/// `GET /activities/{activityId}`.
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    audit_rate(&app)?;
    let st = app.read();
    match st.audit.get(&id, now_ms()) {
        Some(a) => Ok(hal(StatusCode::OK, &a.to_json(&st.env_id, &st.env_url()))),
        None => Err(not_found("activity", &id)),
    }
}
