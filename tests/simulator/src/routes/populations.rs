//! `/environments/{env}/populations`: list (filter `id eq`, `name eq|sw`),
//! read, create, replace, delete (§3.5, checklist item 23). Every
//! representation carries `userCount` and `default`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::{
    JSON, body_object, fresh_read, fresh_write, hal, no_content, pop_pos, store_for_write,
};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::errors::ApiResult;
use crate::filter::{self, AttrVal, Target};
use crate::listing::{ListSpec, Listing};
use crate::model::{Population, Pos};

struct PopView<'a>(&'a Population);

impl Target for PopView<'_> {
    fn attr(&self, path: &str) -> Option<AttrVal<'_>> {
        match path {
            "id" => Some(AttrVal::Str(&self.0.id)),
            "name" => Some(AttrVal::Str(&self.0.name)),
            _ => None,
        }
    }
}

/// `GET /populations`.
pub async fn list(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let list = Listing::parse(
        &app,
        &uri,
        ListSpec::filtered(
            "populations",
            &filter::POPULATIONS,
            app.config.other_page_max,
        ),
    )?;
    let st = app.read();
    let items: Vec<Pos> = st
        .live_pops()
        .filter(|(_, p)| list.filter.as_ref().is_none_or(|e| e.matches(&PopView(p))))
        .map(|(p, _)| p)
        .collect();
    Ok(list.respond(
        "populations",
        &items,
        |p| *p,
        |p| st.pop(*p).map(|pp| st.population_json(pp, true)),
    ))
}

/// `GET /populations/{id}`.
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = app.read();
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
    ctx: EnvCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = store_for_write(&app, &ctx);
    let pp = st.create_population(&obj)?;
    Ok(hal(
        StatusCode::CREATED,
        &st.population_json(st.pop(pp).expect("created"), true),
    ))
}

/// `PUT /populations/{id}`.
pub async fn replace(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = store_for_write(&app, &ctx);
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
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let pp = pop_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.delete_population(pp)?;
    Ok(no_content())
}
