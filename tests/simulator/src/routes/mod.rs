//! The HTTP surface: the API host's `/v1` routes and `/__sim` admin routes,
//! the auth host's token route, and the shared response helpers.
//!
//! Route templates use PingOne's own names (`{env}`, `{userId}`, ...) so
//! request accounting reads like the API reference. Unknown `/v1` paths get
//! the API gateway's odd 403 (§7 quirk 9), unsupported methods 405, and a
//! wrong custom media type 415 INVALID_REQUEST (item 25).

pub mod activities;
pub mod admin;
pub mod assignments;
pub mod environment;
pub mod groups;
pub mod memberships;
pub mod populations;
pub mod roles;
pub mod users;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use std::sync::RwLockWriteGuard;

use crate::AppState;
use crate::accounting::account;
use crate::activity::Actor;
use crate::auth::EnvCtx;
use crate::errors::{ApiError, ApiResult, Detail};
use crate::faults::{delay_only, inject};
use crate::model::Pos;
use crate::store::Store;

const HAL: &str = "application/hal+json;charset=UTF-8";

pub fn hal_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HAL));
    r
}

pub fn hal(status: StatusCode, v: &Value) -> Response {
    hal_bytes(status, serde_json::to_vec(v).unwrap_or_default())
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The media type of a request body, lower-cased, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A JSON object body whose media type is one of `allowed`.
pub fn body_object(
    headers: &HeaderMap,
    body: &Bytes,
    allowed: &[&str],
) -> ApiResult<(Map<String, Value>, String)> {
    let mt = media_type(headers);
    if !allowed.contains(&mt.as_str()) {
        return Err(ApiError::unsupported_media_type(&mt));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok((m, mt)),
        Ok(_) => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            "The request could not be completed. The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::invalid_request(
            StatusCode::BAD_REQUEST,
            &format!("The request could not be completed. The request body is not valid JSON: {e}"),
        )),
    }
}

pub const JSON: &[&str] = &["application/json"];

/// Reads `{"id": "..."}` (membership, nesting, population move bodies).
pub fn body_id(obj: &Map<String, Value>) -> ApiResult<String> {
    match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        None | Some(Value::Null) => Err(Detail::required("id").into()),
        Some(_) => Err(Detail::invalid_value("id", "must be a string").into()),
    }
}

/// The store, locked for a write made by the request's client: the
/// changes that follow are recorded as that client's activities, under one
/// correlation id for the request.
pub fn store_for_write<'a>(app: &'a AppState, ctx: &EnvCtx) -> RwLockWriteGuard<'a, Store> {
    let mut st = app.write();
    let client = &app.config.clients[ctx.client];
    st.audit.begin(Actor::Client {
        id: client.client_id.clone(),
    });
    st
}

/// The consistency window: a just-created object reads as 404.
pub fn fresh_read(app: &AppState, st: &Store, id: &str) -> ApiResult<()> {
    let w = app.faults.get().consistency_window_ms;
    if st.is_fresh(id, w) {
        app.stats.fault(|f| &mut f.consistency_rejections);
        return Err(ApiError::not_found("The requested resource was not found."));
    }
    Ok(())
}

/// The consistency window: a write referencing a just-created object is 403.
pub fn fresh_write(app: &AppState, st: &Store, ids: &[&str]) -> ApiResult<()> {
    let w = app.faults.get().consistency_window_ms;
    if ids.iter().any(|id| st.is_fresh(id, w)) {
        app.stats.fault(|f| &mut f.consistency_rejections);
        return Err(ApiError::forbidden());
    }
    Ok(())
}

pub fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::not_found(&format!("Unable to find {what} with id {id}."))
}

pub fn user_pos(st: &Store, id: &str) -> ApiResult<Pos> {
    st.user_pos(id).ok_or_else(|| not_found("user", id))
}

pub fn group_pos(st: &Store, id: &str) -> ApiResult<Pos> {
    st.group_pos(id).ok_or_else(|| not_found("group", id))
}

pub fn pop_pos(st: &Store, id: &str) -> ApiResult<Pos> {
    st.pop_pos(id).ok_or_else(|| not_found("population", id))
}

