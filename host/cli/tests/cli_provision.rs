//! End to end: Baton's one-shot provisioning flags of the `connector-host`
//! binary against the PingOne simulator, with the bundled component.
//!
//! Each test shares one simulator and one initial sync across its checks,
//! and checks the simulator's state (its ground truth) after every
//! operation, the idempotent repeat of each operation, and what a re-sync
//! into the same c1z records afterwards. Refusals are checked to make no
//! API call at all (the simulator's request counter does not move).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use c1z::{C1zReader, GrantFilter, pb};
use pingone_sim::{ErrorBurst, Faults, GroundTruth, ServeOptions, SimConfig, SimHandle};
use serde_json::Value;

/// One compiled-component cache for the whole test binary, warmed once, so
/// concurrent tests do not each compile the component.
fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_connector-host"))
                .arg("capabilities")
                .arg("--cache-dir")
                .arg(dir.path())
                .env_clear()
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            dir
        })
        .path()
}

/// The binary with the simulator's settings and nothing else from the
/// environment (so no proxy variable or stray `BATON_*` setting applies).
fn host(sim: &SimHandle, file: &Path) -> Command {
    let mut cmd = bare(file);
    cmd.env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
    cmd
}

fn bare(file: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
    cmd.arg("--file")
        .arg(file)
        .arg("--log-format")
        .arg("json")
        .arg("--cache-dir")
        .arg(cache_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary off the async workers (the simulator shares them).
async fn run(mut cmd: Command) -> Run {
    cache_dir();
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs the binary with `args` and expects success.
async fn ok(sim: &SimHandle, file: &Path, args: &[&str]) -> Run {
    let mut cmd = host(sim, file);
    cmd.args(args);
    let r = run(cmd).await;
    assert!(r.ok, "{args:?} failed: {r}");
    r
}

/// Runs the binary with `args` and expects failure.
async fn fails(sim: &SimHandle, file: &Path, args: &[&str]) -> Run {
    let mut cmd = host(sim, file);
    cmd.args(args);
    let r = run(cmd).await;
    assert!(!r.ok, "{args:?} should have failed: {r}");
    r
}

/// A plain run: validate and sync into `file` (a new sync in the same file).
async fn sync(sim: &SimHandle, file: &Path) {
    let r = ok(sim, file, &[]).await;
    assert!(r.stdout.contains("Synced PingOne into"), "{r}");
}

async fn grant(sim: &SimHandle, file: &Path, ent: &str, ptype: &str, pid: &str) -> Run {
    let args = [
        "--grant-entitlement",
        ent,
        "--grant-principal",
        pid,
        "--grant-principal-type",
        ptype,
    ];
    ok(sim, file, &args).await
}

async fn revoke(sim: &SimHandle, file: &Path, grant_id: &str) -> Run {
    ok(sim, file, &["--revoke-grant", grant_id]).await
}

/// Ids of the default sync's grants (Baton's `external_id`).
fn grant_ids(file: &Path) -> BTreeSet<String> {
    let reader = C1zReader::open(file).unwrap();
    let sync = reader.default_sync().unwrap().expect("a finished sync");
    reader
        .grants(&sync.sync_id, &GrantFilter::default())
        .map(|g| g.unwrap().id)
        .collect()
}

/// `type:id` of the default sync's resources, with display names.
fn resources(file: &Path) -> Vec<(String, String)> {
    let reader = C1zReader::open(file).unwrap();
    let sync = reader.default_sync().unwrap().expect("a finished sync");
    reader
        .resources(&sync.sync_id, None)
        .map(|r| {
            let r = r.unwrap();
            (r.id.clone().unwrap().external_id(), r.display_name)
        })
        .collect()
}

fn has_entitlement(file: &Path, id: &str) -> bool {
    C1zReader::open(file)
        .unwrap()
        .entitlement(id)
        .unwrap()
        .is_some()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn direct(t: &GroundTruth, user: &str, group: &str) -> usize {
    t.memberships
        .iter()
        .filter(|m| m.user_id == user && m.group_id == group)
        .count()
}

/// (role, scope type, scope id) of a subject's role assignments.
fn assignments(t: &GroundTruth, subject: &str) -> Vec<(String, String, String)> {
    t.role_assignments
        .iter()
        .filter(|a| a.subject_id == subject)
        .map(|a| {
            (
                a.role_id.clone(),
                a.scope.scope_type.clone(),
                a.scope.id.clone(),
            )
        })
        .collect()
}

const MEMBER_POST: &str = "POST /v1/environments/{env}/users/{userId}/memberOfGroups";
const GRANTED: &str = "granted";
const ALREADY_GRANTED: &str = "granted (already existed: GrantAlreadyExists)";
const REVOKED: &str = "revoked";
const ALREADY_REVOKED: &str = "revoked (already gone: GrantAlreadyRevoked)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_membership_is_granted_and_revoked_once() {
    let sim = pingone_sim::start(SimConfig::small(31), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sync(&sim, &file).await;

    let t = sim.ground_truth();
    // An environment-level static group and a user not directly in it.
    let g = t
        .groups
        .iter()
        .find(|g| g.get("population").is_none() && g.get("userFilter").is_none())
        .map(|g| s(g, "id"))
        .expect("an environment-level static group");
    let u = t
        .users
        .iter()
        .map(|u| s(u, "id"))
        .find(|u| direct(&t, u, &g) == 0)
        .expect("a user outside the group");
    let ent = format!("group:{g}:member");
    let grant_id = format!("{ent}:user:{u}");

    // The ids are the ones `inspect` shows.
    let r = ok(&sim, &file, &["inspect", "entitlements", "-t", "group"]).await;
    assert!(r.stdout.contains(&ent), "{r}");
    let r = ok(&sim, &file, &["inspect", "resources", "-t", "user"]).await;
    assert!(r.stdout.contains(&u), "{r}");

    // Grant: one membership, through the configured hosts only.
    sim.reset_stats();
    let r = grant(&sim, &file, &ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), GRANTED, "{r}");
    assert_eq!(direct(&sim.ground_truth(), &u, &g), 1);
    let stats = sim.stats();
    let routes: BTreeSet<&str> = stats.routes.keys().map(String::as_str).collect();
    assert_eq!(
        routes,
        BTreeSet::from(["POST /{env}/as/token", MEMBER_POST,]),
        "{stats:?}"
    );
    assert_eq!(
        stats.routes.values().map(|r| r.count).sum::<u64>(),
        stats.total,
        "every request was answered by the simulator's two hosts: {stats:?}"
    );
    assert_eq!((stats.total, stats.tokens_issued), (2, 1), "{stats:?}");

    // Again: success, reported as already there, and still one membership.
    let r = grant(&sim, &file, &ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), ALREADY_GRANTED, "{r}");
    assert_eq!(direct(&sim.ground_truth(), &u, &g), 1);

    // A revoke needs the grant in the c1z: a re-sync shows it.
    assert!(!grant_ids(&file).contains(&grant_id));
    sync(&sim, &file).await;
    assert!(grant_ids(&file).contains(&grant_id));
    let r = ok(&sim, &file, &["inspect", "grants", "-e", &ent]).await;
    assert!(r.stdout.contains(&u), "{r}");

    let r = revoke(&sim, &file, &grant_id).await;
    assert_eq!(r.stdout.trim(), REVOKED, "{r}");
    assert_eq!(direct(&sim.ground_truth(), &u, &g), 0);
    let r = revoke(&sim, &file, &grant_id).await;
    assert_eq!(r.stdout.trim(), ALREADY_REVOKED, "{r}");
    assert_eq!(direct(&sim.ground_truth(), &u, &g), 0);

    sync(&sim, &file).await;
    assert!(!grant_ids(&file).contains(&grant_id));
    // The other memberships are untouched.
    let expected: BTreeSet<String> = sim
        .ground_truth()
        .memberships
        .iter()
        .map(|m| format!("group:{}:member:user:{}", m.group_id, m.user_id))
        .collect();
    let ids = grant_ids(&file);
    assert!(expected.is_subset(&ids));

    // A 5xx on the POST: the host retries it (a replay of an applied grant
    // could only be refused as a duplicate), and it is applied once.
    sim.set_faults(Faults {
        error_burst: Some(ErrorBurst {
            every: 1_000_000,
            length: 1,
            status: 500,
        }),
        ..Faults::default()
    });
    sim.reset_stats();
    let r = grant(&sim, &file, &ent, "user", &u).await;
    sim.set_faults(Faults::default());
    assert_eq!(r.stdout.trim(), GRANTED, "{r}");
    let stats = sim.stats();
    assert_eq!(
        (stats.route(MEMBER_POST), stats.status(500)),
        (2, 1),
        "{stats:?}"
    );
    assert_eq!(direct(&sim.ground_truth(), &u, &g), 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_assignments_at_environment_and_population_scope() {
    let sim = pingone_sim::start(SimConfig::small(32), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sync(&sim, &file).await;

    let t = sim.ground_truth();
    let env = t.environment.id.clone();
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
        .find(|u| assignments(&t, u).is_empty())
        .expect("a user without role assignments");
    let pop = s(&t.populations[1], "id");

    // Environment scope.
    let env_ent = format!("role:{idro}:assigned");
    assert!(has_entitlement(&file, &env_ent));
    let r = grant(&sim, &file, &env_ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), GRANTED, "{r}");
    let want_env = (idro.clone(), "ENVIRONMENT".to_string(), env.clone());
    assert_eq!(
        assignments(&sim.ground_truth(), &u),
        std::slice::from_ref(&want_env)
    );
    let r = grant(&sim, &file, &env_ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), ALREADY_GRANTED, "{r}");
    assert_eq!(
        assignments(&sim.ground_truth(), &u),
        std::slice::from_ref(&want_env)
    );

    // Population scope: the entitlement the sync recorded for it.
    let pop_ent = format!("role:{helpdesk}:assigned:population:{pop}");
    assert!(has_entitlement(&file, &pop_ent));
    let r = grant(&sim, &file, &pop_ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), GRANTED, "{r}");
    let want_pop = (helpdesk.clone(), "POPULATION".to_string(), pop.clone());
    assert_eq!(
        assignments(&sim.ground_truth(), &u),
        [want_env.clone(), want_pop.clone()]
    );
    let r = grant(&sim, &file, &pop_ent, "user", &u).await;
    assert_eq!(r.stdout.trim(), ALREADY_GRANTED, "{r}");
    assert_eq!(assignments(&sim.ground_truth(), &u).len(), 2);

    // A re-sync records both grants; revoke them by their ids.
    sync(&sim, &file).await;
    let env_grant = format!("{env_ent}:user:{u}");
    let pop_grant = format!("{pop_ent}:user:{u}");
    let ids = grant_ids(&file);
    assert!(ids.contains(&env_grant) && ids.contains(&pop_grant));

    let r = revoke(&sim, &file, &env_grant).await;
    assert_eq!(r.stdout.trim(), REVOKED, "{r}");
    assert_eq!(assignments(&sim.ground_truth(), &u), [want_pop]);
    let r = revoke(&sim, &file, &env_grant).await;
    assert_eq!(r.stdout.trim(), ALREADY_REVOKED, "{r}");
    let r = revoke(&sim, &file, &pop_grant).await;
    assert_eq!(r.stdout.trim(), REVOKED, "{r}");
    assert!(assignments(&sim.ground_truth(), &u).is_empty());
    let r = revoke(&sim, &file, &pop_grant).await;
    assert_eq!(r.stdout.trim(), ALREADY_REVOKED, "{r}");
    assert!(assignments(&sim.ground_truth(), &u).is_empty());

    // A read-only assignment (recorded as an immutable grant): refused with
    // the reason, before any API call.
    let before = sim.ground_truth().role_assignments;
    let reader = C1zReader::open(&file).unwrap();
    let sync_id = reader.default_sync().unwrap().unwrap().sync_id;
    let read_only = reader
        .grants(
            &sync_id,
            &GrantFilter {
                resource_type: Some("role".into()),
                ..GrantFilter::default()
            },
        )
        .map(|g| g.unwrap())
        .find(|g| pb::has_annotation::<pb::GrantImmutable>(&g.annotations))
        .expect("a read-only role assignment in the c1z")
        .id;
    drop(reader);
    let calls = sim.stats().total;
    let r = fails(&sim, &file, &["--revoke-grant", &read_only]).await;
    assert!(
        r.stderr.contains(&format!(
            "grant {read_only} cannot be revoked directly: read-only role assignment"
        )),
        "{r}"
    );
    assert_eq!(sim.stats().total, calls, "no API call");
    assert_eq!(sim.ground_truth().role_assignments, before);

    sync(&sim, &file).await;
    let ids = grant_ids(&file);
    assert!(!ids.contains(&env_grant) && !ids.contains(&pop_grant));
    assert!(ids.contains(&read_only));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_reason_and_call_no_api() {
    let sim = pingone_sim::start(SimConfig::small(33), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    sync(&sim, &file).await;
    let t = sim.ground_truth();
    let calls = sim.stats().total;
    let unchanged = |sim: &SimHandle| {
        assert_eq!(sim.stats().total, calls, "no API call was made");
        assert_eq!(sim.ground_truth(), t, "the tenant is unchanged");
    };

    // Population membership is not provisionable, either way.
    let user = &t.users[0];
    let (u, home) = (s(user, "id"), user["population"]["id"].as_str().unwrap());
    let other = t
        .populations
        .iter()
        .map(|p| s(p, "id"))
        .find(|p| p != home)
        .unwrap();
    let args = [
        "--grant-entitlement",
        &format!("population:{other}:member"),
        "--grant-principal",
        &u,
        "--grant-principal-type",
        "user",
    ];
    let r = fails(&sim, &file, &args).await;
    assert!(
        r.stderr
            .contains("population membership is not provisionable"),
        "{r}"
    );
    unchanged(&sim);
    let pop_grant = format!("population:{home}:member:user:{u}");
    let r = fails(&sim, &file, &["--revoke-grant", &pop_grant]).await;
    assert!(
        r.stderr.contains(&format!(
            "grant {pop_grant} cannot be revoked directly: a user belongs to exactly one population"
        )),
        "{r}"
    );
    unchanged(&sim);

    // A dynamic group's member: the filter grants it.
    let dynamic = t
        .dynamic_group_members
        .iter()
        .find(|d| !d.user_ids.is_empty())
        .expect("a dynamic group with members");
    let dyn_grant = format!(
        "group:{}:member:user:{}",
        dynamic.group_id, dynamic.user_ids[0]
    );
    let r = fails(&sim, &file, &["--revoke-grant", &dyn_grant]).await;
    assert!(
        r.stderr.contains(&format!(
            "grant {dyn_grant} cannot be revoked directly: member through the group's dynamic userFilter"
        )),
        "{r}"
    );
    unchanged(&sim);

    // A member of a nested group only: the c1z has the nesting and the
    // membership of the nested group, not the derived grant.
    let dynamic_ids: BTreeSet<&str> = t
        .dynamic_group_members
        .iter()
        .map(|d| d.group_id.as_str())
        .collect();
    let (nesting, member) = t
        .nestings
        .iter()
        .filter(|n| !dynamic_ids.contains(n.parent_group_id.as_str()))
        .find_map(|n| {
            t.memberships
                .iter()
                .find(|m| {
                    m.group_id == n.child_group_id
                        && direct(&t, &m.user_id, &n.parent_group_id) == 0
                })
                .map(|m| (n, m.user_id.clone()))
        })
        .expect("a member of a nested group only");
    let (parent, child) = (&nesting.parent_group_id, &nesting.child_group_id);
    let nested_grant = format!("group:{parent}:member:user:{member}");
    let r = fails(&sim, &file, &["--revoke-grant", &nested_grant]).await;
    assert!(
        r.stderr.contains(&format!(
            "grant {nested_grant} is not in {}: user {member} holds group:{parent}:member only \
             through group:{child}:member:user:{member}, which group:{parent}:member:group:{child} \
             passes on (a nested membership)",
            file.display()
        )),
        "{r}"
    );
    unchanged(&sim);

    // Objects missing from the c1z are named, before any call.
    let g = s(&t.groups[0], "id");
    let missing_ent = "group:no-such-group:member".to_string();
    let args = [
        "--grant-entitlement",
        &missing_ent,
        "--grant-principal",
        &u,
        "--grant-principal-type",
        "user",
    ];
    let r = fails(&sim, &file, &args).await;
    assert!(
        r.stderr.contains(&format!(
            "entitlement {missing_ent} is not in {}",
            file.display()
        )),
        "{r}"
    );
    let ent = format!("group:{g}:member");
    let args = [
        "--grant-entitlement",
        &ent,
        "--grant-principal",
        "no-such-user",
        "--grant-principal-type",
        "user",
    ];
    let r = fails(&sim, &file, &args).await;
    assert!(
        r.stderr.contains(&format!(
            "principal user:no-such-user is not in {}",
            file.display()
        )),
        "{r}"
    );
    let missing_grant = format!("{ent}:user:no-such-user");
    let r = fails(&sim, &file, &["--revoke-grant", &missing_grant]).await;
    assert!(
        r.stderr.contains(&format!(
            "grant {missing_grant} is not in {}",
            file.display()
        )),
        "{r}"
    );
    unchanged(&sim);

    // Grant and revoke without a c1z at --file: told to sync first.
    let absent = dir.path().join("never-synced.c1z");
    let args = [
        "--grant-entitlement",
        &ent,
        "--grant-principal",
        &u,
        "--grant-principal-type",
        "user",
    ];
    for args in [&args[..], &["--revoke-grant", &missing_grant][..]] {
        let r = fails(&sim, &absent, args).await;
        assert!(
            r.stderr.contains(&format!(
                "grant and revoke read the last sync from --file ({}); run a sync first",
                absent.display()
            )),
            "{r}"
        );
    }
    assert!(!absent.exists());
    // An incomplete grant is a usage error.
    let r = fails(&sim, &file, &["--grant-entitlement", &ent]).await;
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("--grant-principal"), "{r}");
    // Only users can be deleted.
    let args = ["--delete-resource", &g, "--delete-resource-type", "group"];
    let r = fails(&sim, &file, &args).await;
    assert!(r.stderr.contains("only users can be deleted"), "{r}");
    unchanged(&sim);
    sim.shutdown().await;
}

/// The two lines of a created account: its id and the one-time password.
fn created(r: &Run) -> (String, Option<String>) {
    let mut id = None;
    let mut pw = None;
    for line in r.stdout.lines() {
        if let Some(x) = line.strip_prefix("created account user:") {
            id = Some(x.trim().to_string());
        }
        if let Some(x) = line.strip_prefix("one-time password (shown once): ") {
            pw = Some(x.to_string());
        }
    }
    (id.unwrap_or_else(|| panic!("no account id: {r}")), pw)
}

fn user(t: &GroundTruth, id: &str) -> Option<Value> {
    t.users.iter().find(|u| u["id"] == id).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_created_and_deleted() {
    let sim = pingone_sim::start(SimConfig::tiny(34), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Account creation and deletion need no c1z.
    let file = dir.path().join("sync.c1z");
    let default_pop = sim
        .ground_truth()
        .populations
        .iter()
        .find(|p| p["default"] == true)
        .map(|p| s(p, "id"))
        .expect("a default population");
    let users_before = sim.ground_truth().users.len();

    // Baton's default credential: a random password, printed once on
    // stdout, never logged (even at trace level).
    let args = [
        "--log-level",
        "trace",
        "--create-account-login",
        "new.person",
        "--create-account-email",
        "new.person@example.com",
        "--create-account-profile",
        r#"{"given_name": "New", "family_name": "Person"}"#,
    ];
    let r = ok(&sim, &file, &args).await;
    let (id, pw) = created(&r);
    let pw = pw.unwrap_or_else(|| panic!("no password: {r}"));
    assert!(pw.len() >= 20, "{pw}");
    assert_eq!(r.stdout.matches(pw.as_str()).count(), 1, "{r}");
    assert!(!r.stderr.contains(pw.as_str()), "the password was logged");
    assert!(!file.exists(), "provisioning writes no c1z");
    let t = sim.ground_truth();
    assert_eq!(t.users.len(), users_before + 1);
    let u = user(&t, &id).expect("the new user");
    assert_eq!(
        (
            u["username"].as_str(),
            u["email"].as_str(),
            u["name"]["given"].as_str(),
            u["name"]["family"].as_str(),
            u["population"]["id"].as_str(),
            u["enabled"].as_bool(),
        ),
        (
            Some("new.person"),
            Some("new.person@example.com"),
            Some("New"),
            Some("Person"),
            Some(default_pop.as_str()),
            Some(true),
        ),
        "{u}"
    );

    // A create whose response is lost is not repeated by the host (a replay
    // could not tell the operator the password): it fails, the user exists
    // once, and a rerun names it as the existing account.
    sim.set_faults(Faults {
        reset_rate: 1.0,
        reset_after_processing: true,
        ..Faults::default()
    });
    let args = [
        "--create-account-login",
        "lost.reply",
        "--create-account-email",
        "lost.reply@example.com",
    ];
    let r = fails(&sim, &file, &args).await;
    sim.set_faults(Faults::default());
    assert!(r.stderr.contains("creating user lost.reply"), "{r}");
    let t = sim.ground_truth();
    let lost = t.user_by_username("lost.reply").expect("created once");
    let lost = s(lost, "id");
    assert_eq!(t.users.len(), users_before + 2);
    let r = ok(&sim, &file, &args).await;
    assert_eq!(
        r.stdout.trim(),
        format!("account already exists: user:{lost} (lost.reply)"),
        "{r}"
    );
    assert_eq!(sim.ground_truth().users.len(), users_before + 2);

    // The same username (case-insensitive): the existing account, named.
    let args = [
        "--create-account-login",
        "NEW.PERSON",
        "--create-account-email",
        "other@example.com",
    ];
    let r = ok(&sim, &file, &args).await;
    assert_eq!(
        r.stdout.trim(),
        format!("account already exists: user:{id} (New Person)"),
        "{r}"
    );
    assert_eq!(sim.ground_truth().users.len(), users_before + 2);
    assert_eq!(user(&sim.ground_truth(), &id), Some(u));

    // No password, created disabled in a named population.
    let pop = sim
        .ground_truth()
        .populations
        .iter()
        .map(|p| s(p, "id"))
        .find(|p| *p != default_pop)
        .unwrap();
    let profile = format!(r#"{{"enabled": false, "population_id": "{pop}"}}"#);
    let args = [
        "--create-account-credential",
        "no-password",
        "--create-account-login",
        "temp.worker",
        "--create-account-email",
        "temp.worker@example.com",
        "--create-account-profile",
        &profile,
    ];
    let r = ok(&sim, &file, &args).await;
    let (temp, pw) = created(&r);
    assert_eq!(pw, None, "{r}");
    let tu = user(&sim.ground_truth(), &temp).expect("the second user");
    assert_eq!(
        (tu["enabled"].as_bool(), tu["population"]["id"].as_str()),
        (Some(false), Some(pop.as_str())),
        "{tu}"
    );

    // Delete, and delete again: the second is success too.
    let args = ["--delete-resource", &temp, "--delete-resource-type", "user"];
    let r = ok(&sim, &file, &args).await;
    assert_eq!(r.stdout.trim(), "deleted", "{r}");
    assert!(user(&sim.ground_truth(), &temp).is_none());
    let r = ok(&sim, &file, &args).await;
    assert_eq!(r.stdout.trim(), "deleted (already gone)", "{r}");
    assert_eq!(sim.ground_truth().users.len(), users_before + 2);

    // A sync shows the new user and not the deleted one.
    sync(&sim, &file).await;
    let res = resources(&file);
    assert!(
        res.contains(&(format!("user:{id}"), "New Person".to_string())),
        "{res:?}"
    );
    assert!(!res.iter().any(|(r, _)| *r == format!("user:{temp}")));
    let ids = grant_ids(&file);
    assert!(ids.contains(&format!("population:{default_pop}:member:user:{id}")));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_declare_provisioning_per_resource_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bare(&dir.path().join("unused.c1z"));
    cmd.arg("capabilities");
    let r = run(cmd).await;
    assert!(r.ok, "{r}");
    let caps: Value = serde_json::from_str(&r.stdout).unwrap();
    let per_type: Vec<(String, Vec<String>)> = caps["resourceTypeCapabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                s(&c["resourceType"], "id"),
                c["capabilities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect();
    let want =
        |caps: &[&str]| -> Vec<String> { caps.iter().map(|c| format!("CAPABILITY_{c}")).collect() };
    assert_eq!(
        per_type,
        [
            // Users, groups and populations are read alone in a targeted
            // sync; one role's grants take a full traversal.
            (
                "group".to_string(),
                want(&["PROVISION", "SYNC", "TARGETED_SYNC"])
            ),
            ("population".to_string(), want(&["SYNC", "TARGETED_SYNC"])),
            ("role".to_string(), want(&["PROVISION", "SYNC"])),
            (
                "user".to_string(),
                want(&[
                    "SYNC",
                    "ACCOUNT_PROVISIONING",
                    "RESOURCE_DELETE",
                    "TARGETED_SYNC"
                ])
            ),
        ]
    );
    assert_eq!(
        caps["connectorCapabilities"],
        serde_json::json!(want(&[
            "PROVISION",
            "SYNC",
            "ACCOUNT_PROVISIONING",
            "RESOURCE_DELETE",
            "TARGETED_SYNC",
            "SERVICE_MODE_TARGETED_SYNC"
        ]))
    );
    let options = &caps["credentialDetails"]["capabilityAccountProvisioning"];
    assert_eq!(
        options["supportedCredentialOptions"],
        serde_json::json!([
            "CAPABILITY_DETAIL_CREDENTIAL_OPTION_NO_PASSWORD",
            "CAPABILITY_DETAIL_CREDENTIAL_OPTION_RANDOM_PASSWORD"
        ])
    );
}

/// The bundled component, as `build.rs` embedded it in the binary.
const PINGONE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pingone.wasm"));

/// The account creation schema and the egress allowlist come from the
/// component's metadata: load it the way the binary does.
async fn metadata() -> connector_runtime::bindings::meta::ConnectorMetadata {
    let runtime = connector_runtime::Runtime::new(connector_runtime::RuntimeOptions {
        cache_dir: Some(PathBuf::from(cache_dir())),
    })
    .unwrap();
    runtime.load(PINGONE).await.unwrap().metadata.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_creation_schema_names_its_required_fields() {
    use connector_runtime::bindings::meta::AccountFieldKind;
    let meta = metadata().await;
    let fields: Vec<(&str, bool, bool)> = meta
        .account_creation_schema
        .iter()
        .map(|f| {
            (
                f.name.as_str(),
                f.required,
                matches!(f.kind, AccountFieldKind::Boolean),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("username", true, false),
            ("email", false, false),
            ("given_name", false, false),
            ("family_name", false, false),
            ("population_id", false, false),
            ("enabled", false, true),
        ]
    );
    // `connector-host config` shows operators the same schema.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .arg("config")
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shown: Vec<(&str, bool)> = config["accountCreationSchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap(),
                f["required"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(shown.len(), fields.len());
    assert!(shown.contains(&("username", true)) && shown.contains(&("email", false)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_allows_only_the_configured_pingone_hosts() {
    use connector_runtime::capabilities::egress::Denial;
    use connector_runtime::config::resolve;
    use std::collections::BTreeMap;

    let meta = metadata().await;
    let base = |extra: &[(&str, &str)]| {
        let mut v: BTreeMap<String, String> = [
            ("pingone-client-id", "client"),
            ("pingone-client-secret", "secret-value"),
            ("pingone-environment-id", "env-1"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        v.retain(|_, v| !v.is_empty());
        // The bundled component: its region defaults count.
        resolve(
            &meta,
            &v,
            connector_runtime::config::ComponentTrust::Trusted,
        )
        .unwrap()
    };
    let origins = |r: &connector_runtime::config::ResolvedConfig| -> Vec<String> {
        r.egress
            .origins()
            .iter()
            .map(|o| format!("{}://{}:{}", o.scheme, o.host, o.port))
            .collect()
    };
    let grant_path = "/v1/environments/env-1/users/u-1/memberOfGroups";

    // A simulator (or proxy) on loopback: exactly its two origins. Only the
    // policy decides here; nothing is sent anywhere.
    let api = "http://127.0.0.1:41001";
    let auth = "http://127.0.0.1:41002";
    let r = base(&[("pingone-api-url", api), ("pingone-auth-url", auth)]);
    assert_eq!(origins(&r), [api.to_string(), auth.to_string()]);
    assert!(r.egress.check_url(&format!("{api}{grant_path}")).is_ok());
    assert!(
        r.egress
            .check_url(&format!("{auth}/env-1/as/token"))
            .is_ok()
    );
    for denied in [
        format!("https://api.pingone.com{grant_path}"),
        format!("http://127.0.0.1:41003{grant_path}"),
        format!("https://127.0.0.1:41001{grant_path}"),
        format!("http://localhost:41001{grant_path}"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("https://attacker.example{grant_path}"),
    ] {
        assert!(r.egress.check_url(&denied).is_err(), "{denied} was allowed");
    }

    // The default region: PingOne's NA hosts only.
    let r = base(&[]);
    assert_eq!(
        origins(&r),
        [
            "https://api.pingone.com:443",
            "https://auth.pingone.com:443"
        ]
    );
    assert!(
        r.egress
            .check_url(&format!("https://api.pingone.com{grant_path}"))
            .is_ok()
    );
    assert!(matches!(
        r.egress
            .check_url(&format!("https://api.pingone.eu{grant_path}")),
        Err(Denial::HostNotAllowed(_))
    ));
    assert!(matches!(
        r.egress
            .check_url(&format!("https://attacker.example{grant_path}")),
        Err(Denial::HostNotAllowed(_))
    ));
    assert!(matches!(
        r.egress
            .check_url(&format!("http://api.pingone.com{grant_path}")),
        Err(Denial::Scheme(_))
    ));
    // Another region moves both hosts.
    let r = base(&[("pingone-region", "EU")]);
    assert_eq!(
        origins(&r),
        ["https://api.pingone.eu:443", "https://auth.pingone.eu:443"]
    );
    assert!(
        r.egress
            .check_url(&format!("https://api.pingone.com{grant_path}"))
            .is_err()
    );
}
