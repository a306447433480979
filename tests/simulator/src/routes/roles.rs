//! Roles (§3.6, checklist item 24): built-in roles live at organization
//! level (`GET /v1/roles`, no environment in the path); an environment's
//! roles (`GET /v1/environments/{env}/roles`) list the platform roles
//! (`type: PLATFORM`) and its custom ones (`type: CUSTOM`), filterable with
//! `type eq "CUSTOM"`.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::{hal, hal_bytes, not_found};
use crate::AppState;
use crate::auth::{Authed, EnvCtx};
use crate::errors::ApiResult;
use crate::filter;
use crate::paging::{PageReq, Params, parse_filter, write_values};

/// `GET /v1/roles`.
pub async fn list_builtin(
    State(app): State<AppState>,
    _a: Authed,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let page = PageReq::new(&app, &uri, &params, app.config.other_page_max, &["roles"])?;
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let idx: Vec<u32> = (0..st.roles.len() as u32)
        .filter(|i| !st.roles[*i as usize].custom)
        .collect();
    let w = page.window(&idx, |i| *i);
    let docs: Vec<Value> = idx[w.from..w.to]
        .iter()
        .map(|i| st.role_json(&st.roles[*i as usize], false))
        .collect();
    let body = page.envelope("roles", &w, idx.len(), 0, |out| {
        write_values(out, docs.iter())
    });
    Ok(hal_bytes(StatusCode::OK, body))
}

/// `GET /v1/roles/{roleId}`.
pub async fn get_builtin(
    State(app): State<AppState>,
    _a: Authed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    match st.role_index(&id).filter(|i| !st.roles[*i].custom) {
        Some(i) => Ok(hal(StatusCode::OK, &st.role_json(&st.roles[i], false))),
        None => Err(not_found("role", &id)),
    }
}

/// `GET /v1/environments/{env}/roles`.
pub async fn list_env(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let expr = parse_filter(&params, &filter::ROLES)?;
    let want = expr
        .as_ref()
        .and_then(|e| e.simple_eq("type"))
        .map(str::to_ascii_uppercase);
    let filter_text = params.get("filter").unwrap_or("");
    let page = PageReq::new(
        &app,
        &uri,
        &params,
        app.config.other_page_max,
        &["envRoles", filter_text],
    )?;
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let idx: Vec<u32> = (0..st.roles.len() as u32)
        .filter(|i| {
            let custom = st.roles[*i as usize].custom;
            match want.as_deref() {
                Some("CUSTOM") => custom,
                Some("PLATFORM") => !custom,
                Some(_) => false,
                None => true,
            }
        })
        .collect();
    let w = page.window(&idx, |i| *i);
    let docs: Vec<Value> = idx[w.from..w.to]
        .iter()
        .map(|i| st.role_json(&st.roles[*i as usize], true))
        .collect();
    let body = page.envelope("roles", &w, idx.len(), 0, |out| {
        write_values(out, docs.iter())
    });
    Ok(hal_bytes(StatusCode::OK, body))
}

/// `GET /v1/environments/{env}/roles/{roleId}` (custom roles).
pub async fn get_env(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    match st.role_index(&id) {
        Some(i) => Ok(hal(StatusCode::OK, &st.role_json(&st.roles[i], true))),
        None => Err(not_found("role", &id)),
    }
}
