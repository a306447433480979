//! Incremental syncs re-read only what the change log names, publish a
//! snapshot equal to a fresh full sync's, and fall back to a full sync,
//! saying why, whenever the log cannot prove the result complete.
//!
//! The directory component (contract 0.1.3) reads `changes.json`; the test
//! keeps a model of the directory, publishes it on a loopback server and
//! records a change entry for each mutation it applies, as an upstream's
//! audit log would: the record itself, and a `membership` entry for the
//! user and a `group` entry for the group (its profile counts members)
//! when a membership changes.
//!
//! The adversary component (contract 0.1.4) stands for a batched change
//! feed that breaks its rules: each refused answer ends the re-reads, and
//! the run falls back to a full sync that says why.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_runtime::c1z::C1zReader;
use connector_runtime::incremental::{
    IncrementalOptions, IncrementalSummary, SyncMode, run_incremental_sync,
};
use connector_runtime::sync::{SyncError, SyncOptions};
use connector_runtime::{Limits, Plugin};
use e2e_tests::components::{self, DIRECTORY};
use e2e_tests::server::{Reply, TestServer};
use e2e_tests::{instance, runtime};
use serde_json::{Value, json};

/// The directory's data and its change log.
#[derive(Default, Clone)]
struct Directory {
    users: BTreeMap<String, Value>,
    /// Group id -> (name, member ids).
    groups: BTreeMap<String, (String, Vec<String>)>,
    changes: Vec<Value>,
    /// Serve the change log in pages of this many records (0: one page).
    change_page: usize,
    /// Serve the groups in pages of this many (0: one page).
    group_page: usize,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Directory {
    fn seeded() -> Self {
        let mut d = Directory::default();
        for (id, name) in [("u1", "Ada"), ("u2", "Bob"), ("u3", "Cy"), ("u4", "Di")] {
            d.users.insert(
                id.into(),
                json!({"id": id, "login": id, "name": name, "email": format!("{id}@example.test")}),
            );
        }
        d.groups.insert(
            "g1".into(),
            ("Engineering".into(), vec!["u1".into(), "u3".into()]),
        );
        d.groups.insert(
            "g2".into(),
            ("Sales".into(), vec!["u2".into(), "u4".into()]),
        );
        d.groups.insert("g3".into(), ("Empty".into(), vec![]));
        d
    }

    fn record(&mut self, kind: &str, target: &str) {
        let id = format!("c{}", self.changes.len() + 1);
        self.changes
            .push(json!({"id": id, "at": now(), "kind": kind, "target": target}));
    }

    fn set_user(&mut self, id: &str, user: Value) {
        self.users.insert(id.into(), user);
        self.record("user", id);
    }

    fn delete_user(&mut self, id: &str) {
        self.users.remove(id);
        self.record("user", id);
        let holding: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, (_, m))| m.iter().any(|u| u == id))
            .map(|(g, _)| g.clone())
            .collect();
        for g in holding {
            self.groups.get_mut(&g).unwrap().1.retain(|u| u != id);
            self.record("group", &g);
        }
    }

    fn add_member(&mut self, group: &str, user: &str) {
        self.groups.get_mut(group).unwrap().1.push(user.into());
        self.record("membership", user);
        self.record("group", group);
    }

    fn remove_member(&mut self, group: &str, user: &str) {
        self.groups.get_mut(group).unwrap().1.retain(|u| u != user);
        self.record("membership", user);
        self.record("group", group);
    }

    fn set_group(&mut self, id: &str, name: &str, members: &[&str]) {
        self.groups.insert(
            id.into(),
            (name.into(), members.iter().map(|m| m.to_string()).collect()),
        );
        self.record("group", id);
        for m in members {
            self.record("membership", m);
        }
    }

    fn delete_group(&mut self, id: &str) {
        let (_, members) = self.groups.remove(id).unwrap();
        self.record("group", id);
        for m in members {
            self.record("membership", &m);
        }
    }

    fn publish(&self, server: &TestServer) {
        let users: Vec<&Value> = self.users.values().collect();
        server.route("/dir/users.json", Reply::ok(json!(users)));
        let groups: Vec<Value> = self
            .groups
            .iter()
            .map(|(id, (name, members))| json!({"id": id, "name": name, "members": members}))
            .collect();
        publish_paged(server, "groups.json", &groups, self.group_page);
        publish_paged(server, "changes.json", &self.changes, self.change_page);
    }
}

