//! The change feed against the simulator, driven the way the host's
//! incremental sync drives it (host/runtime/src/incremental.rs): a full
//! sync, random changes, the change log read from the mark minus an
//! overlap (records the previous run applied dropped), the re-reads
//! applied to a copy of the last sync, and the result compared record for
//! record with a fresh full sync.
//!
//! Also: every principal's `list-principal-grants` equals the full sync's
//! grants of that principal, exactly.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{CallHost, Driver, Store, Transport, entitlement_id, grant_id, rid, sim_config};
use connector_sdk::{
    Change, Config, Connector, Context, Entitlement, Grant, Resource, ResourceId, SkipTasks,
    SyncOp, SyncTask, Timestamp,
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
