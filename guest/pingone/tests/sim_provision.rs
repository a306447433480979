//! Provisioning against the simulator: each operation, its idempotent
//! repeat, and the tenant's state afterwards.

mod common;

use common::{CallHost, Transport, sim_config};
use connector_sdk::{
    AccountInfo, Config, Connector, ConnectorError, Context, CreateAccountResult, CredentialOption,
    DeleteResult, EntitlementRef, GrantRef, GrantResult, ResourceId, RevokeResult, resource_id,
};
use pingone_connector::PingOne;
use pingone_sim::{GroundTruth, SimConfig, SimHandle};
use serde_json::{Value, json};

struct Sim {
    rt: tokio::runtime::Runtime,
    handle: Option<SimHandle>,
    transport: Transport,
    config: Config,
}

impl Sim {
    fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
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
        Sim {
            rt,
            handle: Some(h),
            transport,
            config,
        }
    }

    fn truth(&self) -> GroundTruth {
        self.handle.as_ref().unwrap().ground_truth()
    }

    fn with<T>(&self, f: impl FnOnce(&Context) -> T) -> T {
        let host = CallHost::new(&self.transport);
        f(&Context {
            host: &host,
            config: &self.config,
        })
    }

    fn grant(
        &self,
        rt: &str,
        id: &str,
        slug: &str,
        principal: ResourceId,
    ) -> Result<GrantResult, ConnectorError> {
        let e = EntitlementRef {
            id: format!("{rt}:{id}:{slug}"),
            resource: resource_id(rt, id),
            slug: slug.into(),
            metadata_json: None,
        };
        self.with(|cx| PingOne::grant(cx, e, principal))
    }

    fn revoke(
        &self,
        rt: &str,
        id: &str,
        slug: &str,
        principal: ResourceId,
        immutable: Option<&str>,
    ) -> Result<RevokeResult, ConnectorError> {
        let g = GrantRef {
            id: format!(
                "{rt}:{id}:{slug}:{}:{}",
                principal.resource_type, principal.resource
            ),
            entitlement: EntitlementRef {
                id: format!("{rt}:{id}:{slug}"),
                resource: resource_id(rt, id),
                slug: slug.into(),
                metadata_json: None,
            },
            principal,
            metadata_json: None,
            immutable_reason: immutable.map(String::from),
        };
        self.with(|cx| PingOne::revoke(cx, g))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

#[test]
fn group_membership_and_nesting() {
    let sim = Sim::start(SimConfig::small(11));
    let t = sim.truth();
    // An environment-level static group and a user not directly in it.
    let g = t
        .groups
        .iter()
        .find(|g| g.get("population").is_none() && g.get("userFilter").is_none())
        .map(|g| s(g, "id"))
        .unwrap();
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| {
            !t.memberships
                .iter()
                .any(|m| m.group_id == g && &m.user_id == u)
        })
        .unwrap();
    let user = resource_id("user", &u);
    assert_eq!(
        sim.grant("group", &g, "member", user.clone()).unwrap(),
        GrantResult::Granted
    );
    assert_eq!(
        sim.grant("group", &g, "member", user.clone()).unwrap(),
        GrantResult::AlreadyExists
    );
    assert!(
        sim.truth()
            .memberships
            .iter()
            .any(|m| m.group_id == g && m.user_id == u)
    );
    assert_eq!(
        sim.revoke("group", &g, "member", user.clone(), None)
            .unwrap(),
        RevokeResult::Revoked
    );
    assert_eq!(
        sim.revoke("group", &g, "member", user.clone(), None)
            .unwrap(),
        RevokeResult::AlreadyRevoked
    );
    assert!(
        !sim.truth()
            .memberships
            .iter()
            .any(|m| m.group_id == g && m.user_id == u)
    );

    // Nesting: a group that is in no nesting at all, into `g`.
    let child = t
        .groups
        .iter()
        .map(|x| s(x, "id"))
        .find(|x| {
            *x != g
                && !t
                    .nestings
                    .iter()
                    .any(|n| &n.child_group_id == x || &n.parent_group_id == x)
        })
        .unwrap();
    let c = resource_id("group", &child);
    let before = t.nestings.iter().filter(|n| n.parent_group_id == g).count();
    assert_eq!(
        sim.grant("group", &g, "member", c.clone()).unwrap(),
        GrantResult::Granted
    );
    assert_eq!(
        sim.grant("group", &g, "member", c.clone()).unwrap(),
        GrantResult::AlreadyExists
    );
    assert_eq!(
        sim.truth()
            .nestings
            .iter()
            .filter(|n| n.parent_group_id == g)
            .count(),
        before + 1
    );
    assert_eq!(
        sim.revoke("group", &g, "member", c.clone(), None).unwrap(),
        RevokeResult::Revoked
    );
    assert_eq!(
        sim.revoke("group", &g, "member", c, None).unwrap(),
        RevokeResult::AlreadyRevoked
    );

    // Dynamic members cannot be revoked directly.
    let e = sim
        .revoke(
            "group",
            &g,
            "member",
            user,
            Some("member through the group's dynamic userFilter"),
        )
        .unwrap_err();
    assert!(matches!(e, ConnectorError::InvalidArgument(_)));
}

