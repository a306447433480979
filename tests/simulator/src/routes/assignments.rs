//! Role assignments of users and of groups (§3.6, checklist item 24):
//! list (`expand=role`), create, read, delete. The rules (scope type must
//! be in the role's `applicableTo`, no duplicate at the same or a broader
//! scope, read-only assignments cannot be deleted) live in `ops.rs`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::{
    JSON, body_object, fresh_read, fresh_write, hal, no_content, not_found, store_for_write,
};
use crate::AppState;
use crate::accounting::FaultKind;
use crate::auth::EnvCtx;
use crate::errors::ApiResult;
use crate::errors::{ApiError, Detail};
use crate::listing::{ListSpec, Listing};
use crate::model::Subject;
use crate::paging::Params;
use crate::store::Store;

#[derive(Clone, Copy)]
enum Kind {
    User,
    Group,
}

fn subject(st: &Store, kind: Kind, id: &str) -> ApiResult<Subject> {
    match kind {
        Kind::User => st
            .user_pos(id)
            .map(Subject::User)
            .ok_or_else(|| not_found("user", id)),
        Kind::Group => st
            .group_pos(id)
            .map(Subject::Group)
            .ok_or_else(|| not_found("group", id)),
    }
}

async fn list(app: AppState, kind: Kind, id: String, uri: Uri) -> ApiResult<Response> {
    let tag = match kind {
        Kind::User => "userRoleAssignments",
        Kind::Group => "groupRoleAssignments",
    };
    let list = Listing::parse(
        &app,
        &uri,
        ListSpec::plain(tag, app.config.other_page_max).under(&id),
    )?;
    let expand = list.lists("expand", "role");
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let s = subject(&st, kind, &id)?;
    fresh_read(&app, &st, &id)?;
    let idx: Vec<u32> = st.assignments_of(s).into_iter().map(|i| i as u32).collect();
    Ok(list.respond(
        "roleAssignments",
        &idx,
        |i| *i,
        |i| {
            st.assignments[*i as usize]
                .as_ref()
                .map(|a| st.assignment_json(a, expand))
        },
    ))
}

async fn create(
    app: AppState,
    ctx: EnvCtx,
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (obj, _) = body_object(&headers, &body, JSON)?;
    let mut st = store_for_write(&app, &ctx);
    let s = subject(&st, kind, &id)?;
    fresh_write(&app, &st, &[&id])?;
    own_role_window(&app)?;
    let idx = st.create_assignment(s, &obj)?;
    let a = st.assignments[idx].as_ref().expect("created");
    Ok(hal(StatusCode::CREATED, &st.assignment_json(a, false)))
}

/// While the actor's own role propagates (§7 quirk 2), PingOne refuses to
/// let it assign roles with the documented role-scope refusal (§6.2).
fn own_role_window(app: &AppState) -> ApiResult<()> {
    if app.faults.in_own_role_window() {
        app.stats.fault(FaultKind::Consistency);
        return Err(ApiError::invalid_detail(Detail::new(
            "INVALID_VALUE",
            Some("scope"),
            "Must have role at the same or broader scope",
        )));
    }
    Ok(())
}

/// Right after a grant, PingOne answers 403 "not authorized" until the
/// role has propagated (§7 quirk 2); modelled with the consistency window.
fn post_grant_window(app: &AppState, st: &Store, ra: &str) -> ApiResult<()> {
    if st.is_fresh(ra, app.faults.get().consistency_window_ms) {
        app.stats.fault(FaultKind::Consistency);
        return Err(ApiError::forbidden("a role assignment still propagating"));
    }
    Ok(())
}

fn find(st: &Store, s: Subject, ra: &str) -> ApiResult<usize> {
    st.ra_by_id
        .get(ra)
        .copied()
        .filter(|i| st.assignments[*i].as_ref().is_some_and(|a| a.subject == s))
        .ok_or_else(|| not_found("role assignment", ra))
}

async fn read(app: AppState, kind: Kind, id: String, ra: String, uri: Uri) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let st = app.store.read().unwrap_or_else(|e| e.into_inner());
    let s = subject(&st, kind, &id)?;
    let i = find(&st, s, &ra)?;
    post_grant_window(&app, &st, &ra)?;
    let a = st.assignments[i].as_ref().expect("live");
    Ok(hal(
        StatusCode::OK,
        &st.assignment_json(a, params.lists("expand", "role")),
    ))
}

async fn delete(
    app: AppState,
    ctx: EnvCtx,
    kind: Kind,
    id: String,
    ra: String,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let s = subject(&st, kind, &id)?;
    let i = find(&st, s, &ra)?;
    post_grant_window(&app, &st, &ra)?;
    st.delete_assignment(i)?;
    Ok(no_content())
}

pub async fn list_user(
    State(app): State<AppState>,
    _c: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    list(app, Kind::User, id, uri).await
}

pub async fn list_group(
    State(app): State<AppState>,
    _c: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    list(app, Kind::Group, id, uri).await
}

pub async fn create_user(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    create(app, ctx, Kind::User, id, headers, body).await
}

pub async fn create_group(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    create(app, ctx, Kind::Group, id, headers, body).await
}

pub async fn get_user(
    State(app): State<AppState>,
    _c: EnvCtx,
    Path((_, id, ra)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    read(app, Kind::User, id, ra, uri).await
}

pub async fn get_group(
    State(app): State<AppState>,
    _c: EnvCtx,
    Path((_, id, ra)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    read(app, Kind::Group, id, ra, uri).await
}

pub async fn delete_user(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id, ra)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    delete(app, ctx, Kind::User, id, ra).await
}

pub async fn delete_group(
    State(app): State<AppState>,
    ctx: EnvCtx,
    Path((_, id, ra)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    delete(app, ctx, Kind::Group, id, ra).await
}