/// Serves `items` as `/dir/<name>`, in pages of `per_page` linked by
/// `next` (0: one bare list).
fn publish_paged(server: &TestServer, name: &str, items: &[Value], per_page: usize) {
    if per_page == 0 {
        server.route(&format!("/dir/{name}"), Reply::ok(json!(items)));
        return;
    }
    let pages: Vec<&[Value]> = items.chunks(per_page).collect();
    for (i, page) in pages.iter().enumerate() {
        let path = if i == 0 {
            format!("/dir/{name}")
        } else {
            format!("/dir/{name}?page={}", i + 1)
        };
        let next = (i + 1 < pages.len()).then(|| format!("{name}?page={}", i + 2));
        server.route(&path, Reply::ok(json!({"items": page, "next": next})));
    }
}

async fn directory_plugin() -> Arc<Plugin> {
    runtime()
        .load_file(&components::component(DIRECTORY), None)
        .await
        .expect("loading the directory component")
}

async fn sync(
    plugin: &Arc<Plugin>,
    server: &TestServer,
    file: &Path,
    incremental: &IncrementalOptions,
) -> IncrementalSummary {
    sync_at(plugin, server, file, incremental, "dir").await
}

async fn sync_at(
    plugin: &Arc<Plugin>,
    server: &TestServer,
    file: &Path,
    incremental: &IncrementalOptions,
    dir: &str,
) -> IncrementalSummary {
    let url = format!("{}/{dir}", server.url());
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
        ..SyncOptions::default()
    };
    run_incremental_sync(plugin, &inst, file, &options, incremental)
        .await
        .expect("sync")
}

use e2e_tests::records::SyncRecords as Records;

/// The default (latest full) sync's records, sorted.
fn records(file: &Path) -> Records {
    let r = e2e_tests::records::default_sync(file);
    assert_eq!(r.sync_type, "full");
    r
}