#[test]
fn scoped_role_assignments() {
    let sim = Sim::start(SimConfig::small(12));
    let t = sim.truth();
    let role = |name: &str| {
        t.roles
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| s(r, "id"))
            .unwrap()
    };
    let (idro, helpdesk) = (role("Identity Data Read Only"), role("Help Desk Admin"));
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| !t.role_assignments.iter().any(|a| &a.subject_id == u))
        .unwrap();
    let pop = s(&t.populations[1], "id");
    let user = resource_id("user", &u);

    assert_eq!(
        sim.grant("role", &idro, "assigned", user.clone()).unwrap(),
        GrantResult::Granted
    );
    assert_eq!(
        sim.grant("role", &idro, "assigned", user.clone()).unwrap(),
        GrantResult::AlreadyExists
    );
    let slug = format!("assigned:population:{pop}");
    assert_eq!(
        sim.grant("role", &helpdesk, &slug, user.clone()).unwrap(),
        GrantResult::Granted
    );
    let held: Vec<(String, String, String)> = sim
        .truth()
        .role_assignments
        .iter()
        .filter(|a| a.subject_id == u)
        .map(|a| {
            (
                a.role_id.clone(),
                a.scope.scope_type.clone(),
                a.scope.id.clone(),
            )
        })
        .collect();
    assert!(
        held.contains(&(idro.clone(), "ENVIRONMENT".into(), t.environment.id.clone())),
        "{held:?}"
    );
    assert!(
        held.contains(&(helpdesk.clone(), "POPULATION".into(), pop.clone())),
        "{held:?}"
    );

    // The organization scope resolves the environment's organization.
    let env_admin = role("Environment Admin");
    assert_eq!(
        sim.grant("role", &env_admin, "assigned:organization", user.clone())
            .unwrap(),
        GrantResult::Granted
    );
    assert!(
        sim.truth()
            .role_assignments
            .iter()
            .any(|a| a.subject_id == u
                && a.role_id == env_admin
                && a.scope.scope_type == "ORGANIZATION"
                && a.scope.id == t.environment.organization_id)
    );
    // Scopes without an id are not grantable.
    let e = sim
        .grant("role", &idro, "assigned:other-environment", user.clone())
        .unwrap_err();
    assert!(matches!(e, ConnectorError::InvalidArgument(_)));

    assert_eq!(
        sim.revoke("role", &idro, "assigned", user.clone(), None)
            .unwrap(),
        RevokeResult::Revoked
    );
    assert_eq!(
        sim.revoke("role", &idro, "assigned", user.clone(), None)
            .unwrap(),
        RevokeResult::AlreadyRevoked
    );
    assert_eq!(
        sim.revoke("role", &helpdesk, &slug, user.clone(), None)
            .unwrap(),
        RevokeResult::Revoked
    );
    assert!(
        !sim.truth()
            .role_assignments
            .iter()
            .any(|a| a.subject_id == u && a.role_id != env_admin)
    );

    // A read-only assignment is refused with the reason.
    let ro = t
        .role_assignments
        .iter()
        .find(|a| a.read_only && a.subject_type == "USER")
        .unwrap();
    let slug = common::expect::scope_slug(&ro.scope.scope_type, &ro.scope.id, &t.environment.id);
    let e = sim
        .revoke(
            "role",
            &ro.role_id,
            &slug,
            resource_id("user", &ro.subject_id),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&e, ConnectorError::InvalidArgument(m) if m.contains("read-only")),
        "{e:?}"
    );

    // Groups get role assignments too.
    let g = s(&t.groups[1], "id");
    let group = resource_id("group", &g);
    assert_eq!(
        sim.grant("role", &idro, "assigned", group.clone()).unwrap(),
        GrantResult::Granted
    );
    assert_eq!(
        sim.revoke("role", &idro, "assigned", group, None).unwrap(),
        RevokeResult::Revoked
    );
}

