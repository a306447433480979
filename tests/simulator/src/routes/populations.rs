//! `/environments/{env}/populations`: list (filter `id eq`, `name eq|sw`),
//! read, create, replace, delete (§3.5, checklist item 23). Every
//! representation carries `userCount` and `default`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::{JSON, body_object, fresh_read, fresh_write, hal, hal_bytes, no_content, not_found};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::errors::ApiResult;
use crate::filter::{self, AttrVal, Target};
use crate::model::{Population, Pos};
use crate::paging::{PageReq, Params, parse_filter, write_values};
use crate::store::Store;

struct PopView<'a>(&'a Population);

impl Target for PopView<'_> {
    fn attr(&self, path: &str) -> Option<AttrVal<'_>> {
        match path {
            "id" => Some(AttrVal::Str(&self.0.id)),
            "name" => Some(AttrVal::Str(&self.0.name)),
            _ => None,
        }
    }

    fn member_of(&self, _group_id: &str) -> bool {
        false
    }
}

fn pop_pos(st: &Store, id: &str) -> ApiResult<Pos> {
    st.pop_pos(id).ok_or_else(|| not_found("population", id))
}

/// `GET /populations`.
pub async fn list(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let expr = parse_filter(&params, &filter::POPULATIONS)?;
    let filter_text = params.get("filter").unwrap_or("");
    let page = PageReq::new(
        &app,
        &uri,
        &params,
        app.config.other_page_max,
        &["populations", filter_text],
    )?;
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let items: Vec<Pos> = st
        .live_pops()
        .filter(|(_, p)| expr.as_ref().is_none_or(|e| e.matches(&PopView(p))))
        .map(|(p, _)| p)
        .collect();
    let w = page.window(&items, |p| *p);
    let docs: Vec<Value> = items[w.from..w.to]
        .iter()
        .filter_map(|p| st.pop(*p).map(|pp| st.population_json(pp, true)))
        .collect();
    let body = page.envelope("populations", &w, items.len(), 0, |out| {
        write_values(out, docs.iter())
    });
    Ok(hal_bytes(StatusCode::OK, body))
}

/// `GET /populations/{id}`.
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let pp = pop_pos(&st, &id)?;
    fresh_read(&app, &st, &id)?;
    Ok(hal(
        StatusCode::OK,
        &st.population_json(st.pop(pp).expect("live"), true),
    ))
}

/// `POST /populations`.
pub async fn create(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = app.store.write().unwrap_or_else(|e| e.into_inner());
    let pp = st.create_population(&obj)?;
    Ok(hal(
        StatusCode::CREATED,
        &st.population_json(st.pop(pp).expect("created"), true),
    ))
}

/// `PUT /populations/{id}`.
pub async fn replace(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = app.store.write().unwrap_or_else(|e| e.into_inner());
    let pp = pop_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.replace_population(pp, &obj)?;
    Ok(hal(
        StatusCode::OK,
        &st.population_json(st.pop(pp).expect("live"), true),
    ))
}

/// `DELETE /populations/{id}`.
pub async fn delete(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut st = app.store.write().unwrap_or_else(|e| e.into_inner());
    let pp = pop_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.delete_population(pp)?;
    Ok(no_content())
}
