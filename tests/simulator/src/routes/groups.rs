//! `/environments/{env}/groups`: list (filter on id, name, population.id,
//! externalId), create, read with `include=totalMemberCounts`, replace and
//! delete (§3.3, checklist item 21).
//!
//! The listing and the single read apply the member-count faults
//! (`omit_member_counts`, `zero_member_counts`): a connector must not take
//! `directMemberCounts` as the only evidence of who is a direct member.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::{
    JSON, body_object, fresh_read, fresh_write, group_pos, hal, no_content, store_for_write,
};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::config::Faults;
use crate::errors::ApiResult;
use crate::filter::{self, AttrVal, Target};
use crate::listing::Params;
use crate::listing::{ListSpec, Listing};
use crate::model::{Group, Pos};
use crate::store::Store;

struct GroupView<'a>(&'a Store, &'a Group);

impl Target for GroupView<'_> {
    fn attr(&self, path: &str) -> Option<AttrVal<'_>> {
        match path {
            "id" => Some(AttrVal::Str(&self.1.id)),
            "name" => Some(AttrVal::Str(&self.1.name)),
            "externalId" => self.1.external_id.as_deref().map(AttrVal::Str),
            "population.id" => self
                .1
                .population
                .and_then(|p| self.0.pop(p))
                .map(|p| AttrVal::Str(&p.id)),
            _ => None,
        }
    }
}

/// A group as the faults serve it: without its direct count, or with a
/// count of 0.
fn served(app: &AppState, f: &Faults, g: &Group, mut v: Value) -> Value {
    if f.omit_member_counts {
        if let Some(m) = v.as_object_mut() {
            m.remove("directMemberCounts");
        }
    } else if f.zeroes_member_count(app.config.seed, &g.id) {
        v["directMemberCounts"] = serde_json::json!({ "users": 0 });
    }
    v
}

/// `GET /groups`.
pub async fn list(State(app): State<AppState>, _ctx: EnvCtx, uri: Uri) -> ApiResult<Response> {
    let list = Listing::parse(
        &app,
        &uri,
        ListSpec::filtered("groups", &filter::GROUPS, app.config.other_page_max),
    )?;
    let faults = app.faults.get();
    let st = app.read();
    let items: Vec<Pos> = st
        .live_groups()
        .filter(|(_, g)| {
            list.filter
                .as_ref()
                .is_none_or(|e| e.matches(&GroupView(&st, g)))
        })
        .map(|(p, _)| p)
        .collect();
    Ok(list.respond(
        "groups",
        &items,
        |p| *p,
        |p| {
            st.group(*p)
                .map(|g| served(&app, &faults, g, st.group_json(*p, g, true, false)))
        },
    ))
}

/// `POST /groups`.
pub async fn create(
    State(app): State<AppState>,
    ctx: EnvCtx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = store_for_write(&app, &ctx);
    let gp = st.create_group(&obj)?;
    let g = st.group(gp).expect("created");
    Ok(hal(StatusCode::CREATED, &st.group_json(gp, g, true, false)))
}

/// `GET /groups/{id}` (`include=totalMemberCounts`).
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let st = app.read();
    let gp = group_pos(&st, &id)?;
    fresh_read(&app, &st, &id)?;
    let g = st.group(gp).expect("live");
    let total = params.lists("include", "totalMemberCounts");
    let v = served(
        &app,
        &app.faults.get(),
        g,
        st.group_json(gp, g, true, total),
    );
    Ok(hal(StatusCode::OK, &v))
}

/// `PUT /groups/{id}`.
pub async fn replace(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = store_for_write(&app, &ctx);
    let gp = group_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.replace_group(gp, &obj)?;
    let g = st.group(gp).expect("live");
    Ok(hal(StatusCode::OK, &st.group_json(gp, g, true, false)))
}

/// `DELETE /groups/{id}`.
pub async fn delete(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let gp = group_pos(&st, &id)?;
    fresh_write(&app, &st, &[&id])?;
    st.delete_group(gp);
    Ok(no_content())
}
