//! Targeted syncs read only the resources they name.
//!
//! A sync naming resources (Baton's `partial` sync, ConductorOne's
//! `targeted_sync_resources`) must not traverse the tenant: it reads each
//! target with `get-resource` (contract 0.1.3), lists that resource's
//! entitlements and grants, and reads the grants' principals it lacks. The
//! calls it makes are counted exactly, and what it stores must equal what
//! `c1z::extract_targeted` cuts from a full sync of the same directory.
//! A component without the getter (built for 0.1.0) still loads, and is
//! refused a targeted sync with a message saying why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use connector_runtime::c1z::{self, pb};
use connector_runtime::sync::{SyncError, SyncOptions, SyncSummary, run_sync};
use connector_runtime::targeted::SyncTarget;
use connector_runtime::{CallError, Limits, Plugin};
use e2e_tests::components::{self, DIRECTORY, SECRET_PROBE};
use e2e_tests::server::{Reply, TestServer};
use e2e_tests::{adversary, instance, resource_id, runtime};
use serde_json::json;

/// Two pages of users, three groups; `ghost` is a member no user file has.
async fn directory_server(with_ghost: bool) -> TestServer {
    let server = TestServer::start().await;
    server.route(
        "/dir/users.json",
        Reply::ok(json!({
            "items": [
                {"id": "u1", "login": "ada", "email": "ada@example.test", "name": "Ada",
                 "attributes": {"dept": "eng"}},
                {"id": "u2", "login": "bob", "active": false}
            ],
            "next": "users.json?page=2"
        })),
    );
    server.route(
        "/dir/users.json?page=2",
        Reply::ok(json!([{"id": "u3"}, {"id": "u4"}])),
    );
    let mut eng = vec!["u1", "u3"];
    if with_ghost {
        eng.push("ghost");
    }
    server.route(
        "/dir/groups.json",
        Reply::ok(json!([
            {"id": "g1", "name": "Engineering", "members": eng},
            {"id": "g2", "name": "Sales", "members": ["u2", "u4"]},
            {"id": "g3", "name": "Empty"}
        ])),
    );
    server
}

async fn directory() -> Arc<Plugin> {
    runtime()
        .load_file(&components::component(DIRECTORY), None)
        .await
        .expect("loading the directory component")
}

async fn sync(
    plugin: &Arc<Plugin>,
    server: &TestServer,
    file: &Path,
    targets: Vec<SyncTarget>,
) -> Result<SyncSummary, SyncError> {
    let url = format!("{}/dir", server.url());
    let inst = instance(
        plugin,
        "directory",
        &[("directory-url", &url)],
        Limits::default(),
    )
    .expect("config");
    let options = SyncOptions {
        concurrency: 2,
        checkpoint_interval: Duration::from_millis(200),
        targets,
        ..SyncOptions::default()
    };
    run_sync(plugin, &inst, file, &options).await
}

fn target(t: &str, r: &str) -> SyncTarget {
    SyncTarget {
        id: resource_id(t, r),
        parent: None,
    }
}

use e2e_tests::records::SyncRecords as Records;

fn records(file: &Path) -> Records {
    e2e_tests::records::only_sync(file)
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> String) -> Vec<String> {
    items.iter().map(id).collect()
}

