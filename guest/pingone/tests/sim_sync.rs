//! End-to-end syncs against the PingOne simulator, driven like the host
//! drives a component, compared with the simulator's ground truth.

mod common;

use common::expect::{self, Expected};
use common::{Driver, Report, Store, Transport, sim_config};
use pingone_sim::{Faults, SimConfig, SimHandle};

struct Sim {
    rt: tokio::runtime::Runtime,
    handle: Option<SimHandle>,
}

impl Sim {
    fn start(config: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(pingone_sim::start(config, Default::default()))
            .expect("simulator starts");
        Sim {
            rt,
            handle: Some(handle),
        }
    }

    fn h(&self) -> &SimHandle {
        self.handle.as_ref().expect("running")
    }

    fn transport(&self) -> Transport {
        Transport::new(
            &self.h().token_url(),
            self.h().client_id(),
            self.h().client_secret(),
        )
    }

    fn config(&self) -> Vec<(String, String)> {
        sim_config(
            self.h().api_base_url(),
            self.h().auth_base_url(),
            self.h().environment_id(),
            self.h().client_id(),
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn sync(sim: &Sim) -> (Store, Report, common::Counters) {
    let transport = sim.transport();
    let driver = Driver::new(&transport, sim.config());
    let (store, report) = driver.run().unwrap_or_else(|e| panic!("sync failed: {e}"));
    (store, report, transport.counters())
}

/// Every resource, entitlement and grant matches, with immutability and
/// expansion as documented.
fn assert_matches(store: &Store, want: &Expected) {
    assert!(
        store.duplicates.is_empty(),
        "duplicate records: {:?}",
        store.duplicates
    );
    assert!(store.warnings.is_empty(), "warnings: {:?}", store.warnings);
    let got: std::collections::BTreeSet<String> = store.resources.keys().cloned().collect();
    diff("resources", &got, &want.resources);
    let got: std::collections::BTreeSet<String> = store.entitlements.keys().cloned().collect();
    diff("entitlements", &got, &want.entitlements);
    let got: std::collections::BTreeSet<String> = store.grants.keys().cloned().collect();
    let want_ids: std::collections::BTreeSet<String> = want.grants.keys().cloned().collect();
    diff("grants", &got, &want_ids);
    for (id, spec) in &want.grants {
        let g = &store.grants[id];
        assert_eq!(
            g.immutable_reason.is_some(),
            spec.immutable,
            "immutability of {id}: {:?}",
            g.immutable_reason
        );
        assert_eq!(
            g.expansion.as_ref().map(|x| x.entitlement_ids.clone()),
            spec.expansion,
            "expansion of {id}"
        );
    }
}

fn diff(
    what: &str,
    got: &std::collections::BTreeSet<String>,
    want: &std::collections::BTreeSet<String>,
) {
    let missing: Vec<_> = want.difference(got).take(10).collect();
    let extra: Vec<_> = got.difference(want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} missing (e.g. {missing:?}), {} extra (e.g. {extra:?})",
        want.difference(got).count(),
        got.difference(want).count()
    );
}

/// Requests against the tenant's lower bound (`pingone_sim::lower_bound`,
/// from its shape alone) and, separately, against the connector's planned
/// requests (`expect::planned`, which re-derives the plan: a regression
/// check of the plan, not an efficiency claim).
///
/// Target: at most 2.25x the lower bound (current figures in
/// docs/benchmarks.md). The bound leaves out reads a connector could in
/// principle infer its way around (parents of groups with members, direct
/// members of nested groups, dynamic members), and this connector makes them: one parents
/// listing per group and about one membership listing per user, at most
/// U + G more, against a bound that already holds U + G role-assignment
/// reads; the fixed listings push small tenants a little past 2x.
fn assert_efficient(c: &common::Counters, truth: &pingone_sim::GroundTruth) {
    let bound = pingone_sim::lower_bound(truth);
    let plan = expect::planned(truth);
    let ratio = c.logical as f64 / bound.api as f64;
    let to_plan = c.logical as f64 / plan.total as f64;
    eprintln!(
        "requests: {} (attempts {}, tokens {}); lower bound {} ({bound:?}) = {ratio:.3}x; planned {} (base {}, membership by groups {}, by users {}) = {to_plan:.3}x\n{:#?}",
        c.logical,
        c.attempts,
        c.token_requests,
        bound.api,
        plan.total,
        plan.base,
        plan.by_groups,
        plan.by_users,
        c.by_route
    );
    assert!(
        ratio <= 2.25,
        "{} requests is {ratio:.3}x the lower bound {}",
        c.logical,
        bound.api
    );
    assert!(
        to_plan <= 1.2,
        "{} requests is {to_plan:.3}x the connector's planned {}",
        c.logical,
        plan.total
    );
}

fn full_check(config: SimConfig) {
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let (store, report, counters) = sync(&sim);
    eprintln!("{report:?}");
    assert_matches(&store, &expect::expected(&truth));
    assert_efficient(&counters, &truth);
    assert_eq!(counters.retries, 0);
    // Spot-check the user mapping against the source.
    for u in &truth.users {
        let id = u["id"].as_str().unwrap();
        let r = &store.resources[&format!("user:{id}")];
        let Some(connector_sdk::ResourceTrait::User(t)) = &r.trait_ else {
            panic!("user trait")
        };
        assert_eq!(t.login.as_deref(), u["username"].as_str());
        assert_eq!(
            t.emails.first().map(|e| e.address.as_str()),
            u["email"].as_str()
        );
        let enabled = u["enabled"].as_bool().unwrap();
        assert_eq!(t.status == connector_sdk::UserStatus::Enabled, enabled);
        let want_name = u["name"]["formatted"]
            .as_str()
            .or(u["username"].as_str())
            .unwrap();
        assert_eq!(r.display_name, want_name);
        let profile: serde_json::Value =
            serde_json::from_str(t.profile_json.as_deref().unwrap()).unwrap();
        assert_eq!(profile["populationId"], u["population"]["id"]);
        assert_eq!(
            profile["locked"],
            serde_json::json!(u["account"]["status"] == "LOCKED")
        );
    }
}

#[test]
fn tiny_tenant_syncs_exactly() {
    full_check(SimConfig::tiny(1));
}

#[test]
fn small_tenants_sync_exactly() {
    for seed in [1, 2, 3] {
        full_check(SimConfig::small(seed));
    }
}

#[test]
fn medium_tenant_syncs_exactly() {
    full_check(SimConfig::medium(1));
}

/// The driver's pool (8 calls at once, as the host runs them by default)
/// stores the same records, and the per-resource tasks the listings skip
/// are never asked: groups, populations and roles cost no call of their own.
#[test]
fn eight_calls_at_once_sync_the_same_records() {
    let sim = Sim::start(SimConfig::small(2));
    let truth = sim.h().ground_truth();
    let transport = sim.transport();
    let driver = Driver::new(&transport, sim.config());
    let (store, report) = driver
        .run_with(8)
        .unwrap_or_else(|e| panic!("sync failed: {e}"));
    assert_matches(&store, &expect::expected(&truth));
    let (_, sequential, _) = sync(&sim);
    assert_eq!(report.calls, sequential.calls);
    // The entitlements phase runs only the roles' entitlement tasks, never
    // one per group or population.
    let groups_and_populations = truth.groups.len() + truth.populations.len();
    assert!(
        (report.calls_by_phase[1] as usize) < groups_and_populations,
        "{report:?}"
    );
}

/// Several users pages, several groups pages (pass 2), and dense nesting.
#[test]
fn multi_page_groups_and_dense_nesting() {
    full_check(SimConfig {
        users: 450,
        groups: 430,
        avg_groups_per_user: 3.0,
        nested_fraction: 0.5,
        dynamic_groups: 5,
        ..SimConfig::small(4)
    });
}

/// More nestings than a page token can carry: the plan falls back to
/// settling members without knowing the nested groups.
#[test]
fn too_many_nestings_to_carry() {
    let config = SimConfig {
        users: 2_500,
        groups: 2_600,
        memberships: Some(5_000),
        nested_fraction: 0.5,
        dynamic_groups: 3,
        role_assignment_density: 0.02,
        ..SimConfig::small(8)
    };
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    assert!(
        truth.nestings.len() > 1_400,
        "{} nestings",
        truth.nestings.len()
    );
    let (store, report, counters) = sync(&sim);
    eprintln!("{report:?}");
    let warnings = store.warnings.clone();
    assert!(
        warnings.iter().any(|w| w.contains("too many to carry")),
        "{warnings:?}"
    );
    let store = Store {
        warnings: Vec::new(),
        ..store
    };
    assert_matches(&store, &expect::expected(&truth));
    let bound = pingone_sim::lower_bound(&truth).api;
    let plan = expect::planned(&truth).total;
    eprintln!(
        "requests {} vs lower bound {bound} ({:.3}x), planned {plan} ({:.3}x)",
        counters.logical,
        counters.logical as f64 / bound as f64,
        counters.logical as f64 / plan as f64
    );
}

#[test]
fn survives_faults_and_short_pages() {
    let mut config = SimConfig::small(5);
    config.users = 230;
    config.faults = Faults::unreliable_network();
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let (store, report, counters) = sync(&sim);
    eprintln!(
        "{report:?}\n{counters:?}\nsim: {:?}",
        sim.h().stats().faults
    );
    assert_matches(&store, &expect::expected(&truth));
    assert!(counters.retries > 0, "faults were injected");
}

#[test]
fn survives_short_token_lifetime() {
    let mut config = SimConfig::small(6);
    // Enough requests at 40 ms that the sync outlives a 1 s token by far,
    // not by a few milliseconds (the 40-user tenant took ~1.5 s).
    config.users = 400;
    config.token_lifetime_secs = 1;
    config.faults = Faults {
        latency_ms: 40,
        expire_tokens_after_requests: Some(30),
        ..Faults::default()
    };
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let (store, report, counters) = sync(&sim);
    eprintln!("{report:?}\n{counters:?}");
    assert_matches(&store, &expect::expected(&truth));
    assert!(
        report.elapsed.as_millis() > 1_500,
        "the sync outlived a token: {:?}",
        report.elapsed
    );
    assert!(
        counters.token_requests >= 3,
        "tokens were refreshed: {counters:?}"
    );
    assert!(
        counters.refreshes_on_401 >= 1,
        "a 401 was answered with a refresh: {counters:?}"
    );
}

/// The simulator refuses `limit` where the reference documents none (role
/// assignments, roles) and out of range elsewhere: a sync that sends
/// `limit` only where it is documented meets no 400 at all.
#[test]
fn limit_goes_only_where_it_is_documented() {
    let sim = Sim::start(SimConfig::small(7));
    let truth = sim.h().ground_truth();
    let (store, _, counters) = sync(&sim);
    assert_matches(&store, &expect::expected(&truth));
    let stats = sim.h().stats();
    assert_eq!(stats.status(400), 0, "{:?}", stats.routes);
    assert_efficient(&counters, &truth);
}

/// A tenant that refuses `limit` everywhere: each refused listing is asked
/// again without it, and the sync still matches the ground truth.
#[test]
fn a_refused_limit_falls_back_to_the_default_page_size() {
    let mut config = SimConfig::small(9);
    config.faults.refuse_limit = true;
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let (store, _, _) = sync(&sim);
    assert_matches(&store, &expect::expected(&truth));
    let stats = sim.h().stats();
    assert!(
        stats.status(400) > 0,
        "limits were refused: {:?}",
        stats.routes
    );
    let users = &stats.routes["GET /v1/environments/{env}/users"];
    assert!(
        users.by_status.get(&400).copied().unwrap_or(0) > 0
            && users.by_status.get(&200).copied().unwrap_or(0) > 0,
        "{users:?}"
    );
}

/// PingOne refuses a dynamic group's `userFilter` as a users filter: the
/// group's direct members stay direct (revocable) grants, and only the
/// members the filter adds are immutable.
#[test]
fn a_refused_user_filter_keeps_direct_members_revocable() {
    use connector_sdk::{Config, Connector, Context, EntitlementRef, GrantResult, resource_id};
    let mut config = SimConfig::small(12);
    config.faults.refuse_user_filters = true;
    let sim = Sim::start(config);
    let t = sim.h().ground_truth();
    // Direct members for a dynamic group: one its filter matches, one not.
    let d = t
        .dynamic_group_members
        .iter()
        .find(|d| !d.user_ids.is_empty())
        .expect("a dynamic group with members");
    let group = t
        .groups
        .iter()
        .find(|g| g["id"] == d.group_id.as_str())
        .unwrap();
    let pop = group["population"]["id"].as_str();
    let eligible = |u: &&serde_json::Value| pop.is_none_or(|p| u["population"]["id"] == p);
    let matched = d.user_ids[0].clone();
    let unmatched = t
        .users
        .iter()
        .filter(eligible)
        .map(|u| u["id"].as_str().unwrap().to_string())
        .find(|u| !d.user_ids.contains(u))
        .expect("a user the filter does not match");
    let transport = sim.transport();
    let cfg = Config::new(sim.config());
    for u in [&matched, &unmatched] {
        let host = common::CallHost::new(&transport);
        let cx = Context {
            host: &host,
            config: &cfg,
        };
        let e = EntitlementRef {
            id: format!("group:{}:member", d.group_id),
            resource: resource_id("group", &d.group_id),
            slug: "member".into(),
            metadata_json: None,
        };
        let r = pingone_connector::PingOne::grant(&cx, e, resource_id("user", u));
        assert_eq!(r.unwrap(), GrantResult::Granted);
    }
    let truth = sim.h().ground_truth();
    let (store, _, _) = sync(&sim);
    assert!(
        store
            .warnings
            .iter()
            .any(|w| w.contains("refused its userFilter")),
        "{:?}",
        store.warnings
    );
    let store = Store {
        warnings: Vec::new(),
        ..store
    };
    let mut want = expect::expected(&truth);
    expect::with_refused_filters(&truth, &mut want);
    assert_matches(&store, &want);
    for u in [&matched, &unmatched] {
        let id = format!("group:{}:member:user:{u}", d.group_id);
        assert!(
            store.grants[&id].immutable_reason.is_none(),
            "{id} is a direct, revocable grant"
        );
    }
    let others = d.user_ids.iter().filter(|u| **u != matched);
    for u in others {
        let id = format!("group:{}:member:user:{u}", d.group_id);
        if let Some(g) = store.grants.get(&id) {
            assert!(g.immutable_reason.is_some(), "{id}");
        }
    }
}

/// A sync with extra config fields (e.g. `pingone-exact-membership`).
fn sync_with(sim: &Sim, extra: &[(&str, &str)]) -> Store {
    let transport = sim.transport();
    let mut config = sim.config();
    config.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let driver = Driver::new(&transport, config);
    let (store, _) = driver.run().unwrap_or_else(|e| panic!("sync failed: {e}"));
    store
}

const EXACT: (&str, &str) = ("pingone-exact-membership", "true");

/// A tenant where direct members hide among nested ones: parents with
/// direct members whose children share some of them.
fn nested_tenant(seed: u64) -> SimConfig {
    SimConfig {
        users: 300,
        groups: 40,
        avg_groups_per_user: 3.0,
        nested_fraction: 0.5,
        dynamic_groups: 3,
        ..SimConfig::small(seed)
    }
}

/// Each group's members as the members filter lists them: direct,
/// dynamic, and those of nested groups, recursively.
fn all_members(
    t: &pingone_sim::GroundTruth,
) -> std::collections::HashMap<String, std::collections::BTreeSet<String>> {
    fn walk(
        g: &str,
        t: &pingone_sim::GroundTruth,
        out: &mut std::collections::BTreeSet<String>,
        seen: &mut std::collections::BTreeSet<String>,
    ) {
        if !seen.insert(g.to_string()) {
            return;
        }
        out.extend(
            t.memberships
                .iter()
                .filter(|m| m.group_id == g)
                .map(|m| m.user_id.clone()),
        );
        for d in t.dynamic_group_members.iter().filter(|d| d.group_id == g) {
            out.extend(d.user_ids.iter().cloned());
        }
        for n in t.nestings.iter().filter(|n| n.parent_group_id == g) {
            walk(&n.child_group_id, t, out, seen);
        }
    }
    t.groups
        .iter()
        .map(|g| {
            let id = g["id"].as_str().unwrap().to_string();
            let mut out = std::collections::BTreeSet::new();
            walk(&id, t, &mut out, &mut std::collections::BTreeSet::new());
            (id, out)
        })
        .collect()
}

/// Groups without `directMemberCounts`: exact checks in both modes, and
/// nothing to warn about.
#[test]
fn missing_member_counts_sync_exactly() {
    let mut config = nested_tenant(21);
    config.faults.omit_member_counts = true;
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let parents: std::collections::BTreeSet<&str> = truth
        .nestings
        .iter()
        .map(|n| n.parent_group_id.as_str())
        .collect();
    assert!(
        truth
            .memberships
            .iter()
            .any(|m| parents.contains(m.group_id.as_str())),
        "a group with nested groups has direct members"
    );
    for extra in [&[][..], &[EXACT][..]] {
        let store = sync_with(&sim, extra);
        assert_matches(&store, &expect::expected(&truth));
    }
}

/// Counts of 0 on groups that hold direct members. Exact mode never reads
/// them: the sync matches the ground truth. The default mode lists every
/// group, so it loses nothing where the listings contradict the count (a
/// member outside every nested group, or a group without nested groups);
/// it can only miss direct members that are also reached through a nested
/// group of a group whose listings agree with its count of 0.
#[test]
fn zeroed_member_counts_lose_nothing_the_listings_show() {
    let mut config = nested_tenant(22);
    config.faults.zero_member_counts = 0.5;
    let faults = config.faults.clone();
    let seed = config.seed;
    let sim = Sim::start(config);
    let truth = sim.h().ground_truth();
    let want = expect::expected(&truth);

    let store = sync_with(&sim, &[EXACT]);
    assert_matches(&store, &want);

    // What the default mode may miss, and the groups whose listings show
    // the lie.
    let members = all_members(&truth);
    let mut direct: std::collections::HashMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::HashMap::new();
    for m in &truth.memberships {
        direct
            .entry(m.group_id.as_str())
            .or_default()
            .insert(m.user_id.as_str());
    }
    let mut hidden: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let (mut shown, mut shown_nested) = (0, 0);
    for (g, d) in &direct {
        if !faults.zeroes_member_count(seed, g) {
            continue;
        }
        let inner: std::collections::BTreeSet<&String> = truth
            .nestings
            .iter()
            .filter(|n| n.parent_group_id == *g)
            .flat_map(|n| &members[&n.child_group_id])
            .collect();
        if d.iter().any(|u| !inner.iter().any(|i| i.as_str() == *u)) {
            shown += 1;
            shown_nested += usize::from(!inner.is_empty());
        } else {
            hidden.extend(d.iter().map(|u| format!("group:{g}:member:user:{u}")));
        }
    }
    assert!(
        shown > 0,
        "some zeroed count is contradicted by the listings"
    );
    assert!(
        shown_nested > 0,
        "and one of a group with nested groups, whose resolution must see it"
    );

    let store = sync_with(&sim, &[]);
    assert!(
        store
            .warnings
            .iter()
            .any(|w| w.contains("PingOne reports 0 direct members")),
        "{:?}",
        store.warnings
    );
    assert!(
        store
            .warnings
            .iter()
            .any(|w| w.contains("reports 0 direct members, but its member listings")),
        "{:?}",
        store.warnings
    );
    let got: std::collections::BTreeSet<String> = store.grants.keys().cloned().collect();
    let want_ids: std::collections::BTreeSet<String> = want.grants.keys().cloned().collect();
    let extra: Vec<_> = got.difference(&want_ids).collect();
    assert!(extra.is_empty(), "invented grants: {extra:?}");
    let lost: Vec<_> = want_ids
        .difference(&got)
        .filter(|id| !hidden.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} grants lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    let store = Store {
        warnings: Vec::new(),
        grants: store
            .grants
            .into_iter()
            .filter(|(id, _)| !hidden.contains(id))
            .collect(),
        ..store
    };
    let mut want = want;
    want.grants.retain(|id, _| !hidden.contains(id));
    assert_matches(&store, &want);
}
