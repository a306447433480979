//! Roles (§3.6, checklist item 24): built-in roles live at organization
//! level (`GET /v1/roles`, no environment in the path); an environment's
//! roles (`GET /v1/environments/{env}/roles`) list the platform roles
//! (`type: PLATFORM`) and its custom ones (`type: CUSTOM`), filterable with
//! `type eq "CUSTOM"`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::{hal, not_found};
use crate::AppState;
use crate::auth::{Authed, EnvCtx};
use crate::errors::ApiResult;
use crate::filter;
use crate::listing::{ListSpec, Listing};
use crate::model::Role;
use crate::store::Store;

/// The roles `keep` picks, one page of them.
fn role_page(st: &Store, list: &Listing, keep: impl Fn(&Role) -> bool, env: bool) -> Response {
    let idx: Vec<u32> = (0..st.roles.len() as u32)
        .filter(|i| keep(&st.roles[*i as usize]))
        .collect();
    let render = |i: &u32| Some(st.role_json(&st.roles[*i as usize], env));
    list.respond("roles", &idx, |i| *i, render)
}

/// `GET /v1/roles`.
pub async fn list_builtin(
    State(app): State<AppState>,
    _a: Authed,
    uri: Uri,
) -> ApiResult<Response> {
    let spec = ListSpec::plain("roles", app.config.other_page_max);
    let list = Listing::parse(&app, &uri, spec)?;
    Ok(role_page(&app.read(), &list, |r| !r.custom, false))
}

/// `GET /v1/roles/{roleId}`.
pub async fn get_builtin(
    State(app): State<AppState>,
    _a: Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let st = app.read();
    match st.role_index(&id).filter(|i| !st.roles[*i].custom) {
        Some(i) => Ok(hal(StatusCode::OK, &st.role_json(&st.roles[i], false))),
        None => Err(not_found("role", &id)),
    }
}

/// `GET /v1/environments/{env}/roles`.
pub async fn list_env(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let spec = ListSpec::filtered("envRoles", &filter::TYPE_ONLY, app.config.other_page_max);
    let (list, want) = Listing::parse_vetted(&app, &uri, spec, |expr| {
        Ok(expr
            .and_then(|e| e.simple_eq("type"))
            .map(str::to_ascii_uppercase))
    })?;
    let keep = |r: &Role| match want.as_deref() {
        Some("CUSTOM") => r.custom,
        Some("PLATFORM") => !r.custom,
        Some(_) => false,
        None => true,
    };
    Ok(role_page(&app.read(), &list, keep, true))
}

/// `GET /v1/environments/{env}/roles/{roleId}` (custom roles).
pub async fn get_env(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.read();
    match st.role_index(&id) {
        Some(i) => Ok(hal(StatusCode::OK, &st.role_json(&st.roles[i], true))),
        None => Err(not_found("role", &id)),
    }
}