fn resource_key(r: &pb::Resource) -> String {
    let i = r.id.as_ref().expect("an id");
    format!("{}:{}", i.resource_type, i.resource)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_sync_makes_only_its_targets_calls_and_matches_a_cut_of_the_full_sync() {
    let plugin = directory().await;
    assert_eq!(plugin.targeted_types, ["user", "group"]);
    assert!(!plugin.targetable_types().is_empty());
    let server = directory_server(false).await;
    let dir = tempfile::tempdir().unwrap();

    // The full sync: users (2 pages), groups (1), and each of the three
    // groups' entitlements and grants (6).
    let full_file = dir.path().join("full.c1z");
    let full = sync(&plugin, &server, &full_file, Vec::new())
        .await
        .expect("full sync");
    assert_eq!(full.calls, 9);
    let full_id = full.sync_id.clone();

    let cut_file = dir.path().join("cut.c1z");
    let targets = [
        pb::ResourceId {
            resource_type: "group".into(),
            resource: "g1".into(),
            ..Default::default()
        },
        pb::ResourceId {
            resource_type: "group".into(),
            resource: "missing".into(),
            ..Default::default()
        },
    ];
    let cut = c1z::extract_targeted(
        &full_file,
        &full_id,
        &targets,
        &cut_file,
        &Default::default(),
    )
    .expect("cutting the targets out of the full sync");
    assert_eq!(cut.missing_targets, ["group:missing"]);

    // The targeted sync: a read of each target (2), g1's entitlements and
    // grants (2), and a read of each of g1's members (u1, u3): 6 calls,
    // none of them a listing of users or groups.
    let requests_before = server.seen().len();
    let targeted_file = dir.path().join("targeted.c1z");
    let targeted = sync(
        &plugin,
        &server,
        &targeted_file,
        vec![target("group", "g1"), target("group", "missing")],
    )
    .await
    .expect("targeted sync");
    assert_eq!(targeted.calls, 6, "{targeted:?}");
    assert!(
        targeted
            .warnings
            .iter()
            .any(|w| w.contains("targeted resource group:missing not found")),
        "{:?}",
        targeted.warnings
    );
    assert!(server.seen().len() > requests_before, "it made requests");

    let got = records(&targeted_file);
    let want = records(&cut_file);
    assert_eq!(got.sync_type, "partial");
    assert_eq!(want.sync_type, "partial");
    assert_eq!(
        ids(&got.resources, resource_key),
        ["group:g1", "user:u1", "user:u3"]
    );
    assert_eq!(
        ids(&got.entitlements, |e| e.id.clone()),
        ["group:g1:member"]
    );
    assert_eq!(
        ids(&got.grants, |g| g.id.clone()),
        ["group:g1:member:user:u1", "group:g1:member:user:u3"]
    );
    // Record for record, what the full sync held for these resources.
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_whose_principal_is_gone_is_skipped_with_a_warning() {
    let plugin = directory().await;
    let server = directory_server(true).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targeted.c1z");
    let summary = sync(&plugin, &server, &file, vec![target("group", "g1")])
        .await
        .expect("targeted sync");
    // g1, its entitlements and grants, and u1, u3 and ghost.
    assert_eq!(summary.calls, 6, "{summary:?}");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("principal user:ghost") && w.contains("grants are skipped")),
        "{:?}",
        summary.warnings
    );
    let got = records(&file);
    assert_eq!(
        ids(&got.grants, |g| g.id.clone()),
        ["group:g1:member:user:u1", "group:g1:member:user:u3"]
    );
    // A user target has no entitlements or grants (its type skips them).
    let file = dir.path().join("user.c1z");
    let summary = sync(&plugin, &server, &file, vec![target("user", "u2")])
        .await
        .expect("targeted sync of a user");
    assert_eq!(summary.calls, 1);
    assert_eq!(ids(&records(&file).resources, resource_key), ["user:u2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_without_the_getter_loads_and_is_refused_a_targeted_sync() {
    // Built for contract 0.1.0: no resource-getter export.
    let plugin = runtime()
        .load_file(&components::component(SECRET_PROBE), None)
        .await
        .expect("a 0.1.0 component still loads");
    assert!(plugin.targeted_types.is_empty());
    assert!(plugin.targetable_types().is_empty());
    let resource_type = plugin.metadata.resource_types[0].id.clone();
    let server = directory_server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targeted.c1z");
    let url = format!("{}/dir", server.url());
    let values: Vec<(String, String)> = plugin
        .metadata
        .config_schema
        .iter()
        .filter(|f| f.required)
        .map(|f| (f.name.clone(), url.clone()))
        .collect();
    let values: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let inst = instance(&plugin, "probe", &values, Limits::default()).expect("config");
    let options = SyncOptions {
        targets: vec![target(&resource_type, "x")],
        ..SyncOptions::default()
    };
    let e = run_sync(&plugin, &inst, &file, &options)
        .await
        .expect_err("a targeted sync needs the getter");
    let text = e.to_string();
    assert!(
        text.contains("cannot read single resources") && text.contains(&resource_type),
        "{text}"
    );
    assert!(!file.exists(), "nothing was published");
    assert_eq!(server.seen().len(), 0, "no request was made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_uploads_anything_but_its_target_fails_the_sync() {
    let plugin = adversary().await;
    assert_eq!(plugin.targeted_types, ["user"]);
    let dir = tempfile::tempdir().unwrap();
    for (mode, want) in [
        (
            "get-another",
            "get-resource of user:u1 uploaded resource user:u2 instead",
        ),
        (
            "get-gone-but-uploads",
            "get-resource of user:u1 answered \"not found\" but uploaded 1 records",
        ),
    ] {
        let inst = instance(&plugin, mode, &[("mode", mode)], Limits::default()).unwrap();
        let options = SyncOptions {
            targets: vec![target("user", "u1")],
            ..SyncOptions::default()
        };
        let file = dir.path().join(format!("{mode}.c1z"));
        match run_sync(&plugin, &inst, &file, &options).await {
            Err(SyncError::Call {
                task,
                error: CallError::InvalidRecord(m),
            }) => {
                assert_eq!(task, "get-resource of user:u1", "{mode}");
                assert!(m.contains(want), "{mode}: {m}");
            }
            other => panic!("{mode}: expected an invalid record, got {other:?}"),
        }
        assert!(!file.exists(), "{mode}: nothing was published");
    }
    // The same component reading honestly: one call, one user.
    let inst = instance(
        &plugin,
        "honest",
        &[("mode", "well-behaved")],
        Limits::default(),
    )
    .unwrap();
    let options = SyncOptions {
        targets: vec![target("user", "u1")],
        ..SyncOptions::default()
    };
    let file = dir.path().join("honest.c1z");
    let summary = run_sync(&plugin, &inst, &file, &options).await.unwrap();
    assert_eq!(summary.calls, 1);
    assert_eq!(ids(&records(&file).resources, resource_key), ["user:u1"]);
}

use e2e_tests::run_host as host;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_syncs_the_resources_it_is_given_and_claims_targeted_sync() {
    let server = directory_server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.c1z");
    let component = components::component(DIRECTORY).display().to_string();
    let cache = dir.path().join("cache").display().to_string();
    let (ok, stdout, stderr) = host(vec![
        "--component".into(),
        component.clone(),
        "--cache-dir".into(),
        cache.clone(),
        "--directory-url".into(),
        format!("{}/dir", server.url()),
        "--file".into(),
        file.display().to_string(),
        "--sync-resources".into(),
        "group:g1,group:missing".into(),
    ])
    .await;
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("targeted resource group:missing not found"),
        "{stderr}"
    );
    let got = records(&file);
    assert_eq!(got.sync_type, "partial");
    assert_eq!(
        ids(&got.resources, resource_key),
        ["group:g1", "user:u1", "user:u3"]
    );

    // A malformed target is refused before anything runs.
    let (ok, _, stderr) = host(vec![
        "--component".into(),
        component.clone(),
        "--cache-dir".into(),
        cache.clone(),
        "--directory-url".into(),
        format!("{}/dir", server.url()),
        "--file".into(),
        dir.path().join("other.c1z").display().to_string(),
        "--sync-resources".into(),
        "g1".into(),
    ])
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("--sync-resources") && stderr.contains("<resource-type>:<resource-id>"),
        "{stderr}"
    );

    // Capabilities: claimed by the component that reads single resources,
    // not by one built for 0.1.0.
    let capabilities = |component: String| {
        let cache = cache.clone();
        async move {
            let (ok, stdout, stderr) = host(vec![
                "--component".into(),
                component,
                "--cache-dir".into(),
                cache,
                "capabilities".into(),
            ])
            .await;
            assert!(ok, "{stderr}");
            stdout
        }
    };
    let claimed = capabilities(component).await;
    assert!(claimed.contains("CAPABILITY_TARGETED_SYNC"), "{claimed}");
    assert!(
        claimed.contains("CAPABILITY_SERVICE_MODE_TARGETED_SYNC"),
        "{claimed}"
    );
    let probe = components::component(SECRET_PROBE).display().to_string();
    let unclaimed = capabilities(probe).await;
    assert!(unclaimed.contains("CAPABILITY_SYNC"), "{unclaimed}");
    assert!(!unclaimed.contains("TARGETED_SYNC"), "{unclaimed}");
}
