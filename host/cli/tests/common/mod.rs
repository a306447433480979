//! Shared by the CLI's end-to-end tests: run `connector-host` against a
//! simulator, and read a c1z back into comparable records.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use c1z::{C1zReader, GrantFilter, pb};
use pingone_sim::SimHandle;

/// What the connector's data model says a sync of a tenant must produce,
/// derived from the simulator's ground truth: the very expectation the
/// connector's native harness checks, so both paths are held to one spec.
#[path = "../../../../guest/pingone/tests/common/expect.rs"]
pub mod expect;

/// The private side of a generated password's encryption (also used by the
/// encryption module's unit tests).
pub mod age_key;

/// `connector-host` with a clean environment configured for `sim` by the
/// `BATON_*` variables the ConductorOne manifests use.
pub fn host(sim: &SimHandle, file: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
    cmd.arg("--file")
        .arg(file)
        .arg("--log-format")
        .arg("json")
        .arg("--cache-dir")
        .arg(file.parent().unwrap().join("cache"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
    cmd
}

/// Runs `cmd` off the async runtime (the simulator shares it).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("connector-host starts"))
        .await
        .expect("the runner thread")
}

/// Panics with both streams unless the run succeeded.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every object of the default sync, by kind and id, with its encoded blob.
pub fn records(file: &Path) -> BTreeMap<String, Vec<u8>> {
    let c = contents(file);
    let mut out = BTreeMap::new();
    for (id, r) in &c.resources {
        out.insert(format!("resource {id}"), prost::Message::encode_to_vec(r));
    }
    for (id, e) in &c.entitlements {
        out.insert(
            format!("entitlement {id}"),
            prost::Message::encode_to_vec(e),
        );
    }
    for (id, g) in &c.grants {
        out.insert(format!("grant {id}"), prost::Message::encode_to_vec(g));
    }
    out
}

/// The default sync's objects, keyed by Baton id (`type:id` for resources).
#[derive(Default)]
pub struct Contents {
    pub resources: BTreeMap<String, pb::Resource>,
    pub entitlements: BTreeMap<String, pb::Entitlement>,
    pub grants: BTreeMap<String, pb::Grant>,
}

pub fn contents(file: &Path) -> Contents {
    let reader = C1zReader::open(file).expect("the artifact opens");
    let sync = reader.default_sync().unwrap().expect("a finished sync");
    let mut c = Contents::default();
    for r in reader.resources(&sync.sync_id, None) {
        let r = r.expect("a resource decodes");
        let id = r.id.clone().expect("a resource has an id");
        let key = format!("{}:{}", id.resource_type, id.resource);
        assert!(
            c.resources.insert(key.clone(), r).is_none(),
            "duplicate {key}"
        );
    }
    for e in reader.entitlements(&sync.sync_id, None) {
        let e = e.expect("an entitlement decodes");
        let key = e.id.clone();
        assert!(
            c.entitlements.insert(key.clone(), e).is_none(),
            "duplicate {key}"
        );
    }
    for g in reader.grants(&sync.sync_id, &GrantFilter::default()) {
        let g = g.expect("a grant decodes");
        let key = g.id.clone();
        assert!(c.grants.insert(key.clone(), g).is_none(), "duplicate {key}");
    }
    c
}

/// Asserts the c1z holds exactly the expected resources, entitlements and
/// grants, with immutability and expansion as the data model documents.
pub fn assert_matches_truth(c: &Contents, want: &expect::Expected) {
    diff("resources", c.resources.keys(), want.resources.iter());
    diff(
        "entitlements",
        c.entitlements.keys(),
        want.entitlements.iter(),
    );
    diff("grants", c.grants.keys(), want.grants.keys());
    for (id, spec) in &want.grants {
        let g = &c.grants[id];
        assert_eq!(
            pb::has_annotation::<pb::GrantImmutable>(&g.annotations),
            spec.immutable,
            "immutability of {id}"
        );
        let expansion = pb::find_annotation::<pb::GrantExpandable>(&g.annotations)
            .unwrap_or_else(|e| panic!("{id}: GrantExpandable does not decode: {e}"))
            .map(|x| x.entitlement_ids);
        assert_eq!(expansion, spec.expansion, "expansion of {id}");
        // A grant's entitlement and principal are records of the same sync.
        let ent = g.entitlement.as_ref().expect("grant entitlement");
        assert!(
            c.entitlements.contains_key(&ent.id),
            "{id}: entitlement {}",
            ent.id
        );
        let p = g
            .principal
            .as_ref()
            .and_then(|p| p.id.as_ref())
            .expect("principal");
        assert!(
            c.resources
                .contains_key(&format!("{}:{}", p.resource_type, p.resource)),
            "{id}: principal"
        );
    }
}

fn diff<'a>(
    what: &str,
    got: impl Iterator<Item = &'a String>,
    want: impl Iterator<Item = &'a String>,
) {
    let got: std::collections::BTreeSet<&String> = got.collect();
    let want: std::collections::BTreeSet<&String> = want.collect();
    let missing: Vec<_> = want.difference(&got).take(10).collect();
    let extra: Vec<_> = got.difference(&want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} missing (e.g. {missing:?}), {} extra (e.g. {extra:?})",
        want.difference(&got).count(),
        got.difference(&want).count()
    );
}
