//! `/environments/{env}/users` and its per-user sub-resources: list/search
//! (the hot path), create, read with `include=`, PUT, PATCH, DELETE,
//! `/enabled`, `/population`, and account lock/unlock via custom media types
//! (§3.1, checklist items 5–16, 20).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    JSON, body_id, body_object, fresh_read, fresh_write, hal, no_content, store_for_write, user_pos,
};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::errors::{ApiError, ApiResult, Detail};
use crate::filter;
use crate::listing::Params;
use crate::listing::{ListSpec, Listing};
use crate::store::Store;

const IMPORT: &str = "application/vnd.pingidentity.user.import+json";
const LOCK: &str = "application/vnd.pingidentity.account.lock+json";
const UNLOCK: &str = "application/vnd.pingidentity.account.unlock+json";

/// `GET /users` (items 5–8, 20).
pub async fn list(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let refuse_user_filters = app.faults.get().refuse_user_filters;
    let (list, ()) = Listing::parse_vetted(
        &app,
        &uri,
        ListSpec::filtered("users", &filter::USERS, app.config.users_page_max),
        |expr| {
            if refuse_user_filters && expr.is_some_and(|e| !e.uses_member_of()) {
                return Err(Detail::new(
                    "INVALID_FILTER",
                    Some("filter"),
                    "The filter is not supported for this resource.",
                )
                .into());
            }
            Ok(())
        },
    )?;
    let st = app.read();
    let items = match &list.filter {
        None => st.all_users(),
        Some(e) => st.filter_users(list.params.get("filter").unwrap_or(""), e),
    };
    if list.params.lists("expand", "population") {
        return Ok(list.respond(
            "users",
            &items,
            |p| *p,
            |p| {
                let u = st.user(*p)?;
                let mut v = st.user_list_json(u);
                if let Some(pop) = st.pop(u.population) {
                    v.insert(
                        "_embedded".into(),
                        json!({ "population": st.population_json(pop, true) }),
                    );
                }
                Some(Value::Object(v))
            },
        ));
    }
    // The hot path: cached bytes.
    Ok(list.respond_bytes(
        "users",
        &items,
        |p| *p,
        |p| st.user(*p).map(|u| st.user_bytes(u)),
    ))
}

/// `POST /users` (items 9–11).
pub async fn create(
    State(app): State<AppState>,
    ctx: EnvCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, mt) = body_object(&headers, &body, &["application/json", IMPORT])?;
    let f = app.faults.get();
    let mut st = store_for_write(&app, &ctx);
    let pos = st.create_user(&obj, mt == IMPORT, &f)?;
    Ok(hal(
        StatusCode::CREATED,
        &st.user_single_json(pos, false, false),
    ))
}

/// `GET /users/{id}` (item 12).
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let st = app.read();
    let pos = user_pos(&st, &id)?;
    fresh_read(&app, &st, &id)?;
    let ids = params.lists("include", "memberOfGroupIDs");
    let names = params.lists("include", "memberOfGroupNames");
    Ok(hal(StatusCode::OK, &st.user_single_json(pos, ids, names)))
}

/// `PUT /users/{id}` (replace) and `PATCH /users/{id}` (merge), item 13.
pub async fn write_profile(
    State(app): State<AppState>,
    ctx: EnvCtx,
    method: Method,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let f = app.faults.get();
    let mut st = store_for_write(&app, &ctx);
    let pos = user_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    if method == Method::PATCH {
        st.patch_user(pos, &obj, &f)?;
    } else {
        st.replace_user(pos, &obj, &f)?;
    }
    Ok(hal(StatusCode::OK, &st.user_single_json(pos, false, false)))
}

/// `DELETE /users/{id}` (item 16).
pub async fn delete(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let pos = user_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.delete_user(pos);
    Ok(no_content())
}

/// `POST /users/{id}` with the account lock/unlock media types.
pub async fn account(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mt = super::media_type(&headers);
    let lock = match mt.as_str() {
        LOCK => true,
        UNLOCK => false,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    let mut st = store_for_write(&app, &ctx);
    let pos = user_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.set_locked(pos, lock);
    Ok(hal(StatusCode::OK, &st.user_single_json(pos, false, false)))
}

fn enabled_json(st: &Store, id: &str, enabled: bool) -> Value {
    let user = format!("{}/users/{id}", st.env_url());
    json!({
        "_links": { "self": { "href": format!("{user}/enabled") }, "user": { "href": user } },
        "enabled": enabled
    })
}

/// `GET /users/{id}/enabled`.
pub async fn get_enabled(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.read();
    let pos = user_pos(&st, &id)?;
    fresh_read(&app, &st, &id)?;
    Ok(hal(
        StatusCode::OK,
        &enabled_json(&st, &id, st.user(pos).expect("live").enabled),
    ))
}

/// `PUT /users/{id}/enabled` (item 14).
pub async fn set_enabled(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let enabled = match obj.get("enabled") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => {
            return Err(Detail::required("enabled").into());
        }
        Some(_) => {
            return Err(Detail::invalid_value("enabled", "must be a boolean").into());
        }
    };
    let mut st = store_for_write(&app, &ctx);
    let pos = user_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.set_enabled(pos, enabled);
    Ok(hal(StatusCode::OK, &enabled_json(&st, &id, enabled)))
}

fn population_json(st: &Store, user_id: &str, pop_id: &str) -> Value {
    let user = format!("{}/users/{user_id}", st.env_url());
    json!({
        "_links": {
            "self": { "href": format!("{user}/population") },
            "user": { "href": user },
            "population": { "href": format!("{}/populations/{pop_id}", st.env_url()) }
        },
        "id": pop_id
    })
}

/// `GET /users/{id}/population`.
pub async fn get_population(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.read();
    let pos = user_pos(&st, &id)?;
    fresh_read(&app, &st, &id)?;
    let pop = st
        .pop(st.user(pos).expect("live").population)
        .map(|p| p.id.clone())
        .unwrap_or_default();
    Ok(hal(StatusCode::OK, &population_json(&st, &id, &pop)))
}

/// `PUT /users/{id}/population` (item 15).
pub async fn set_population(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let pop_id = body_id(&obj)?;
    let mut st = store_for_write(&app, &ctx);
    let pos = user_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id, &pop_id])?;
    st.move_user(pos, &pop_id)?;
    Ok(hal(StatusCode::OK, &population_json(&st, &id, &pop_id)))
}
