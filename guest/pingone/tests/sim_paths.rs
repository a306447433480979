//! Against the simulator: ids that would leave their URL path segment
//! (dot-segments, slashes, their encoded forms) are refused before any
//! request. Without that check, deleting user `../groups/<gid>` would send
//! `DELETE …/groups/<gid>` and delete the group.

mod common;

use common::{CallHost, Transport, sim_config};
use connector_sdk::{
    AccountInfo, Config, Connector, ConnectorError, Context, CredentialOption, EntitlementRef,
    GrantRef, ResourceId, resource_id,
};
use pingone_connector::PingOne;
use pingone_sim::SimConfig;
use serde_json::{Value, json};

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn ent(rt: &str, id: &str, slug: &str) -> EntitlementRef {
    EntitlementRef {
        id: format!("{rt}:{id}:{slug}"),
        resource: resource_id(rt, id),
        slug: slug.into(),
        metadata_json: None,
    }
}

fn grant_ref(e: EntitlementRef, principal: ResourceId) -> GrantRef {
    GrantRef {
        id: "hostile".into(),
        entitlement: e,
        principal,
        metadata_json: None,
        immutable_reason: None,
    }
}

/// Grant, revoke, create and delete with hostile ids send nothing, name the
/// id, and leave the tenant as it was.
#[test]
fn hostile_ids_send_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let h = rt
        .block_on(pingone_sim::start(SimConfig::small(13), Default::default()))
        .unwrap();
    let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
    let config = Config::new(sim_config(
        h.api_base_url(),
        h.auth_base_url(),
        h.environment_id(),
        h.client_id(),
    ));
    let before = h.ground_truth();
    let g = before
        .groups
        .iter()
        .find(|g| g.get("userFilter").is_none())
        .map(|g| s(g, "id"))
        .unwrap();
    let u = s(&before.users[0], "id");
    let role = s(&before.roles[0], "id");
    let hostile = [
        format!("../groups/{g}"),
        format!("{u}/../../groups/{g}"),
        format!("%2e%2e%2fgroups%2f{g}"),
        "..".to_string(),
        format!("{u}?x=1"),
    ];
    let host = CallHost::new(&transport);
    let cx = Context {
        host: &host,
        config: &config,
    };
    let refused = |e: ConnectorError, bad: &str| {
        assert!(
            matches!(&e, ConnectorError::InvalidArgument(m)
                if m.contains(&format!("{bad:?}")) && m.contains("not a PingOne id")),
            "{bad}: {e:?}"
        );
    };
    for bad in &hostile {
        let user = resource_id("user", bad);
        let group = resource_id("group", bad);
        let me = resource_id("user", &u);
        let grants = [
            (ent("group", &g, "member"), user.clone()),
            (ent("group", bad, "member"), me.clone()),
            (ent("group", &g, "member"), group.clone()),
            (ent("role", &role, "assigned"), user.clone()),
            (ent("role", &role, "assigned"), group.clone()),
            (ent("role", bad, "assigned"), me.clone()),
        ];
        for (e, p) in grants {
            refused(PingOne::grant(&cx, e.clone(), p.clone()).unwrap_err(), bad);
            refused(PingOne::revoke(&cx, grant_ref(e, p)).unwrap_err(), bad);
        }
        let pop = ent("role", &role, &format!("assigned:population:{bad}"));
        refused(PingOne::grant(&cx, pop, me.clone()).unwrap_err(), bad);
        refused(
            PingOne::delete_resource(&cx, user.clone()).unwrap_err(),
            bad,
        );
        let info = AccountInfo {
            login: "hostile.population".into(),
            emails: vec!["hostile@example.com".into()],
            profile_json: Some(json!({ "population_id": bad }).to_string()),
        };
        refused(
            PingOne::create_account(&cx, info, CredentialOption::NoPassword).unwrap_err(),
            bad,
        );
    }
    assert_eq!(transport.counters().logical, 0, "no request was sent");
    assert_eq!(h.ground_truth(), before);
    rt.block_on(h.shutdown());
}