#[test]
fn accounts_are_created_and_deleted() {
    let sim = Sim::start(SimConfig::tiny(13));
    let t = sim.truth();
    let pop = s(&t.populations[1], "id");
    let info = |login: &str, profile: Value| AccountInfo {
        login: login.into(),
        emails: vec![format!("{login}@example.com")],
        profile_json: Some(profile.to_string()),
    };
    let out = sim
        .with(|cx| {
            PingOne::create_account(
                cx,
                info(
                    "new.person",
                    json!({"given_name": "New", "family_name": "Person", "population_id": pop}),
                ),
                CredentialOption::NoPassword,
            )
        })
        .unwrap();
    assert_eq!(out.status, CreateAccountResult::Created);
    assert!(out.one_time_password.is_none());
    assert_eq!(out.account.display_name, "New Person");
    let id = out.account.id.resource.clone();
    let u = sim
        .truth()
        .users
        .into_iter()
        .find(|u| u["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        (u["email"].as_str(), u["population"]["id"].as_str()),
        (Some("new.person@example.com"), Some(pop.as_str()))
    );

    // The same username again: the existing account.
    let again = sim
        .with(|cx| {
            PingOne::create_account(
                cx,
                info("NEW.PERSON", json!({})),
                CredentialOption::NoPassword,
            )
        })
        .unwrap();
    assert_eq!(
        (again.status, again.account.id.resource.as_str()),
        (CreateAccountResult::AlreadyExists, id.as_str())
    );

    // A random password, created disabled.
    let out = sim
        .with(|cx| {
            PingOne::create_account(
                cx,
                info("temp.worker", json!({"enabled": false})),
                CredentialOption::RandomPassword,
            )
        })
        .unwrap();
    let pw = out.one_time_password.clone().unwrap();
    assert!(
        pw.len() >= 20
            && pw.chars().any(|c| c.is_ascii_digit())
            && pw.chars().any(|c| c.is_ascii_uppercase())
    );
    let temp = out.account.id.resource.clone();
    let u = sim
        .truth()
        .users
        .into_iter()
        .find(|u| u["id"] == temp.as_str())
        .unwrap();
    assert_eq!(u["enabled"], false);

    assert_eq!(
        sim.with(|cx| PingOne::delete_resource(cx, resource_id("user", &temp)))
            .unwrap(),
        DeleteResult::Deleted
    );
    assert_eq!(
        sim.with(|cx| PingOne::delete_resource(cx, resource_id("user", &temp)))
            .unwrap(),
        DeleteResult::AlreadyGone
    );
    assert!(!sim.truth().users.iter().any(|u| u["id"] == temp.as_str()));
    let e = sim
        .with(|cx| PingOne::delete_resource(cx, resource_id("group", "g")))
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Unsupported(_)));
}

/// A user and a static group it is not directly in.
fn outsider(t: &GroundTruth) -> (String, String) {
    let g = t
        .groups
        .iter()
        .find(|g| g.get("population").is_none() && g.get("userFilter").is_none())
        .map(|g| s(g, "id"))
        .unwrap();
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| {
            !t.memberships
                .iter()
                .any(|m| m.group_id == g && &m.user_id == u)
        })
        .unwrap();
    (u, g)
}

const ADD_MEMBER: &str = "POST /v1/environments/{env}/users/{userId}/memberOfGroups";