/// A fresh full sync of what the server publishes now, into its own file.
async fn fresh_full(plugin: &Arc<Plugin>, server: &TestServer, dir: &Path) -> Records {
    let file = dir.join(format!("fresh-{}.c1z", now_nanos()));
    let s = sync(plugin, server, &file, &IncrementalOptions::default()).await;
    assert_eq!(s.mode, SyncMode::Full);
    records(&file)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Requests made since `before`, as paths without the `/dir/` prefix.
fn requested_since(server: &TestServer, before: usize) -> Vec<String> {
    server.seen()[before..]
        .iter()
        .map(|s| s.target.trim_start_matches("/dir/").to_string())
        .collect()
}

/// A file with one finished full sync of the seeded directory (which
/// stored a mark), the server publishing it.
async fn synced_once() -> (Arc<Plugin>, TestServer, Directory, tempfile::TempDir) {
    let plugin = directory_plugin().await;
    let server = TestServer::start().await;
    let d = Directory::seeded();
    d.publish(&server);
    let dir = tempfile::tempdir().unwrap();
    let first = sync(
        &plugin,
        &server,
        &dir.path().join("s.c1z"),
        &IncrementalOptions::default(),
    )
    .await;
    assert_eq!(first.mode, SyncMode::Full);
    let why = first.fallback.as_deref().unwrap_or_default();
    assert!(why.contains("no finished sync"), "{why}");
    (plugin, server, d, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_directory_is_not_read_again() {
    let (plugin, server, _d, dir) = synced_once().await;
    let file = dir.path().join("s.c1z");
    let before = server.seen().len();
    let s = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
    assert_eq!(s.fallback, None);
    // One read of the (empty) change log, nothing else.
    assert_eq!(requested_since(&server, before), ["changes.json"]);
    assert_eq!(s.change_pages, 1);
    assert_eq!((s.resources_reread, s.principals_reread), (0, 0));
    assert_eq!(s.sync.calls, 1);
    // Still a complete snapshot, equal to a fresh full sync.
    assert_eq!(
        records(&file),
        fresh_full(&plugin, &server, dir.path()).await
    );
    assert_eq!(s.sync.resources.iter().map(|(_, n)| n).sum::<u64>(), 7);
    assert_eq!(s.sync.grants, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_records_are_re_read_and_the_snapshot_equals_a_full_sync() {
    let (plugin, server, mut d, dir) = synced_once().await;
    let file = dir.path().join("s.c1z");
    let first = C1zReader::open(&file)
        .unwrap()
        .default_sync()
        .unwrap()
        .unwrap()
        .sync_id;
    let mut u1 = d.users["u1"].clone();
    u1["name"] = json!("Ada Lovelace");
    d.set_user("u1", u1);
    d.set_user("u2", json!({"id": "u2", "login": "u2", "active": false}));
    d.set_user("u5", json!({"id": "u5", "login": "u5", "name": "Eve"}));
    d.add_member("g1", "u5");
    d.remove_member("g1", "u3");
    d.delete_user("u4");
    d.set_group("g4", "Ops", &["u1", "u2"]);
    d.delete_group("g3");
    d.groups.get_mut("g2").unwrap().0 = "Sales EMEA".into();
    d.record("group", "g2");
    d.publish(&server);

    let before = server.seen().len();
    let s = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
    // Resources: u1, u2, u5, u4, g1, g2, g3, g4; principals: u5, u3, u1,
    // u2 (each once, however often named).
    assert_eq!(s.resources_reread, 8);
    assert_eq!(s.principals_reread, 4);
    // One page of the log, a read of each resource, the entitlements and
    // grants of the three groups found, each principal's grants: no
    // listing of users or groups.
    assert_eq!(s.sync.calls, 1 + 8 + 3 + 3 + 4);
    let requests = requested_since(&server, before);
    assert_eq!(requests.iter().filter(|r| *r == "users.json").count(), 4);
    assert_eq!(
        records(&file),
        fresh_full(&plugin, &server, dir.path()).await
    );

    // The next run applies nothing twice: the overlap's records are
    // recognised and skipped.
    let before = server.seen().len();
    let again = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(again.mode, SyncMode::Incremental, "{:?}", again.fallback);
    assert_eq!((again.resources_reread, again.principals_reread), (0, 0));
    assert!(again.skipped_records > 0);
    assert_eq!(requested_since(&server, before), ["changes.json"]);
    assert_eq!(
        records(&file),
        fresh_full(&plugin, &server, dir.path()).await
    );

    // Both runs refreshed the first sync in place: one sync, its id kept.
    let reader = C1zReader::open(&file).unwrap();
    let syncs: Vec<String> = reader
        .syncs()
        .unwrap()
        .into_iter()
        .map(|s| s.sync_id)
        .collect();
    assert_eq!(syncs, [first]);
}

/// A principal's grants re-read over several pages (the directory lists
/// groups one per page): what the previous sync held is dropped with the
/// first page only, so every page's grants stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principal_re_read_over_several_pages_keeps_every_page() {
    let (plugin, server, mut d, dir) = synced_once().await;
    let file = dir.path().join("s.c1z");
    d.group_page = 1;
    // u1 joins g3 (the last page); its grant on g1 (the first page)
    // comes from its own re-read alone: g1 is not re-read.
    d.add_member("g3", "u1");
    d.publish(&server);

    let s = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
    assert_eq!((s.resources_reread, s.principals_reread), (1, 1));
    let after = records(&file);
    let held: Vec<&str> = (after.grants.iter())
        .filter(|g| g.id.ends_with("user:u1"))
        .map(|g| g.id.as_str())
        .collect();
    assert_eq!(held.len(), 2, "{held:?}");
    assert_eq!(after, fresh_full(&plugin, &server, dir.path()).await);
}

/// Runs an incremental sync expected to fall back, and checks that it ran
/// a full sync (every listing read) whose result equals a fresh one.
async fn expect_fallback(
    plugin: &Arc<Plugin>,
    server: &TestServer,
    dir: &Path,
    incremental: &IncrementalOptions,
    reason: &str,
) {
    let file = dir.join("s.c1z");
    let before = server.seen().len();
    let s = sync(plugin, server, &file, incremental).await;
    assert_eq!(s.mode, SyncMode::Full, "expected a fallback for {reason:?}");
    let why = s.fallback.clone().unwrap_or_default();
    assert!(why.contains(reason), "{why:?} does not say {reason:?}");
    let requests = requested_since(server, before);
    assert!(
        requests.iter().any(|r| r == "users.json"),
        "a full sync lists users: {requests:?}"
    );
    assert_eq!(records(&file), fresh_full(plugin, server, dir).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_change_asks_for_a_full_sync() {
    let (plugin, server, mut d, dir) = synced_once().await;
    d.users.remove("u2");
    d.groups.get_mut("g2").unwrap().1.retain(|u| u != "u2");
    d.record("policy", "p1");
    d.publish(&server);
    let o = IncrementalOptions::default();
    expect_fallback(&plugin, &server, dir.path(), &o, "kind \"policy\"").await;
    // The full sync stored a mark: the next run is incremental again.
    let s = sync(&plugin, &server, &dir.path().join("s.c1z"), &o).await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_failed_change_log_read_falls_back() {
    let (plugin, server, _d, dir) = synced_once().await;
    let o = IncrementalOptions::default();
    server.route(
        "/dir/changes.json",
        Reply::Json(
            403,
            json!({"error": "missing audit_reporting:read:activity"}),
        ),
    );
    expect_fallback(&plugin, &server, dir.path(), &o, "a missing permission").await;
    let why = {
        server.route(
            "/dir/changes.json",
            Reply::Json(
                403,
                json!({"error": "missing audit_reporting:read:activity"}),
            ),
        );
        let s = sync(&plugin, &server, &dir.path().join("s.c1z"), &o).await;
        s.fallback.unwrap_or_default()
    };
    assert!(why.contains("audit_reporting:read:activity"), "{why}");
    server.route("/dir/changes.json", Reply::Json(404, json!({})));
    expect_fallback(
        &plugin,
        &server,
        dir.path(),
        &o,
        "reading the change log failed",
    )
    .await;
}

/// A re-read that fails for good would fail again on every resume: the
/// incremental sync is dropped and a full sync runs instead, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_read_that_fails_for_good_falls_back_to_a_full_sync() {
    let (plugin, server, mut d, dir) = synced_once().await;
    let mut u1 = d.users["u1"].clone();
    u1["name"] = json!("Ada Lovelace");
    d.set_user("u1", u1);
    d.publish(&server);
    // The re-read of u1 is refused; the full sync's listing is not.
    let users: Vec<Value> = d.users.values().cloned().collect();
    let asked = std::sync::atomic::AtomicUsize::new(0);
    server.route(
        "/dir/users.json",
        Reply::computed(
            move |_| match asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => (403, json!({"error": "refused once"})),
                _ => (200, json!(users)),
            },
        ),
    );
    expect_fallback(
        &plugin,
        &server,
        dir.path(),
        &IncrementalOptions::default(),
        "re-reading what the change log names failed",
    )
    .await;
    // The full sync stored a mark: the next run is incremental again.
    let s = sync(
        &plugin,
        &server,
        &dir.path().join("s.c1z"),
        &IncrementalOptions::default(),
    )
    .await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_mark_another_origin_or_an_exhausted_budget_falls_back() {
    let (plugin, server, mut d, dir) = synced_once().await;
    let old = IncrementalOptions {
        max_mark_age: Duration::ZERO,
        ..IncrementalOptions::default()
    };
    expect_fallback(&plugin, &server, dir.path(), &old, "beyond the").await;

    // Three change records served one a page, with a budget of two pages.
    d.change_page = 1;
    d.set_user("u5", json!({"id": "u5"}));
    d.add_member("g3", "u5");
    d.publish(&server);
    let budget = IncrementalOptions {
        max_change_pages: 2,
        ..IncrementalOptions::default()
    };
    expect_fallback(&plugin, &server, dir.path(), &budget, "more than 2 pages").await;

    // More objects to re-read than the run allows: a full sync is cheaper.
    d.set_user("u6", json!({"id": "u6"}));
    d.set_user("u7", json!({"id": "u7"}));
    d.change_page = 0;
    d.publish(&server);
    let few = IncrementalOptions {
        max_rereads: 1,
        ..IncrementalOptions::default()
    };
    expect_fallback(&plugin, &server, dir.path(), &few, "a full sync is cheaper").await;

    // The same files under another URL: another configuration.
    let file = dir.path().join("s.c1z");
    let moved = Directory {
        change_page: 0,
        ..d.clone()
    };
    let users: Vec<&Value> = moved.users.values().collect();
    server.route("/other/users.json", Reply::ok(json!(users)));
    let groups: Vec<Value> = moved
        .groups
        .iter()
        .map(|(id, (name, members))| json!({"id": id, "name": name, "members": members}))
        .collect();
    server.route("/other/groups.json", Reply::ok(json!(groups)));
    server.route("/other/changes.json", Reply::ok(json!(moved.changes)));
    let s = sync_at(
        &plugin,
        &server,
        &file,
        &IncrementalOptions::default(),
        "other",
    )
    .await;
    assert_eq!(s.mode, SyncMode::Full);
    let why = s.fallback.unwrap_or_default();
    assert!(why.contains("another component or configuration"), "{why}");

    let forced = IncrementalOptions {
        force_full: Some("the scheduled full sync".into()),
        ..IncrementalOptions::default()
    };
    let s = sync_at(&plugin, &server, &file, &forced, "other").await;
    assert_eq!(s.mode, SyncMode::Full);
    assert_eq!(s.fallback.as_deref(), Some("the scheduled full sync"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_incremental_sync_is_finished_by_the_next_run() {
    let (plugin, server, mut d, dir) = synced_once().await;
    let file = dir.path().join("s.c1z");
    d.add_member("g3", "u1");
    d.delete_user("u2");
    d.publish(&server);
    // Stopped before any re-read: the prepared sync (the copy, the
    // deletions, the queued re-reads and the mark) is committed.
    let url = format!("{}/dir", server.url());
    let inst = instance(
        &plugin,
        "directory",
        &[("directory-url", &url)],
        Limits::default(),
    )
    .unwrap();
    let stopped = SyncOptions {
        concurrency: 2,
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..SyncOptions::default()
    };
    let e = run_incremental_sync(
        &plugin,
        &inst,
        &file,
        &stopped,
        &IncrementalOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SyncError::Interrupted), "{e}");
    let s = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(s.mode, SyncMode::Resumed);
    assert_eq!(
        records(&file),
        fresh_full(&plugin, &server, dir.path()).await
    );
    // Its mark was kept: the run after it is incremental and reads nothing.
    let before = server.seen().len();
    let next = sync(&plugin, &server, &file, &IncrementalOptions::default()).await;
    assert_eq!(next.mode, SyncMode::Incremental, "{:?}", next.fallback);
    assert_eq!(requested_since(&server, before), ["changes.json"]);
}

use e2e_tests::run_host as host;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_syncs_incrementally_with_the_flag_and_says_how() {
    let server = TestServer::start().await;
    let mut d = Directory::seeded();
    d.publish(&server);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.c1z");
    let args = vec![
        "--component".to_string(),
        components::component(DIRECTORY).display().to_string(),
        "--cache-dir".into(),
        dir.path().join("cache").display().to_string(),
        "--directory-url".into(),
        format!("{}/dir", server.url()),
        "--file".into(),
        file.display().to_string(),
        "--incremental".into(),
    ];
    let (ok, stdout, stderr) = host(args.clone()).await;
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("full sync instead of an incremental one: the file holds no finished sync"),
        "{stdout}"
    );
    d.add_member("g3", "u1");
    d.publish(&server);
    let (ok, stdout, stderr) = host(args).await;
    assert!(ok, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("incremental sync: 1 change pages"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 resources and 1 principals re-read"),
        "{stdout}"
    );
    assert_eq!(
        records(&file),
        fresh_full(&directory_plugin().await, &server, dir.path()).await
    );
}

/// The adversary in `mode` synced twice into one file: a full sync, then
/// an incremental one from the change log it makes up.
async fn adversary_twice(mode: &str) -> IncrementalSummary {
    let plugin = e2e_tests::adversary().await;
    let inst =
        instance(&plugin, "adversary", &[("mode", mode)], Limits::default()).expect("config");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.c1z");
    let options = SyncOptions {
        concurrency: 2,
        ..SyncOptions::default()
    };
    let incremental = IncrementalOptions::default();
    let run = || run_incremental_sync(&plugin, &inst, &file, &options, &incremental);
    let first = run().await.expect("the first sync");
    assert_eq!(first.mode, SyncMode::Full, "{mode}");
    let second = run().await.expect("the second sync");
    // Whatever ran, the file holds a complete snapshot: both users.
    assert_eq!(records(&file).resources.len(), 2, "{mode}");
    second
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_re_reads_run_incrementally_through_the_batched_feed() {
    let s = adversary_twice("batched-well-behaved").await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
    assert!(s.batched);
    assert_eq!(s.resources_reread, 2);
    // One page of the log and one get-resources call for both users.
    assert_eq!(s.sync.calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_batched_feed_is_read_through_change_feed() {
    let s = adversary_twice("change-feed-only").await;
    assert_eq!(s.mode, SyncMode::Incremental, "{:?}", s.fallback);
    assert!(!s.batched);
    assert_eq!(s.resources_reread, 1);
    // The page of the 0.1.3 log and one get-resource (the refused batched
    // page is not a page read).
    assert_eq!((s.change_pages, s.sync.calls), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batched_re_read_breaking_its_rules_falls_back_to_a_full_sync() {
    for (mode, refusal) in [
        (
            "batched-get-unasked",
            "uploaded resource user:u77, which it was not asked for",
        ),
        (
            "batched-get-both",
            "answered user:u0 both found and missing",
        ),
        (
            "scoped-grant-outside",
            "user:u1:delegate, outside its scope",
        ),
    ] {
        let s = adversary_twice(mode).await;
        assert_eq!(s.mode, SyncMode::Full, "{mode}");
        let why = s.fallback.unwrap_or_default();
        assert!(
            why.contains("re-reading what the change log names failed") && why.contains(refusal),
            "{mode}: {why}"
        );
    }
}
