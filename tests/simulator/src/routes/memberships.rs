//! Group membership per user (`/users/{id}/memberOfGroups`, items 17–19)
//! and group nesting (`/groups/{child}/memberOfGroups`, item 22).
//!
//! Following the docs (not Terraform's wording): the URL names the group
//! being nested, the body's `id` the group that will contain it, and
//! `GET /groups/{id}/memberOfGroups` lists the groups that contain it.
//! A user's list has DIRECT rows and INDIRECT ones (from nesting and from
//! dynamic `userFilter` groups); only DIRECT rows can be removed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::{
    JSON, body_id, body_object, fresh_read, fresh_write, group_pos, hal, no_content, not_found,
    store_for_write, user_pos,
};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::errors::ApiResult;
use crate::filter;
use crate::listing::Params;
use crate::listing::{ListSpec, Listing};
use crate::model::Pos;
use crate::store::Store;

fn membership_links(st: &Store, uid: &str, gid: &str) -> Value {
    let env = st.env_url();
    json!({
        "self": { "href": format!("{env}/users/{uid}/memberOfGroups/{gid}") },
        "user": { "href": format!("{env}/users/{uid}") },
        "environment": { "href": env },
        "group": { "href": format!("{env}/groups/{gid}") },
    })
}

fn membership_doc(st: &Store, uid: &str, gp: Pos, direct: bool, expand: bool) -> Value {
    let g = st.group(gp).expect("live group");
    let mut v = st.membership_json(gp, g, direct, expand, None);
    v["_links"] = membership_links(st, uid, &g.id);
    v
}

/// `GET /users/{id}/memberOfGroups` (item 18).
pub async fn list_user_groups(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, uid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let (list, want) = Listing::parse_vetted(
        &app,
        &uri,
        ListSpec::filtered("userGroups", &filter::TYPE_ONLY, app.config.other_page_max).under(&uid),
        |expr| {
            Ok(expr
                .and_then(|e| e.simple_eq("type"))
                .map(|t| t.to_ascii_uppercase()))
        },
    )?;
    let expand = list.params.lists("expand", "group");
    let st = app.read();
    let u = user_pos(&st, &uid)?;
    fresh_read(&app, &st, &uid)?;
    let rows: Vec<(Pos, bool)> = st
        .user_groups(u)
        .into_iter()
        .filter(|(_, direct)| match want.as_deref() {
            Some("DIRECT") => *direct,
            Some("INDIRECT") => !*direct,
            Some(_) => false,
            None => true,
        })
        .collect();
    let env = st.env_url();
    Ok(list.respond(
        "groupMemberships",
        &rows,
        |r| r.0,
        |(gp, direct)| {
            let g = st.group(*gp)?;
            let href = format!("{env}/users/{uid}/memberOfGroups/{}", g.id);
            Some(st.membership_json(*gp, g, *direct, expand, Some(href)))
        },
    ))
}

/// `POST /users/{id}/memberOfGroups` (item 17).
pub async fn add_user_group(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, uid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let gid = body_id(&obj)?;
    let mode = app.faults.get().duplicate_membership;
    let mut st = store_for_write(&app, &ctx);
    let u = user_pos(&st, &uid)?;
    let g = group_pos(&st, &gid)?;
    fresh_write(&app, &st, &[&uid, &gid])?;
    st.add_membership(u, g, mode)?;
    Ok(hal(
        StatusCode::CREATED,
        &membership_doc(&st, &uid, g, true, false),
    ))
}

/// `GET /users/{id}/memberOfGroups/{groupId}`.
pub async fn get_user_group(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, uid, gid)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let st = app.read();
    let u = user_pos(&st, &uid)?;
    fresh_read(&app, &st, &uid)?;
    let g = group_pos(&st, &gid)?;
    let row = st.user_groups(u).into_iter().find(|(gp, _)| *gp == g);
    match row {
        Some((gp, direct)) => Ok(hal(
            StatusCode::OK,
            &membership_doc(&st, &uid, gp, direct, params.lists("expand", "group")),
        )),
        None => Err(not_found("group membership", &gid)),
    }
}

/// `DELETE /users/{id}/memberOfGroups/{groupId}` (item 19).
pub async fn remove_user_group(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, uid, gid)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let u = user_pos(&st, &uid)?;
    let g = group_pos(&st, &gid)?;
    fresh_write(&app, &st, &[&uid, &gid])?;
    if st.remove_membership(u, g) {
        Ok(no_content())
    } else {
        Err(not_found("group membership", &gid))
    }
}

fn nesting_doc(st: &Store, child: &str, parent: &str) -> Value {
    let env = st.env_url();
    json!({
        "_links": {
            "self": { "href": format!("{env}/groups/{child}/memberOfGroups/{parent}") },
            "group": { "href": format!("{env}/groups/{parent}") },
            "environment": { "href": env },
        },
        "id": parent,
        "type": "DIRECT",
    })
}

/// `GET /groups/{id}/memberOfGroups`: the groups that contain this one.
pub async fn list_group_parents(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, gid)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let list = Listing::parse(
        &app,
        &uri,
        ListSpec::plain("groupParents", app.config.other_page_max).under(&gid),
    )?;
    let expand = list.params.lists("expand", "group");
    let st = app.read();
    let g = group_pos(&st, &gid)?;
    fresh_read(&app, &st, &gid)?;
    let mut parents = st.group(g).expect("live").parents.clone();
    parents.sort_unstable();
    let env = st.env_url();
    Ok(list.respond(
        "groupMemberships",
        &parents,
        |p| *p,
        |p| {
            let pg = st.group(*p)?;
            let href = format!("{env}/groups/{gid}/memberOfGroups/{}", pg.id);
            Some(st.membership_json(*p, pg, true, expand, Some(href)))
        },
    ))
}

/// `POST /groups/{child}/memberOfGroups` `{"id": parent}` (item 22).
pub async fn add_group_parent(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, child)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let parent = body_id(&obj)?;
    let mode = app.faults.get().duplicate_membership;
    let mut st = store_for_write(&app, &ctx);
    let c = group_pos(&st, &child)?;
    let p = group_pos(&st, &parent)?;
    fresh_write(&app, &st, &[&child, &parent])?;
    st.nest(c, p, mode)?;
    Ok(hal(StatusCode::CREATED, &nesting_doc(&st, &child, &parent)))
}

/// `GET /groups/{child}/memberOfGroups/{parent}`.
pub async fn get_group_parent(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    Path((_, child, parent)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let st = app.read();
    let c = group_pos(&st, &child)?;
    fresh_read(&app, &st, &child)?;
    match st.group_pos(&parent) {
        Some(p) if st.group(c).expect("live").parents.contains(&p) => {
            Ok(hal(StatusCode::OK, &nesting_doc(&st, &child, &parent)))
        }
        _ => Err(not_found("group nesting", &parent)),
    }
}

/// `DELETE /groups/{child}/memberOfGroups/{parent}`.
pub async fn remove_group_parent(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, child, parent)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let c = group_pos(&st, &child)?;
    let p = st
        .group_pos(&parent)
        .ok_or_else(|| not_found("group nesting", &parent))?;
    fresh_write(&app, &st, &[&child, &parent])?;
    if st.unnest(c, p) {
        Ok(no_content())
    } else {
        Err(not_found("group nesting", &parent))
    }
}
