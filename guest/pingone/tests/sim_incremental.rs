//! The change feed against the simulator, driven the way the host's
//! incremental sync drives it (host/runtime/src/incremental.rs): a full
//! sync, random changes, the change log read from the mark minus an
//! overlap (records the previous run applied dropped), the re-reads
//! applied to the last sync in place, and the result compared record for
//! record with a fresh full sync.
//!
//! Also: every principal's `list-principal-grants` equals the full sync's
//! grants of that principal, exactly; and the batched feed (contract
//! 0.1.4): batched reads equal the full sync's resources, scoped principal
//! grants its grants within the scope, a group's grants by principal type
//! its grants on the group, and an incremental sync applied as the host
//! applies scoped changes equals a fresh full sync, for fewer requests
//! than the 0.1.3 feed.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{CallHost, Driver, Store, Transport, entitlement_id, grant_id, rid, sim_config};
use connector_sdk::{
    Change, Config, Connector, Context, Entitlement, Grant, GrantScope, Resource, ResourceId,
    ScopedChange, SkipTasks, SyncOp, SyncTask, Timestamp,
};
use pingone_connector::PingOne;
use pingone_sim::{AuditConfig, NestingAudit, SimConfig, SimHandle};

struct Sim {
    rt: tokio::runtime::Runtime,
    h: Option<SimHandle>,
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
        Sim { rt, h: Some(h) }
    }

    fn h(&self) -> &SimHandle {
        self.h.as_ref().unwrap()
    }

    fn config(&self) -> Vec<(String, String)> {
        let h = self.h();
        sim_config(
            h.api_base_url(),
            h.auth_base_url(),
            h.environment_id(),
            h.client_id(),
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(h) = self.h.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

/// What one call uploaded.
#[derive(Default)]
struct Upload {
    resources: Vec<Resource>,
    listed: Vec<(Vec<String>, Vec<Entitlement>, SkipTasks)>,
    entitlements: Vec<Entitlement>,
    grants: Vec<Grant>,
}

fn call<T>(
    transport: &Transport,
    config: &[(String, String)],
    f: impl Fn(&Context) -> Result<T, connector_sdk::ConnectorError>,
) -> (T, Upload) {
    let config = Config::new(config.to_vec());
    for attempt in 0.. {
        let host = CallHost::new(transport);
        let cx = Context {
            host: &host,
            config: &config,
        };
        match f(&cx) {
            Ok(v) => {
                let mut grants = connector_sdk::grant_set_grants(&host.grant_sets.into_inner());
                grants.extend(host.grants.into_inner());
                return (
                    v,
                    Upload {
                        resources: host.resources.into_inner(),
                        listed: host.listed.into_inner(),
                        entitlements: host.entitlements.into_inner(),
                        grants,
                    },
                );
            }
            Err(connector_sdk::ConnectorError::Unavailable(m)) if attempt < 20 => {
                eprintln!("retrying after: {m}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("connector call failed: {e:?}"),
        }
    }
    unreachable!()
}

fn full_sync(transport: &Transport, config: &[(String, String)]) -> Store {
    let (store, _) = Driver::new(transport, config.to_vec()).run().unwrap();
    assert!(store.duplicates.is_empty(), "{:?}", store.duplicates);
    store
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    }
}

fn minus(t: &Timestamp, secs: i64) -> Timestamp {
    Timestamp {
        seconds: t.seconds - secs,
        nanos: t.nanos,
    }
}

/// The grants a principal's re-read uploads.
fn principal_grants(
    transport: &Transport,
    config: &[(String, String)],
    p: &ResourceId,
) -> Vec<Grant> {
    let (next, up) = call(transport, config, |cx| {
        PingOne::list_principal_grants(cx, p.clone(), None)
    });
    assert!(next.is_none());
    assert!(up.resources.is_empty() && up.entitlements.is_empty() && up.listed.is_empty());
    for g in &up.grants {
        assert_eq!(rid(&g.principal), rid(p), "a grant to another principal");
    }
    up.grants
}

/// What a resource's own `list-grants` task and its follow-ups upload
/// (run as the host runs them: pages, then follow-ups).
fn resource_grants(
    transport: &Transport,
    config: &[(String, String)],
    r: &ResourceId,
) -> Vec<Grant> {
    let mut queue = vec![SyncTask {
        op: SyncOp::ListGrants,
        resource_type: r.resource_type.clone(),
        resource: Some(r.clone()),
        page_token: None,
    }];
    let mut grants = Vec::new();
    let mut calls = 0;
    while let Some(task) = queue.pop() {
        calls += 1;
        assert!(calls < 1_000, "too many calls for {}", rid(r));
        let (out, up) = call(transport, config, |cx| PingOne::sync(cx, task.clone()));
        assert!(up.resources.is_empty() && up.entitlements.is_empty());
        grants.extend(up.grants);
        if let Some(t) = out.next_page_token {
            queue.push(SyncTask {
                page_token: Some(t),
                ..task.clone()
            });
        }
        queue.extend(out.follow_ups);
    }
    grants
}

/// A targeted read's promise: a user, group or population read alone,
/// then its own tasks, yields what the full sync holds for it.
#[test]
fn each_resource_read_alone_equals_the_full_syncs() {
    for seed in [3, 8] {
        let sim = Sim::start(SimConfig::small(seed));
        let h = sim.h();
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let store = full_sync(&transport, &config);
        let mut checked = 0;
        for (key, r) in &store.resources {
            if r.id.resource_type == "role" {
                continue;
            }
            let (found, up) = call(&transport, &config, |cx| {
                PingOne::get_resource(cx, r.id.clone(), None)
            });
            assert!(found, "{key}");
            assert_eq!(up.resources, std::slice::from_ref(r), "{key}");
            let mut ents: Vec<Entitlement> = up.listed.iter().flat_map(|l| l.1.clone()).collect();
            ents.extend(up.entitlements);
            let want_ents: Vec<&Entitlement> = store
                .entitlements
                .values()
                .filter(|e| e.resource == r.id)
                .collect();
            assert_eq!(ents.iter().collect::<Vec<_>>(), want_ents, "{key}");
            let skip = up.listed.first().map(|l| l.2).unwrap_or_default();
            if r.id.resource_type == "user" {
                continue; // no entitlements, no grants on it
            }
            assert!(skip.list_entitlements && !skip.list_grants, "{key}");
            let got: BTreeMap<String, Grant> = resource_grants(&transport, &config, &r.id)
                .into_iter()
                .map(|g| (grant_id(&g), g))
                .collect();
            let want: BTreeMap<String, Grant> = store
                .grants
                .iter()
                .filter(|(_, g)| g.entitlement_resource == r.id)
                .map(|(k, g)| (k.clone(), g.clone()))
                .collect();
            assert_eq!(got, want, "seed {seed}: grants on {key}");
            checked += want.len();
        }
        assert!(checked > 50, "seed {seed}: only {checked} grants checked");
        // Gone: false, nothing uploaded.
        let gone = connector_sdk::resource_id("group", "00000000-0000-4000-8000-000000000000");
        let (found, up) = call(&transport, &config, |cx| {
            PingOne::get_resource(cx, gone.clone(), None)
        });
        assert!(!found && up.resources.is_empty() && up.listed.is_empty());
    }
}

#[test]
fn each_principals_grants_equal_the_full_syncs() {
    for seed in [3, 8, 13] {
        let sim = Sim::start(SimConfig::small(seed));
        let h = sim.h();
        if seed == 13 {
            // Dynamic filters refused as users filters: the full sync's
            // fallback rule, from the user's side.
            h.set_faults(pingone_sim::Faults {
                refuse_user_filters: true,
                ..Default::default()
            });
        }
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let store = full_sync(&transport, &config);
        let mut checked = 0;
        for r in store.resources.values() {
            let want: BTreeMap<String, &Grant> = store
                .grants
                .iter()
                .filter(|(_, g)| g.principal == r.id)
                .map(|(k, g)| (k.clone(), g))
                .collect();
            let got = principal_grants(&transport, &config, &r.id);
            let got_map: BTreeMap<String, &Grant> = got.iter().map(|g| (grant_id(g), g)).collect();
            assert_eq!(got_map.len(), got.len(), "{}: a grant twice", rid(&r.id));
            assert_eq!(got_map, want, "seed {seed}: grants of {}", rid(&r.id));
            checked += want.len();
        }
        assert!(checked > 50, "seed {seed}: only {checked} grants checked");
    }
}

/// The host's incremental run (incremental.rs `plan` and
/// `replace_before_reread`), natively. `None`: the connector asked for a
/// full sync.
struct Mark {
    high_water: Timestamp,
    record_ids: HashSet<String>,
}

fn incremental(
    transport: &Transport,
    config: &[(String, String)],
    prev: &Store,
    mark: &Mark,
) -> Result<(Store, Mark, usize), String> {
    let until = now();
    let since = minus(&mark.high_water, 300);
    let mut token = None;
    let mut resources: Vec<ResourceId> = Vec::new();
    let mut principals: Vec<ResourceId> = Vec::new();
    let mut ids = HashSet::new();
    loop {
        let (page, up) = call(transport, config, |cx| {
            PingOne::list_changes(cx, since, until, token.clone())
        });
        assert!(up.resources.is_empty() && up.grants.is_empty());
        let already = !page.record_ids.is_empty()
            && page
                .record_ids
                .iter()
                .all(|id| mark.record_ids.contains(id));
        if !already {
            for c in page.changes {
                match c {
                    Change::FullSync(reason) => return Err(reason),
                    Change::Resource(r) if !resources.contains(&r) => resources.push(r),
                    Change::PrincipalGrants(p) if !principals.contains(&p) => principals.push(p),
                    _ => {}
                }
            }
        }
        ids.extend(page.record_ids);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let mut s = Store {
        resources: prev.resources.clone(),
        entitlements: prev.entitlements.clone(),
        grants: prev.grants.clone(),
        ..Store::default()
    };
    for p in &principals {
        s.grants.retain(|_, g| g.principal != *p);
    }
    let mut relisted_grants = Vec::new();
    for r in &resources {
        let (found, up) = call(transport, config, |cx| {
            PingOne::get_resource(cx, r.clone(), None)
        });
        let key = rid(r);
        if !found {
            assert!(up.resources.is_empty());
            s.resources.remove(&key);
            s.entitlements.retain(|_, e| e.resource != *r);
            s.grants
                .retain(|_, g| g.entitlement_resource != *r && g.principal != *r);
            continue;
        }
        assert_eq!(up.resources.len(), 1);
        assert_eq!(rid(&up.resources[0].id), key);
        let (ents, skip) = match up.listed.first() {
            Some((_, ents, skip)) => (ents.clone(), *skip),
            None => (up.entitlements.clone(), SkipTasks::default()),
        };
        if !skip.list_grants {
            s.grants.retain(|_, g| g.entitlement_resource != *r);
            relisted_grants.push(r.clone());
        } else if skip.list_entitlements {
            let keep: HashSet<String> = ents.iter().map(entitlement_id).collect();
            s.grants.retain(|_, g| {
                g.entitlement_resource != *r
                    || keep.contains(&format!(
                        "{}:{}",
                        rid(&g.entitlement_resource),
                        g.entitlement_slug
                    ))
            });
        }
        s.entitlements.retain(|_, e| e.resource != *r);
        s.resources.insert(key, up.resources[0].clone());
        for e in ents {
            s.entitlements.insert(entitlement_id(&e), e);
        }
    }
    // The grants phase: each re-read resource's own grants task (the host
    // queues it unless the read skipped it), then the principals'.
    for r in &relisted_grants {
        for g in resource_grants(transport, config, r) {
            s.grants.insert(grant_id(&g), g);
        }
    }
    for p in &principals {
        for g in principal_grants(transport, config, p) {
            s.grants.insert(grant_id(&g), g);
        }
    }
    Ok((
        s,
        Mark {
            high_water: until,
            record_ids: ids,
        },
        resources.len() + principals.len(),
    ))
}

fn assert_same(label: &str, got: &Store, want: &Store) {
    fn keys<V>(m: &BTreeMap<String, V>) -> Vec<String> {
        m.keys().cloned().collect()
    }
    let diff = |a: Vec<String>, b: Vec<String>| -> (Vec<String>, Vec<String>) {
        let (sa, sb): (HashSet<_>, HashSet<_>) = (a.iter().collect(), b.iter().collect());
        (
            a.iter().filter(|k| !sb.contains(k)).cloned().collect(),
            b.iter().filter(|k| !sa.contains(k)).cloned().collect(),
        )
    };
    let (extra, missing) = diff(keys(&got.resources), keys(&want.resources));
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{label}: resources extra {extra:?} missing {missing:?}"
    );
    let (extra, missing) = diff(keys(&got.entitlements), keys(&want.entitlements));
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{label}: entitlements extra {extra:?} missing {missing:?}"
    );
    let (extra, missing) = diff(keys(&got.grants), keys(&want.grants));
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{label}: grants extra {extra:?} missing {missing:?}"
    );
    for (k, r) in &want.resources {
        assert_eq!(&got.resources[k], r, "{label}: resource {k}");
    }
    for (k, e) in &want.entitlements {
        assert_eq!(&got.entitlements[k], e, "{label}: entitlement {k}");
    }
    for (k, g) in &want.grants {
        assert_eq!(&got.grants[k], g, "{label}: grant {k}");
    }
}

/// Many seeds: sync, change, sync incrementally twice (the second after
/// late records surfaced, from the first's mark minus the overlap), and
/// compare with a fresh full sync. `INCREMENTAL_SEEDS`, `INCREMENTAL_STEPS`
/// and `INCREMENTAL_PRESET=small` run more.
#[test]
fn incremental_syncs_equal_a_fresh_full_sync_over_many_seeds() {
    let seeds: u64 = std::env::var("INCREMENTAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let steps: usize = std::env::var("INCREMENTAL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let mut incremental_runs = 0;
    let mut fallbacks = Vec::new();
    for seed in 0..seeds {
        let tenant = match std::env::var("INCREMENTAL_PRESET").as_deref() {
            Ok("small") => SimConfig::small(100 + seed),
            _ => SimConfig::tiny(100 + seed),
        };
        let sim = Sim::start(tenant);
        let h = sim.h();
        // Nesting recorded either way PingOne might; side effects and
        // dynamic joins recorded or not (the hints must not need them).
        h.set_audit_config(AuditConfig {
            visibility_delay_ms: 100,
            visibility_jitter_ms: 300,
            duplicate_rate: 0.3,
            rate_limit_per_sec: None,
            nesting: if seed % 2 == 0 {
                NestingAudit::MemberOfGroup
            } else {
                NestingAudit::GroupUpdated
            },
            dynamic_membership: seed % 3 == 0,
            cascades: seed % 5 == 0,
            ..AuditConfig::default()
        });
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let start = now();
        let base = full_sync(&transport, &config);
        let mark = Mark {
            high_water: start,
            record_ids: HashSet::new(),
        };
        let applied = h.apply_random_changes(seed, steps);
        // The first run may miss records not yet visible; the second
        // reads them through the overlap.
        let first = incremental(&transport, &config, &base, &mark);
        std::thread::sleep(Duration::from_millis(500));
        let result = first.and_then(|(s1, m1, _)| incremental(&transport, &config, &s1, &m1));
        let fresh = full_sync(&transport, &config);
        match result {
            Ok((got, _, rereads)) => {
                incremental_runs += 1;
                let kinds: Vec<_> = applied.iter().map(|c| c.kind).collect();
                assert_same(
                    &format!("seed {seed} {kinds:?} ({rereads} re-reads)"),
                    &got,
                    &fresh,
                );
            }
            Err(reason) => fallbacks.push((seed, reason)),
        }
    }
    eprintln!("{incremental_runs} incremental, fallbacks: {fallbacks:?}");
    assert!(
        incremental_runs * 2 >= seeds as usize,
        "too few incremental runs: {fallbacks:?}"
    );
}

/// Ids per batched call, as the host sends them (REREAD_BATCH).
const BATCH: usize = 50;

fn fake_user() -> ResourceId {
    connector_sdk::resource_id("user", "00000000-0000-4000-8000-00000000dead")
}

/// A batched read's promise: each id uploaded once as `get-resource`
/// uploads it, or returned missing; nothing else.
fn batched_read(
    transport: &Transport,
    config: &[(String, String)],
    ids: &[ResourceId],
) -> (Vec<ResourceId>, Upload) {
    let (missing, up) = call(transport, config, |cx| {
        PingOne::get_resources(cx, ids.to_vec())
    });
    assert!(up.grants.is_empty(), "a batched read uploaded grants");
    let mut seen = HashSet::new();
    for r in &up.resources {
        assert!(ids.contains(&r.id), "uploaded {} not asked", rid(&r.id));
        assert!(seen.insert(rid(&r.id)), "{} uploaded twice", rid(&r.id));
        assert!(!missing.contains(&r.id), "{} found and missing", rid(&r.id));
    }
    for id in ids {
        assert!(
            seen.contains(&rid(id)) || missing.contains(id),
            "{} neither uploaded nor missing",
            rid(id)
        );
    }
    (missing, up)
}

#[test]
fn batched_reads_equal_the_full_syncs_resources() {
    for seed in [3, 13] {
        let sim = Sim::start(SimConfig::small(seed));
        let h = sim.h();
        if seed == 13 {
            // Users filters refused: one read per user instead.
            h.set_faults(pingone_sim::Faults {
                refuse_user_filters: true,
                ..Default::default()
            });
        }
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let store = full_sync(&transport, &config);
        for t in ["user", "group", "population"] {
            let mut ids: Vec<ResourceId> = store
                .resources
                .values()
                .filter(|r| r.id.resource_type == t)
                .map(|r| r.id.clone())
                .collect();
            let gone = connector_sdk::resource_id(t, "00000000-0000-4000-8000-000000000000");
            let junk = connector_sdk::resource_id(t, "not-a-pingone-id");
            ids.push(gone.clone());
            ids.push(junk.clone());
            let mut missing = Vec::new();
            let mut resources = Vec::new();
            let mut entitlements = Vec::new();
            let before = transport.counters().logical;
            let chunks = ids.chunks(BATCH).count() as u64;
            for chunk in ids.chunks(BATCH) {
                let (m, up) = batched_read(&transport, &config, chunk);
                missing.extend(m);
                for (_, ents, skip) in &up.listed {
                    assert!(skip.list_entitlements && !skip.list_grants, "{t}");
                    entitlements.extend(ents.clone());
                }
                entitlements.extend(up.entitlements);
                resources.extend(up.resources);
            }
            let requests = transport.counters().logical - before;
            assert_eq!(missing, [gone, junk], "seed {seed} {t}");
            let got: BTreeMap<String, Resource> =
                resources.into_iter().map(|r| (rid(&r.id), r)).collect();
            let want: BTreeMap<String, Resource> = store
                .resources
                .iter()
                .filter(|(_, r)| r.id.resource_type == t)
                .map(|(k, r)| (k.clone(), r.clone()))
                .collect();
            assert_eq!(got, want, "seed {seed}: {t}s");
            let got: BTreeMap<String, Entitlement> = entitlements
                .into_iter()
                .map(|e| (entitlement_id(&e), e))
                .collect();
            let want: BTreeMap<String, Entitlement> = store
                .entitlements
                .iter()
                .filter(|(_, e)| e.resource.resource_type == t)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            assert_eq!(got, want, "seed {seed}: entitlements of {t}s");
            if t == "user" && seed != 13 {
                // One filtered request per batch (the junk id is never sent).
                assert_eq!(requests, chunks, "seed {seed}: requests for users");
            } else {
                // One read per id.
                assert!(requests <= ids.len() as u64 + chunks, "{t}: {requests}");
            }
        }
    }
}

/// The grants of `principals` in `scope`, read in one call, checked to be
/// theirs and in scope.
fn scoped_grants(
    transport: &Transport,
    config: &[(String, String)],
    principals: &[ResourceId],
    scope: &GrantScope,
) -> Vec<Grant> {
    let (next, up) = call(transport, config, |cx| {
        PingOne::list_scoped_principal_grants(cx, principals.to_vec(), scope.clone(), None)
    });
    assert!(next.is_none());
    assert!(up.resources.is_empty() && up.entitlements.is_empty() && up.listed.is_empty());
    for g in &up.grants {
        assert!(
            principals.contains(&g.principal),
            "{}: not asked",
            grant_id(g)
        );
        assert!(
            scope.covers(&g.entitlement_resource),
            "{}: out of scope",
            grant_id(g)
        );
    }
    up.grants
}

#[test]
fn scoped_principal_grants_equal_the_full_syncs_within_the_scope() {
    for seed in [3, 8, 13] {
        let sim = Sim::start(SimConfig::small(seed));
        let h = sim.h();
        if seed == 13 {
            h.set_faults(pingone_sim::Faults {
                refuse_user_filters: true,
                ..Default::default()
            });
        }
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let store = full_sync(&transport, &config);
        let of_type = |t: &str| -> Vec<ResourceId> {
            store
                .resources
                .values()
                .filter(|r| r.id.resource_type == t)
                .map(|r| r.id.clone())
                .collect()
        };
        let (users, groups) = (of_type("user"), of_type("group"));
        // Resource scopes: a few groups (dynamic ones among them, which the
        // small preset puts last), a population and a role.
        let mut picked: Vec<ResourceId> = groups.iter().step_by(3).cloned().collect();
        picked.extend(groups.iter().rev().take(2).cloned());
        picked.extend(of_type("population").into_iter().take(1));
        picked.extend(of_type("role").into_iter().take(2));
        let scopes = [
            GrantScope::of_types(&["population"]),
            GrantScope::of_types(&["group"]),
            GrantScope::of_types(&["role"]),
            GrantScope::of_types(&["population", "group"]),
            GrantScope::of_types(&["group", "role"]),
            GrantScope::of_resources(picked),
        ];
        let mut checked = 0;
        for scope in &scopes {
            for principals in [&users, &groups] {
                for chunk in principals.chunks(BATCH) {
                    let got = scoped_grants(&transport, &config, chunk, scope);
                    let got_map: BTreeMap<String, &Grant> =
                        got.iter().map(|g| (grant_id(g), g)).collect();
                    assert_eq!(got_map.len(), got.len(), "a grant twice");
                    let want: BTreeMap<String, &Grant> = store
                        .grants
                        .iter()
                        .filter(|(_, g)| {
                            chunk.contains(&g.principal) && scope.covers(&g.entitlement_resource)
                        })
                        .map(|(k, g)| (k.clone(), g))
                        .collect();
                    assert_eq!(got_map, want, "seed {seed}: scope {scope:?}");
                    checked += want.len();
                }
            }
        }
        assert!(checked > 200, "seed {seed}: only {checked} grants checked");
        // A gone principal has none.
        let gone = scoped_grants(
            &transport,
            &config,
            &[fake_user()],
            &GrantScope::of_types(&["population", "group", "role"]),
        );
        assert!(gone.is_empty());
    }
}

/// Every page of `list-resource-grants`, checked to stay on the resource
/// and the principal types.
fn grants_on(
    transport: &Transport,
    config: &[(String, String)],
    r: &ResourceId,
    types: &[&str],
) -> Vec<Grant> {
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let mut token = None;
    let mut grants = Vec::new();
    for _ in 0..100 {
        let (next, up) = call(transport, config, |cx| {
            PingOne::list_resource_grants(cx, r.clone(), types.clone(), token.clone())
        });
        assert!(up.resources.is_empty() && up.entitlements.is_empty());
        for g in &up.grants {
            assert_eq!(g.entitlement_resource, *r, "{}", grant_id(g));
            assert!(
                types.contains(&g.principal.resource_type),
                "{}",
                grant_id(g)
            );
        }
        grants.extend(up.grants);
        match next {
            Some(t) => token = Some(t),
            None => return grants,
        }
    }
    panic!("too many pages for {}", rid(r))
}

#[test]
fn a_resources_grants_by_principal_type_equal_the_full_syncs() {
    for (seed, refused, exact) in [(3, false, false), (8, false, true), (13, true, false)] {
        let sim = Sim::start(SimConfig::small(seed));
        let h = sim.h();
        if refused {
            h.set_faults(pingone_sim::Faults {
                refuse_user_filters: true,
                ..Default::default()
            });
        }
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let mut config = sim.config();
        if exact {
            config.push(("pingone-exact-membership".into(), "true".into()));
        }
        let store = full_sync(&transport, &config);
        let mut checked = 0;
        for r in store.resources.values() {
            let types: &[&[&str]] = match r.id.resource_type.as_str() {
                "group" => &[&["user"], &["group"], &["user", "group"]],
                // A population's members are listed by a users filter.
                "population" if !refused => &[&["user"]],
                _ => continue,
            };
            for t in types {
                let got = grants_on(&transport, &config, &r.id, t);
                let got_map: BTreeMap<String, &Grant> =
                    got.iter().map(|g| (grant_id(g), g)).collect();
                assert_eq!(got_map.len(), got.len(), "a grant twice");
                let want: BTreeMap<String, &Grant> = store
                    .grants
                    .iter()
                    .filter(|(_, g)| {
                        g.entitlement_resource == r.id
                            && t.contains(&g.principal.resource_type.as_str())
                    })
                    .map(|(k, g)| (k.clone(), g))
                    .collect();
                assert_eq!(
                    got_map,
                    want,
                    "seed {seed}: grants on {} by {t:?}",
                    rid(&r.id)
                );
                checked += want.len();
            }
        }
        assert!(checked > 100, "seed {seed}: only {checked} grants checked");
        let gone = connector_sdk::resource_id("group", "00000000-0000-4000-8000-000000000000");
        assert!(grants_on(&transport, &config, &gone, &["user", "group"]).is_empty());
    }
}

/// What the host makes of a batched change log: each object once, with
/// its merged mode, scope or principal types.
#[derive(Default)]
struct Plan {
    /// (resource, full re-read rather than row only).
    resources: Vec<(ResourceId, bool)>,
    principals: Vec<(ResourceId, GrantScope)>,
    resource_grants: Vec<(ResourceId, Vec<String>)>,
}

impl Plan {
    fn add(&mut self, c: ScopedChange) -> Result<(), String> {
        match c {
            ScopedChange::FullSync(reason) => return Err(reason),
            ScopedChange::Resource(r) => self.resource(r, true),
            ScopedChange::ResourceRecord(r) => self.resource(r, false),
            ScopedChange::PrincipalGrants(p) => {
                match self.principals.iter_mut().find(|(x, _)| *x == p.principal) {
                    Some((_, scope)) => scope.merge(&p.scope),
                    None => self.principals.push((p.principal, p.scope)),
                }
            }
            ScopedChange::ResourceGrants(g) => {
                match self
                    .resource_grants
                    .iter_mut()
                    .find(|(x, _)| *x == g.resource)
                {
                    Some((_, types)) => {
                        for t in g.principal_types {
                            if !types.contains(&t) {
                                types.push(t);
                            }
                        }
                    }
                    None => self.resource_grants.push((g.resource, g.principal_types)),
                }
            }
        }
        Ok(())
    }

    fn resource(&mut self, r: ResourceId, full: bool) {
        match self.resources.iter_mut().find(|(x, _)| *x == r) {
            Some((_, f)) => *f |= full,
            None => self.resources.push((r, full)),
        }
    }
}

/// A resource and what goes with it, gone.
fn delete_resource_scope(s: &mut Store, r: &ResourceId) {
    s.resources.remove(&rid(r));
    s.entitlements.retain(|_, e| e.resource != *r);
    s.grants
        .retain(|_, g| g.entitlement_resource != *r && g.principal != *r);
}

/// The host's incremental run through the batched feed (contract 0.1.4),
/// natively: the merged plan, its deletions, batched reads (full re-read
/// or row only), then the grants of the resources re-read in full, of
/// the principals within their scopes and on the resources by principal
/// type. Also returns the requests it made.
fn incremental_scoped(
    transport: &Transport,
    config: &[(String, String)],
    prev: &Store,
    mark: &Mark,
) -> Result<(Store, Mark, u64), String> {
    let before = transport.counters().logical;
    let until = now();
    let since = minus(&mark.high_water, 300);
    let mut token = None;
    let mut plan = Plan::default();
    let mut ids = HashSet::new();
    loop {
        let (page, up) = call(transport, config, |cx| {
            PingOne::list_scoped_changes(cx, since, until, token.clone())
        });
        assert!(up.resources.is_empty() && up.grants.is_empty());
        let already = !page.record_ids.is_empty()
            && page
                .record_ids
                .iter()
                .all(|id| mark.record_ids.contains(id));
        if !already {
            for c in page.changes {
                plan.add(c)?;
            }
        }
        ids.extend(page.record_ids);
        match page.next_page_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let mut s = Store {
        resources: prev.resources.clone(),
        entitlements: prev.entitlements.clone(),
        grants: prev.grants.clone(),
        ..Store::default()
    };
    for (p, scope) in &plan.principals {
        s.grants
            .retain(|_, g| g.principal != *p || !scope.covers(&g.entitlement_resource));
    }
    for (r, types) in &plan.resource_grants {
        s.grants.retain(|_, g| {
            g.entitlement_resource != *r || !types.contains(&g.principal.resource_type)
        });
    }
    let mut relisted = Vec::new();
    for t in ["user", "group", "population"] {
        let of_type: Vec<&(ResourceId, bool)> = plan
            .resources
            .iter()
            .filter(|(r, _)| r.resource_type == t)
            .collect();
        for chunk in of_type.chunks(BATCH) {
            let asked: Vec<ResourceId> = chunk.iter().map(|(r, _)| r.clone()).collect();
            let (missing, up) = batched_read(transport, config, &asked);
            for r in &missing {
                delete_resource_scope(&mut s, r);
            }
            for res in &up.resources {
                let r = &res.id;
                let full = chunk.iter().any(|(x, f)| x == r && *f);
                let key = rid(r);
                let listed = up.listed.iter().find(|l| l.0.contains(&key));
                let (ents, skip, carried): (Vec<Entitlement>, SkipTasks, bool) = match listed {
                    Some((_, ents, skip)) => (
                        ents.iter().filter(|e| e.resource == *r).cloned().collect(),
                        *skip,
                        true,
                    ),
                    None => {
                        let ents: Vec<Entitlement> = up
                            .entitlements
                            .iter()
                            .filter(|e| e.resource == *r)
                            .cloned()
                            .collect();
                        let carried = !ents.is_empty();
                        (ents, SkipTasks::default(), carried)
                    }
                };
                let keep: HashSet<String> = ents.iter().map(entitlement_id).collect();
                let still_there = |g: &Grant| {
                    g.entitlement_resource != *r
                        || keep.contains(&format!(
                            "{}:{}",
                            rid(&g.entitlement_resource),
                            g.entitlement_slug
                        ))
                };
                if full {
                    if !skip.list_grants {
                        s.grants.retain(|_, g| g.entitlement_resource != *r);
                        relisted.push(r.clone());
                    } else if skip.list_entitlements {
                        s.grants.retain(|_, g| still_there(g));
                    }
                    s.entitlements.retain(|_, e| e.resource != *r);
                } else if carried {
                    // Row only: entitlements replaced when the put carries
                    // them, grants kept but on the ones still there.
                    s.grants.retain(|_, g| still_there(g));
                    s.entitlements.retain(|_, e| e.resource != *r);
                }
                s.resources.insert(key, res.clone());
                for e in ents {
                    s.entitlements.insert(entitlement_id(&e), e);
                }
            }
        }
    }
    for r in &relisted {
        for g in resource_grants(transport, config, r) {
            s.grants.insert(grant_id(&g), g);
        }
    }
    // Principal tasks: one type, one scope, at most BATCH principals.
    let mut tasks: Vec<(String, GrantScope, Vec<ResourceId>)> = Vec::new();
    for (p, scope) in &plan.principals {
        match tasks
            .iter_mut()
            .find(|(t, sc, ps)| *t == p.resource_type && sc == scope && ps.len() < BATCH)
        {
            Some((_, _, ps)) => ps.push(p.clone()),
            None => tasks.push((p.resource_type.clone(), scope.clone(), vec![p.clone()])),
        }
    }
    for (_, scope, principals) in &tasks {
        for g in scoped_grants(transport, config, principals, scope) {
            s.grants.insert(grant_id(&g), g);
        }
    }
    for (r, types) in &plan.resource_grants {
        let types: Vec<&str> = types.iter().map(String::as_str).collect();
        for g in grants_on(transport, config, r, &types) {
            s.grants.insert(grant_id(&g), g);
        }
    }
    // What the host's referential checks would refuse.
    for (k, g) in &s.grants {
        assert!(
            s.resources.contains_key(&rid(&g.principal)),
            "grant {k}: principal not stored"
        );
        assert!(
            s.entitlements.contains_key(&format!(
                "{}:{}",
                rid(&g.entitlement_resource),
                g.entitlement_slug
            )),
            "grant {k}: entitlement not stored"
        );
    }
    Ok((
        s,
        Mark {
            high_water: until,
            record_ids: ids,
        },
        transport.counters().logical - before,
    ))
}

/// Many seeds, as above, through both feeds from the same full sync: each
/// equals a fresh full sync, and the batched one costs fewer requests.
#[test]
fn scoped_incremental_syncs_equal_a_fresh_full_sync_for_fewer_requests() {
    let seeds: u64 = std::env::var("INCREMENTAL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let steps: usize = std::env::var("INCREMENTAL_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let (mut scoped_requests, mut wide_requests) = (0, 0);
    let mut runs = 0;
    let mut fallbacks = Vec::new();
    for seed in 0..seeds {
        let tenant = match std::env::var("INCREMENTAL_PRESET").as_deref() {
            Ok("small") => SimConfig::small(200 + seed),
            _ => SimConfig::tiny(200 + seed),
        };
        let sim = Sim::start(tenant);
        let h = sim.h();
        h.set_audit_config(AuditConfig {
            visibility_delay_ms: 100,
            visibility_jitter_ms: 300,
            duplicate_rate: 0.3,
            rate_limit_per_sec: None,
            nesting: if seed % 2 == 0 {
                NestingAudit::MemberOfGroup
            } else {
                NestingAudit::GroupUpdated
            },
            dynamic_membership: seed % 3 == 0,
            cascades: seed % 5 == 0,
            ..AuditConfig::default()
        });
        let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
        let config = sim.config();
        let start = now();
        let base = full_sync(&transport, &config);
        let mark = Mark {
            high_water: start,
            record_ids: HashSet::new(),
        };
        let applied = h.apply_random_changes(seed, steps);
        let kinds: Vec<_> = applied.iter().map(|c| c.kind).collect();
        // The first run may miss records not yet visible; the second
        // reads them through the overlap.
        let first = incremental_scoped(&transport, &config, &base, &mark);
        std::thread::sleep(Duration::from_millis(500));
        let scoped = first.and_then(|(s1, m1, r1)| {
            incremental_scoped(&transport, &config, &s1, &m1).map(|(s, m, r2)| (s, m, r1 + r2))
        });
        let before = transport.counters().logical;
        let wide = incremental(&transport, &config, &base, &mark)
            .and_then(|(s1, m1, _)| incremental(&transport, &config, &s1, &m1));
        let wide_cost = transport.counters().logical - before;
        let fresh = full_sync(&transport, &config);
        match (scoped, wide) {
            (Ok((got, _, cost)), Ok((got_wide, _, _))) => {
                runs += 1;
                assert_same(&format!("seed {seed} {kinds:?} (batched)"), &got, &fresh);
                assert_same(&format!("seed {seed} {kinds:?} (0.1.3)"), &got_wide, &fresh);
                scoped_requests += cost;
                wide_requests += wide_cost;
            }
            (Err(a), Err(_)) => fallbacks.push((seed, a)),
            (a, b) => panic!(
                "seed {seed}: the feeds disagree on a full sync: batched {:?}, 0.1.3 {:?}",
                a.err(),
                b.err()
            ),
        }
    }
    eprintln!(
        "{runs} incremental, requests batched {scoped_requests} vs 0.1.3 {wide_requests}, \
         fallbacks: {fallbacks:?}"
    );
    assert!(
        runs * 2 >= seeds as usize,
        "too few incremental runs: {fallbacks:?}"
    );
    assert!(
        scoped_requests < wide_requests,
        "batched {scoped_requests} requests, 0.1.3 {wide_requests}"
    );
}

/// The benchmark's mix of changes (tests/e2e/examples/sync_bench.rs
/// `REALISTIC_CHANGE_MIX`): mostly user updates and membership changes.
const REALISTIC_CHANGE_MIX: &[(pingone_sim::ChangeKind, u32)] = {
    use pingone_sim::ChangeKind::*;
    &[
        (UpdateUser, 34),
        (DynamicAttribute, 4),
        (DisableUser, 4),
        (EnableUser, 2),
        (LockUser, 1),
        (UnlockUser, 1),
        (CreateUser, 6),
        (DeleteUser, 2),
        (MoveUser, 1),
        (AddMembership, 24),
        (RemoveMembership, 15),
        (AssignUserRole, 2),
        (AssignGroupRole, 1),
        (RemoveRoleAssignment, 1),
        (CreateGroup, 1),
        (UpdateGroup, 1),
    ]
};

/// Requests per change of a batched incremental sync after the
/// benchmark's mix of changes, on a tenant of 1,000 users.
#[test]
fn a_batched_incremental_sync_costs_about_a_request_per_change() {
    let sim = Sim::start(SimConfig::medium(7));
    let h = sim.h();
    h.set_audit_config(AuditConfig {
        rate_limit_per_sec: None,
        nesting: NestingAudit::MemberOfGroup,
        ..AuditConfig::default()
    });
    let transport = Transport::new(&h.token_url(), h.client_id(), h.client_secret());
    let config = sim.config();
    let start = now();
    let base = full_sync(&transport, &config);
    let mark = Mark {
        high_water: start,
        record_ids: HashSet::new(),
    };
    let changes = h.apply_weighted_changes(7, 300, REALISTIC_CHANGE_MIX).len();
    let before = transport.counters();
    let (got, _, requests) = incremental_scoped(&transport, &config, &base, &mark).unwrap();
    let after = transport.counters();
    let routes: Vec<(String, u64)> = after
        .by_route
        .iter()
        .map(|(k, v)| (k.clone(), v - before.by_route.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    eprintln!("{changes} changes, {requests} requests: {routes:?}");
    let fresh = full_sync(&transport, &config);
    assert_same("medium tenant, realistic mix", &got, &fresh);
    assert!(
        requests as usize <= changes * 3 / 2,
        "{requests} requests for {changes} changes: {routes:?}"
    );
}
