//! Role assignments of users and of groups (§3.6, checklist item 24):
//! list (`expand=role`), create, read, delete. The rules (scope type must
//! be in the role's `applicableTo`, no duplicate at the same or a broader
//! scope, read-only assignments cannot be deleted) live in `ops.rs`.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::{
    JSON, body_object, fresh_read, fresh_write, group_pos, hal, no_content, not_found,
    store_for_write, user_pos,
};
use crate::AppState;
use crate::auth::EnvCtx;
use crate::errors::{ApiError, ApiResult, Detail};
use crate::listing::Params;
use crate::listing::{ListSpec, Listing};
use crate::model::Subject;
use crate::store::Store;

/// Whose assignments a request is about: the path's
/// `/v1/environments/{env}/users|groups/{id}/roleAssignments`.
#[derive(Clone, Copy)]
pub enum Kind {
    User,
    Group,
}

impl<S: Sync> FromRequestParts<S> for Kind {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(match parts.uri.path().split('/').nth(4) {
            Some("groups") => Kind::Group,
            _ => Kind::User,
        })
    }
}

fn subject(st: &Store, kind: Kind, id: &str) -> ApiResult<Subject> {
    match kind {
        Kind::User => user_pos(st, id).map(Subject::User),
        Kind::Group => group_pos(st, id).map(Subject::Group),
    }
}

/// `GET .../roleAssignments`.
pub async fn list(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    kind: Kind,
    Path((_, id)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let tag = match kind {
        Kind::User => "userRoleAssignments",
        Kind::Group => "groupRoleAssignments",
    };
    let list = Listing::parse(
        &app,
        &uri,
        ListSpec::plain(tag, app.config.other_page_max).under(&id),
    )?;
    let expand = list.params.lists("expand", "role");
    let st = app.read();
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

/// `POST .../roleAssignments`.
pub async fn create(
    State(app): State<AppState>,
    ctx: EnvCtx,
    kind: Kind,
    Path((_, id)): Path<(String, String)>,
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
    if app.faults.in_window(|f| f.own_role_propagation_ms) {
        app.stats.fault(|f| &mut f.consistency_rejections);
        return Err(Detail::new(
            "INVALID_VALUE",
            Some("scope"),
            "Must have role at the same or broader scope",
        )
        .into());
    }
    Ok(())
}

/// Right after a grant, PingOne answers 403 "not authorized" until the
/// role has propagated (§7 quirk 2); modelled with the consistency window.
fn post_grant_window(app: &AppState, st: &Store, ra: &str) -> ApiResult<()> {
    if st.is_fresh(ra, app.faults.get().consistency_window_ms) {
        app.stats.fault(|f| &mut f.consistency_rejections);
        return Err(ApiError::forbidden());
    }
    Ok(())
}

/// The subject's assignment `ra`, past the post-grant window.
fn find(app: &AppState, st: &Store, kind: Kind, id: &str, ra: &str) -> ApiResult<usize> {
    let s = subject(st, kind, id)?;
    let i = st
        .ra_by_id
        .get(ra)
        .copied()
        .filter(|i| st.assignments[*i].as_ref().is_some_and(|a| a.subject == s))
        .ok_or_else(|| not_found("role assignment", ra))?;
    post_grant_window(app, st, ra)?;
    Ok(i)
}

/// `GET .../roleAssignments/{roleAssignmentId}`.
pub async fn read(
    State(app): State<AppState>,
    _ctx: EnvCtx,
    kind: Kind,
    Path((_, id, ra)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let st = app.read();
    let i = find(&app, &st, kind, &id, &ra)?;
    let a = st.assignments[i].as_ref().expect("live");
    let expand = Params::from_uri(&uri).lists("expand", "role");
    Ok(hal(StatusCode::OK, &st.assignment_json(a, expand)))
}

/// `DELETE .../roleAssignments/{roleAssignmentId}`.
pub async fn delete(
    State(app): State<AppState>,
    ctx: EnvCtx,
    kind: Kind,
    Path((_, id, ra)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let mut st = store_for_write(&app, &ctx);
    let i = find(&app, &st, kind, &id, &ra)?;
    st.delete_assignment(i)?;
    Ok(no_content())
}
