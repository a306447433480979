//! End to end: the `connector-host` binary syncs the PingOne simulator with
//! the bundled component, and a sync killed with SIGKILL resumes from its
//! checkpoint to exactly the records of an uninterrupted run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use c1z::{C1zReader, GrantFilter};
use pingone_sim::{ServeOptions, SimConfig, SimHandle};

fn host(sim: &SimHandle, file: &Path) -> Command {
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

/// Every object of the default sync, by external id, with its blob.
fn records(file: &Path) -> BTreeMap<String, Vec<u8>> {
    let reader = C1zReader::open(file).expect("the artifact opens");
    let sync = reader.default_sync().unwrap().expect("a finished sync");
    let mut out = BTreeMap::new();
    for r in reader.resources(&sync.sync_id, None) {
        let r = r.unwrap();
        let id = r.id.clone().unwrap();
        out.insert(
            format!("resource {}", id.external_id()),
            prost::Message::encode_to_vec(&r),
        );
    }
    for e in reader.entitlements(&sync.sync_id, None) {
        let e = e.unwrap();
        out.insert(
            format!("entitlement {}", e.id),
            prost::Message::encode_to_vec(&e),
        );
    }
    for g in reader.grants(&sync.sync_id, &GrantFilter::default()) {
        let g = g.unwrap();
        out.insert(format!("grant {}", g.id), prost::Message::encode_to_vec(&g));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_writes_every_simulated_object_into_the_c1z() {
    let sim = pingone_sim::start(SimConfig::small(7), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sync.c1z");
    let out = tokio::task::spawn_blocking({
        let mut cmd = host(&sim, &file);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("Synced PingOne into"), "{stdout}");
    // The secret never reaches logs or the summary.
    assert!(!stderr.contains(sim.client_secret()) && !stdout.contains(sim.client_secret()));

    let truth = sim.ground_truth();
    let recs = records(&file);
    let count = |prefix: &str| recs.keys().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(count("resource user:"), truth.users.len());
    assert_eq!(count("resource group:"), truth.groups.len());
    assert_eq!(count("resource population:"), truth.populations.len());
    assert_eq!(
        count("resource role:"),
        truth.roles.len() + truth.custom_roles.len()
    );
    for g in &truth.groups {
        let id = g["id"].as_str().unwrap();
        assert!(
            recs.contains_key(&format!("entitlement group:{id}:member")),
            "group {id}"
        );
    }
    // Every direct membership is a grant with Baton's grant id.
    for m in &truth.memberships {
        let key = format!("grant group:{}:member:user:{}", m.group_id, m.user_id);
        assert!(recs.contains_key(&key), "missing {key}");
    }
    // Every user with a population holds that population's member grant.
    for u in &truth.users {
        if let Some(p) = u["population"]["id"].as_str() {
            let key = format!(
                "grant population:{p}:member:user:{}",
                u["id"].as_str().unwrap()
            );
            assert!(recs.contains_key(&key), "missing {key}");
        }
    }
    let secret = sim.client_secret().as_bytes().to_vec();
    let raw = std::fs::read(&file).unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_slice()));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_sync_resumes_from_its_checkpoint() {
    // Enough pages that a kill lands between many checkpoints.
    let mut config = SimConfig::small(11);
    config.users = 600;
    config.users_page_max = 50;
    // Keep every call page-sized: the connector's direct-membership checks
    // (needed only with nesting or dynamic groups) may batch up to 1,000
    // users in one call, which would dwarf what a checkpoint saves.
    config.nested_fraction = 0.0;
    config.dynamic_groups = 0;
    config.faults.latency_ms = 20;
    let sim = pingone_sim::start(config, ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // The reference: one uninterrupted run.
    let reference = dir.path().join("reference.c1z");
    sim.reset_stats();
    let out = tokio::task::spawn_blocking({
        let mut cmd = host(&sim, &reference);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full_cost = sim.stats().total;

    // The interrupted run: frequent checkpoints, SIGKILL once some are taken.
    let file = dir.path().join("sync.c1z");
    sim.reset_stats();
    let mut child = host(&sim, &file)
        .arg("--checkpoint-interval")
        .arg("0.02")
        .arg("--sync-concurrency")
        .arg("1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while sim.stats().total < full_cost / 2 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before_kill = sim.stats().total;
    assert!(!file.exists(), "a killed sync must not publish");
    assert!(
        c1z::working_path(&file).exists(),
        "the working file keeps the checkpoint"
    );

    sim.reset_stats();
    let out = tokio::task::spawn_blocking({
        let mut cmd = host(&sim, &file);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Resumed and finished"), "{stdout}");
    let resume_cost = sim.stats().total;

    assert_eq!(records(&file), records(&reference));
    // Only what was not checkpointed is fetched again: the resumed run costs
    // what the first run had not done yet, plus the one call in flight at the
    // kill (a page of 50 users costs the connector at most ~2 requests per
    // user), what finished in the last 20 ms (16 in flight at 20 ms latency),
    // and the new run's validate call and token exchange: under 150.
    assert!(
        resume_cost + before_kill <= full_cost + 150,
        "resume {resume_cost} + before kill {before_kill} vs full {full_cost}"
    );
    assert!(
        resume_cost < full_cost,
        "resume {resume_cost} vs full {full_cost}"
    );
    sim.shutdown().await;
}