async fn fallback(uri: Uri) -> ApiError {
    if uri.path() == "/v1" || uri.path().starts_with("/v1/") {
        ApiError::gateway_forbidden()
    } else {
        ApiError::not_found("The requested resource was not found.")
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// The API host: `/v1` (with faults and accounting) plus `/__sim` admin.
pub fn api_router(app: AppState) -> Router {
    use assignments as ra;
    use environment as env;
    use groups as g;
    use memberships as m;
    use populations as p;
    use roles as r;
    use users as u;
    const E: &str = "/v1/environments/{env}";
    let v1 = Router::new()
        .route("/v1/roles", get(r::list_builtin))
        .route("/v1/roles/{roleId}", get(r::get_builtin))
        .route(E, get(env::get_environment))
        .route(&format!("{E}/users"), get(u::list).post(u::create))
        .route(
            &format!("{E}/users/{{userId}}"),
            get(u::read)
                .put(u::write_profile)
                .patch(u::write_profile)
                .delete(u::delete)
                .post(u::account),
        )
        .route(
            &format!("{E}/users/{{userId}}/enabled"),
            get(u::get_enabled).put(u::set_enabled),
        )
        .route(
            &format!("{E}/users/{{userId}}/population"),
            get(u::get_population).put(u::set_population),
        )
        .route(
            &format!("{E}/users/{{userId}}/memberOfGroups"),
            get(m::list_user_groups).post(m::add_user_group),
        )
        .route(
            &format!("{E}/users/{{userId}}/memberOfGroups/{{groupId}}"),
            get(m::get_user_group).delete(m::remove_user_group),
        )
        .route(
            &format!("{E}/users/{{userId}}/roleAssignments"),
            get(ra::list).post(ra::create),
        )
        .route(
            &format!("{E}/users/{{userId}}/roleAssignments/{{roleAssignmentId}}"),
            get(ra::read).delete(ra::delete),
        )
        .route(&format!("{E}/groups"), get(g::list).post(g::create))
        .route(
            &format!("{E}/groups/{{groupId}}"),
            get(g::read).put(g::replace).delete(g::delete),
        )
        .route(
            &format!("{E}/groups/{{groupId}}/memberOfGroups"),
            get(m::list_group_parents).post(m::add_group_parent),
        )
        .route(
            &format!("{E}/groups/{{groupId}}/memberOfGroups/{{parentGroupId}}"),
            get(m::get_group_parent).delete(m::remove_group_parent),
        )
        .route(
            &format!("{E}/groups/{{groupId}}/roleAssignments"),
            get(ra::list).post(ra::create),
        )
        .route(
            &format!("{E}/groups/{{groupId}}/roleAssignments/{{roleAssignmentId}}"),
            get(ra::read).delete(ra::delete),
        )
        .route(&format!("{E}/populations"), get(p::list).post(p::create))
        .route(
            &format!("{E}/populations/{{populationId}}"),
            get(p::read).put(p::replace).delete(p::delete),
        )
        .route(&format!("{E}/activities"), get(activities::list))
        .route(
            &format!("{E}/activities/{{activityId}}"),
            get(activities::read),
        )
        .route(&format!("{E}/roles"), get(r::list_env))
        .route(&format!("{E}/roles/{{roleId}}"), get(r::get_env))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(app.clone(), inject))
        .layer(from_fn_with_state(app.clone(), account));
    let admin = Router::new()
        .route("/__sim/health", get(admin::health))
        .route("/__sim/stats", get(admin::stats))
        .route("/__sim/stats/reset", post(admin::reset_stats))
        .route("/__sim/state", get(admin::state))
        .route(
            "/__sim/faults",
            get(admin::get_faults).put(admin::put_faults),
        )
        .route("/__sim/tokens/expire", post(admin::expire_tokens))
        .route("/__sim/changes", post(admin::apply_changes))
        .route("/__sim/activities", get(admin::activities))
        .route("/__sim/audit", get(admin::get_audit).put(admin::put_audit));
    admin.merge(v1).with_state(app)
}

/// The auth host: the token endpoint (latency faults only).
pub fn auth_router(app: AppState) -> Router {
    Router::new()
        .route("/{env}/as/token", post(crate::auth::token))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .layer(from_fn_with_state(app.clone(), delay_only))
        .layer(from_fn_with_state(app.clone(), account))
        .with_state(app)
}
