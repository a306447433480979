//! Populations: `population` resources (GROUP trait) and their `member`
//! entitlement.
//!
//! Decision: a population's members are exactly the users whose
//! `population.id` names it, which the users listing already returns. So the
//! grants `population:<id>:member` → `user:<id>` are emitted by the users'
//! follow-up tasks at no request cost. The listing puts each population with
//! its `member` entitlement and tells the host to ask no per-population
//! task (contract 0.1.2); the per-population `list-grants` task, which
//! only a single read leaves to the host, lists the population's users
//! ([`crate::resources::get`]). The grants are immutable: a user is in exactly one
//! population and leaves it only by being moved to another.

use connector_sdk::{
    ConnectorError, Context, Entitlement, GroupTrait, PageOutcome, Resource, ResourceId,
    ResourceTrait, SkipTasks,
};
use serde_json::json;

use crate::client::api::Api;
use crate::client::model::Population;
use crate::client::paging::{Page, next_page, parse_page};
use crate::resources::{finish, member, named_resource};
use crate::tokens::Work;
use crate::upload::Out;
use crate::{POPULATION, USER};

pub fn list(cx: &Context, api: &Api, token: Option<Work>) -> Result<PageOutcome, ConnectorError> {
    let (url, empty) = match token {
        None => (api.populations(), 0),
        Some(Work::PopulationsPage { next, empty }) => (next, empty),
        Some(other) => return Err(crate::wrong_token("list populations", &other)),
    };
    let what = "listing populations (GET /populations)";
    let resp = api.get(&url, what)?;
    let page: Page<Population> = parse_page(&resp, "populations", what)?;
    // The member entitlement goes with each population, and its grants come
    // from the users' tasks: the host asks neither task per population.
    let mut out = Out::new();
    out.skip = SkipTasks::BOTH;
    for p in &page.items {
        let r = population_resource(p);
        let e = member_entitlement(&r.id);
        out.listed(r, [e]);
    }
    let next = next_page(api, &url, &page, empty, what)?
        .map(|(next, empty)| Work::PopulationsPage { next, empty }.encode());
    finish(cx, out, next, Vec::new())
}

pub fn population_resource(p: &Population) -> Resource {
    let profile = json!({
        "populationId": p.id,
        "default": p.default.unwrap_or(false),
    });
    named_resource(
        POPULATION,
        &p.id,
        &p.name,
        &p.description,
        p.created_at.as_deref(),
        ResourceTrait::Group(GroupTrait {
            profile_json: Some(profile.to_string()),
        }),
    )
}

pub fn member_entitlement(population: &ResourceId) -> Entitlement {
    member(population, "Users whose population this is", &[USER], true)
}

/// Granting or revoking a population: every user is in exactly one.
pub fn not_provisionable() -> ConnectorError {
    ConnectorError::Unsupported(
        "population membership is not provisionable: every user is in exactly one \
         population; move the user to another population in PingOne instead"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{host, ok, page, run, task, urls};
    use connector_sdk::SyncOp;

    #[test]
    fn lists_populations_and_declares_their_member_entitlement() {
        let a = urls();
        let h = host(vec![(
            a.populations(),
            ok(page(
                "populations",
                json!([
                    {"id": "p1", "name": "Employees", "default": true, "userCount": 12, "createdAt": "2022-05-01T10:00:00.000Z"}
                ]),
                None,
            )),
        )]);
        let out = run(&h, task(SyncOp::ListResources, POPULATION, None, None)).unwrap();
        assert!(out.next_page_token.is_none());
        let r = &h.resources.borrow()[0];
        assert_eq!(r.display_name, "Employees");
        let Some(ResourceTrait::Group(t)) = &r.trait_ else {
            panic!()
        };
        assert_eq!(
            t.profile_json.as_deref(),
            Some(r#"{"default":true,"populationId":"p1"}"#)
        );
        // The member entitlement goes with the population, and the host is
        // told to ask no per-population task.
        let e = &h.entitlements.borrow()[0];
        assert_eq!(
            (e.resource.resource.as_str(), e.slug.as_str(), e.immutable),
            ("p1", "member", true)
        );
        assert_eq!(e.grantable_to, [USER]);
        assert_eq!(
            *h.skipped.borrow(),
            [(vec!["population:p1".to_string()], SkipTasks::BOTH)]
        );
        // The per-population task (asked only after a single read) lists
        // the population's users; a listing's come from the users' tasks.
        let p = crate::testutil::P1;
        let a = urls();
        let h = host(vec![(
            a.users_filtered(&format!("population.id eq \"{p}\"")),
            ok(json!({"_embedded": {"users": [{"id": "u1"}, {"id": "u2"}]}})),
        )]);
        let out = run(&h, task(SyncOp::ListGrants, POPULATION, Some(p), None)).unwrap();
        assert!(out.next_page_token.is_none());
        assert_eq!(
            crate::testutil::grant_ids(&h),
            [
                format!("population:{p}:member:user:u1"),
                format!("population:{p}:member:user:u2")
            ]
        );
    }
}
