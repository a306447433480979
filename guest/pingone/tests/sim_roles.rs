//! Roles against the simulator: a revoke finds its assignment on any page
//! of the principal's assignments, not only the first.

mod common;

use common::{CallHost, Transport, sim_config};
use connector_sdk::{
    Config, Connector, Context, EntitlementRef, GrantRef, GrantResult, RevokeResult, resource_id,
};
use pingone_connector::PingOne;
use pingone_sim::SimConfig;
use serde_json::Value;

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn ent(id: &str, slug: &str) -> EntitlementRef {
    EntitlementRef {
        id: format!("role:{id}:{slug}"),
        resource: resource_id("role", id),
        slug: slug.into(),
        metadata_json: None,
    }
}

/// With one assignment per page, a user holding three roles has them on
/// three pages: each revoke must find its own and delete it.
#[test]
fn revoke_finds_assignments_on_later_pages() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let config = SimConfig {
        other_page_max: 1,
        ..SimConfig::small(21)
    };
    let h = rt
        .block_on(pingone_sim::start(config, Default::default()))
        .unwrap();
    let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
    let config = Config::new(sim_config(
        h.api_base_url(),
        h.auth_base_url(),
        h.environment_id(),
        h.client_id(),
    ));
    let host = CallHost::new(&transport);
    let cx = Context {
        host: &host,
        config: &config,
    };
    let t = h.ground_truth();
    let role = |name: &str| {
        t.roles
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| s(r, "id"))
            .unwrap()
    };
    let roles = [
        role("Identity Data Read Only"),
        role("Help Desk Admin"),
        role("Configuration Read Only"),
    ];
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| !t.role_assignments.iter().any(|a| &a.subject_id == u))
        .unwrap();
    let user = resource_id("user", &u);
    for r in &roles {
        assert_eq!(
            PingOne::grant(&cx, ent(r, "assigned"), user.clone()).unwrap(),
            GrantResult::Granted
        );
    }
    let held = |t: &pingone_sim::GroundTruth| {
        t.role_assignments
            .iter()
            .filter(|a| a.subject_id == u)
            .count()
    };
    assert_eq!(held(&h.ground_truth()), 3);
    // Revoke in reverse order of creation: the first two revokes look for
    // an assignment that is not on the first page.
    for r in roles.iter().rev() {
        let g = GrantRef {
            id: format!("role:{r}:assigned:user:{u}"),
            entitlement: ent(r, "assigned"),
            principal: user.clone(),
            metadata_json: None,
            immutable_reason: None,
        };
        assert_eq!(
            PingOne::revoke(&cx, g.clone()).unwrap(),
            RevokeResult::Revoked,
            "{r}"
        );
        assert_eq!(
            PingOne::revoke(&cx, g).unwrap(),
            RevokeResult::AlreadyRevoked
        );
    }
    assert_eq!(held(&h.ground_truth()), 0);
    rt.block_on(h.shutdown());
}