/// A worker app without Identity Data Admin: PingOne's 403 is final. The
/// write is sent once, fails at once, and the error names the role.
#[test]
fn a_permission_403_on_a_write_fails_at_once_naming_the_role() {
    let mut config = SimConfig::tiny(22);
    config.clients[0].access = pingone_sim::ClientAccess::ReadOnly;
    let sim = Sim::start(config);
    let (u, g) = outsider(&sim.truth());
    let started = std::time::Instant::now();
    let e = sim
        .grant("group", &g, "member", resource_id("user", &u))
        .unwrap_err();
    let ConnectorError::PermissionDenied(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("lacks the Identity Data Admin role"), "{m}");
    assert!(m.contains("ACCESS_FAILED"), "{m}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(200),
        "no waiting: {:?}",
        started.elapsed()
    );
    let stats = sim.handle.as_ref().unwrap().stats();
    assert_eq!(stats.route(ADD_MEMBER), 1, "sent once: {:?}", stats.routes);
    assert!(
        !sim.truth()
            .memberships
            .iter()
            .any(|m| m.group_id == g && m.user_id == u)
    );
}

/// A new environment (DOCS-8830) answers 403 to writes for a few seconds;
/// its `createdAt` says so, and the connector waits the window out. The
/// change is applied exactly once.
#[test]
fn a_new_environment_window_is_waited_out() {
    let mut config = SimConfig::tiny(21);
    config.faults.environment_warmup_ms = 1_200;
    let sim = Sim::start(config);
    let (u, g) = outsider(&sim.truth());
    assert_eq!(
        sim.grant("group", &g, "member", resource_id("user", &u))
            .unwrap(),
        GrantResult::Granted
    );
    let stats = sim.handle.as_ref().unwrap().stats();
    assert!(stats.faults.warmup_rejections > 0, "{:?}", stats.faults);
    assert!(stats.route(ADD_MEMBER) > 1, "{:?}", stats.routes);
    assert_eq!(
        stats.route("GET /v1/environments/{env}"),
        1,
        "the environment's age is read once"
    );
    let held = sim
        .truth()
        .memberships
        .iter()
        .filter(|m| m.user_id == u && m.group_id == g)
        .count();
    assert_eq!(held, 1, "applied exactly once");
}

/// Outside every documented window, a 403 that an older rule took for
/// "eventual consistency" (a write naming a just-created user) is final.
#[test]
fn an_undocumented_window_is_not_waited_out() {
    let mut config = SimConfig::tiny(23);
    config.faults.consistency_window_ms = 5_000;
    let sim = Sim::start(config);
    let (_, g) = outsider(&sim.truth());
    let out = sim
        .with(|cx| {
            PingOne::create_account(
                cx,
                AccountInfo {
                    login: "fresh.user".into(),
                    emails: vec!["fresh.user@example.com".into()],
                    profile_json: None,
                },
                CredentialOption::NoPassword,
            )
        })
        .unwrap();
    let started = std::time::Instant::now();
    let e = sim
        .grant("group", &g, "member", out.account.id.clone())
        .unwrap_err();
    assert!(matches!(e, ConnectorError::PermissionDenied(_)), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    let stats = sim.handle.as_ref().unwrap().stats();
    assert_eq!(stats.route(ADD_MEMBER), 1);
}

/// The actor's own role still propagating (§7 quirk 2): PingOne refuses the
/// role grant with "Must have role at the same or broader scope" for a
/// moment; the connector waits it out and the role is assigned once.
#[test]
fn the_actors_own_role_propagating_is_waited_out() {
    let mut config = SimConfig::small(24);
    config.faults.own_role_propagation_ms = 600;
    let sim = Sim::start(config);
    let t = sim.truth();
    let role = t
        .roles
        .iter()
        .find(|r| r["name"] == "Identity Data Read Only")
        .map(|r| s(r, "id"))
        .unwrap();
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| !t.role_assignments.iter().any(|a| &a.subject_id == u))
        .unwrap();
    assert_eq!(
        sim.grant("role", &role, "assigned", resource_id("user", &u))
            .unwrap(),
        GrantResult::Granted
    );
    let stats = sim.handle.as_ref().unwrap().stats();
    let posts = stats.route("POST /v1/environments/{env}/users/{userId}/roleAssignments");
    assert!(posts > 1, "{:?}", stats.routes);
    assert_eq!(stats.status(400), posts - 1, "{:?}", stats.by_status);
    let held = sim
        .truth()
        .role_assignments
        .iter()
        .filter(|a| a.subject_id == u && a.role_id == role)
        .count();
    assert_eq!(held, 1, "assigned exactly once");
}
