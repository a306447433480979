//! End to end: `connector-host serve` with 52 tenants against simulators.
//!
//! One host process serves healthy PingOne tenants on three simulated
//! environments (one of them injecting 503s, resets and a rate limit), a
//! tenant running an adversarial component that blows its memory limit, a
//! tenant that is hot-swapped to another component build, and one whose
//! update is refused. The test checks every healthy tenant's published
//! artifact against ground truth, the containment, both swaps, the admin
//! API's authentication, that no secret reaches status, metrics or logs,
//! and that SIGTERM drains.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{age_key, assert_matches_truth, contents, expect};
use pingone_sim::{Faults, ServeOptions, SimConfig, SimHandle};
use serde_json::Value;

const TOKEN: &str = "admin-token-for-tests-0123456789";
const HEALTHY: usize = 48;

struct Host {
    child: Child,
    base: String,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Host {
    fn start(tenants: &Path, state: &Path, cache: &Path) -> Host {
        Host::start_with_slots(tenants, state, cache, 6)
    }

    /// [`Host::start`] with `slots` syncs at once across tenants.
    fn start_with_slots(tenants: &Path, state: &Path, cache: &Path, slots: usize) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_connector-host"))
            .args(["--log-format", "json", "--log-level", "info", "serve"])
            .arg("--tenants")
            .arg(tenants)
            .arg("--state-dir")
            .arg(state)
            .args(["--admin-addr", "127.0.0.1:0", "--reload-interval", "1s"])
            .arg("--max-concurrent-syncs")
            .arg(slots.to_string())
            .args(["--drain-grace", "20s"])
            .arg("--cache-dir")
            .arg(cache)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONNECTOR_HOST_ADMIN_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("connector-host starts");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("admin API listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no admin address; stderr:\n{}", stderr.lock().unwrap()));
        Host {
            child,
            base: format!("http://{addr}"),
            stdout,
            stderr,
        }
    }

    fn logs(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("admin API answers");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

async fn tenants(client: &reqwest::Client, base: &str) -> BTreeMap<String, Value> {
    let (code, body) = get(client, &format!("{base}/v1/tenants"), Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Polls until `done` holds for the tenants' status, or panics with it.
async fn wait_for(
    client: &reqwest::Client,
    base: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let started = Instant::now();
    loop {
        let t = tenants(client, base).await;
        if done(&t) {
            return t;
        }
        if started.elapsed() > timeout {
            panic!("timed out waiting for {what}: {t:#?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `POST /v1/tenants/{id}/sync` with the token; the HTTP status.
async fn trigger(client: &reqwest::Client, base: &str, id: &str) -> u16 {
    client
        .post(format!("{base}/v1/tenants/{id}/sync"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("admin API answers")
        .status()
        .as_u16()
}

/// Triggers a sync of `id` and waits until a new one has finished.
async fn sync_once(client: &reqwest::Client, base: &str, id: &str) -> BTreeMap<String, Value> {
    let before = tenants(client, base).await[id]["last_sync"]["sync_id"].clone();
    assert_eq!(trigger(client, base, id).await, 202);
    wait_for(
        client,
        base,
        &format!("a new sync of {id}"),
        Duration::from_secs(60),
        |t| t[id]["last_sync"]["sync_id"] != before && t[id]["state"] == "idle",
    )
    .await
}

fn tenant_toml(
    id: &str,
    component: &str,
    sim: &SimHandle,
    secret_file: &Path,
    out: &Path,
    extra: &str,
) -> String {
    format!(
        r#"
[[tenant]]
id = "{id}"
component = {component}
sync_interval = "1h"
{extra}
[tenant.config]
pingone-client-id = "{client_id}"
pingone-environment-id = "{env}"
pingone-api-url = "{api}"
pingone-auth-url = "{auth}"
[tenant.secrets]
pingone-client-secret = {{ file = "{secret}" }}
[tenant.limits]
memory_mb = 64
max_concurrent_requests = 4
[tenant.upload]
directory = "{out}"
"#,
        client_id = sim.client_id(),
        env = sim.environment_id(),
        api = sim.api_base_url(),
        auth = sim.auth_base_url(),
        secret = secret_file.display(),
        out = out.display(),
    )
}

/// The same component with a custom section appended: other bytes, other
/// digest, same behaviour (what a rebuilt release looks like to the host).
fn rebuilt(original: &[u8]) -> Vec<u8> {
    let name = b"build-note";
    let payload = b"rebuilt for the hot-swap test";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut out = original.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // < 128: one LEB128 byte
    out.extend_from_slice(&section);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The password in a create-account answer, decrypted with `key`, after
/// checking the answer carries it only encrypted.
fn sealed_password(answer: &Value, key: &ed25519_dalek::SigningKey) -> String {
    assert!(answer["password"].is_null(), "{answer}");
    assert!(answer.get("one_time_password").is_none(), "{answer}");
    let sealed = &answer["encrypted_password"];
    assert_eq!(sealed["provider"], "baton/jwk/v1", "{answer}");
    assert_eq!(
        sealed["key_id"].as_str().map(str::len),
        Some(64),
        "{answer}"
    );
    let ciphertext = sealed["ciphertext"].as_str().expect("a ciphertext");
    let password = String::from_utf8(age_key::decrypt(key, ciphertext.as_bytes())).unwrap();
    assert!(password.len() >= 12, "a generated password");
    let text = answer.to_string();
    assert!(!text.contains(&password), "the answer holds the plaintext");
    password
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tenants_are_served_isolated_swapped_and_drained() {
    let clean = pingone_sim::start(SimConfig::tiny(1), ServeOptions::default())
        .await
        .unwrap();
    let mut faulty_config = SimConfig::tiny(2);
    faulty_config.faults = Faults {
        error_rate: 0.05,
        error_status: 503,
        reset_rate: 0.02,
        rate_limit_per_sec: Some(300.0),
        ..Faults::default()
    };
    let faulty = pingone_sim::start(faulty_config, ServeOptions::default())
        .await
        .unwrap();
    let small = pingone_sim::start(SimConfig::small(3), ServeOptions::default())
        .await
        .unwrap();
    let mut slow_config = SimConfig::small(4);
    slow_config.faults.latency_ms = 150;
    let slow = pingone_sim::start(slow_config, ServeOptions::default())
        .await
        .unwrap();
    let sims = [&clean, &faulty, &small];

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("out");
    let secrets = root.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let secret_file = |sim: &SimHandle, name: &str| -> PathBuf {
        let p = secrets.join(name);
        std::fs::write(&p, format!("{}\n", sim.client_secret())).unwrap();
        p
    };

    // The components: PingOne as bundled, a rebuilt copy, garbage, an adversary.
    let exported = root.join("pingone.wasm");
    let o = Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args(["export-component", "--out"])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bundled = std::fs::read(&exported).unwrap();
    let bundled_sha = sha256_hex(&bundled);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&bundled_sha));
    let rebuilt_path = root.join("pingone-rebuilt.wasm");
    std::fs::write(&rebuilt_path, rebuilt(&bundled)).unwrap();
    let rebuilt_sha = sha256_hex(&std::fs::read(&rebuilt_path).unwrap());
    let garbage_path = root.join("garbage.wasm");
    std::fs::write(&garbage_path, b"\0asm not really a component").unwrap();
    let garbage_sha = sha256_hex(&std::fs::read(&garbage_path).unwrap());
    let adversary = e2e_tests::components::component(e2e_tests::components::ADVERSARY);
    let adversary_sha = sha256_hex(&std::fs::read(&adversary).unwrap());

    let builtin = r#"{ builtin = "pingone" }"#;
    let mut file = String::new();
    let mut expected: Vec<(String, &SimHandle)> = Vec::new();
    for i in 0..HEALTHY {
        let sim = sims[i % 3];
        let id = format!("t{i:02}");
        // t00 may provision through the admin API; the others may not.
        let extra = if i == 0 { "provisioning = true" } else { "" };
        file += &tenant_toml(&id, builtin, sim, &secret_file(sim, &id), &out, extra);
        expected.push((id, sim));
    }
    file += &tenant_toml(
        "swap-me",
        builtin,
        &clean,
        &secret_file(&clean, "swap-me"),
        &out,
        "",
    );
    file += &tenant_toml(
        "swap-bad",
        builtin,
        &clean,
        &secret_file(&clean, "swap-bad"),
        &out,
        "",
    );
    file += &tenant_toml(
        "slow",
        builtin,
        &slow,
        &secret_file(&slow, "slow"),
        &out,
        "",
    );
    file += &format!(
        r#"
[[tenant]]
id = "hostile"
component = {{ path = "{}", sha256 = "{adversary_sha}" }}
sync_interval = "1h"
config = {{ mode = "memory" }}
limits = {{ memory_mb = 16 }}
upload = {{ directory = "{}" }}
"#,
        adversary.display(),
        out.display()
    );
    // Invalid definitions are refused by name; the rest still run.
    file += r#"
[[tenant]]
id = "broken"
component = { builtin = "pingone" }
limits = { memory_mb = "lots" }
"#;
    let tenants_path = root.join("tenants.toml");
    std::fs::write(&tenants_path, &file).unwrap();

    let host = Host::start(&tenants_path, &root.join("state"), &root.join("cache"));
    let client = reqwest::Client::new();
    let base = host.base.clone();

    // Authentication: probes open, everything else needs the token.
    assert_eq!(get(&client, &format!("{base}/healthz"), None).await.0, 200);
    for path in ["/v1/tenants", "/metrics", "/v1/tenants/t00"] {
        assert_eq!(
            get(&client, &format!("{base}{path}"), None).await.0,
            401,
            "{path}"
        );
        assert_eq!(
            get(
                &client,
                &format!("{base}{path}"),
                Some("wrong-token-wrong-token")
            )
            .await
            .0,
            401,
            "{path}"
        );
    }
    let resp = client
        .post(format!("{base}/v1/tenants/t00/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // Every healthy tenant publishes a correct artifact; the hostile one fails alone.
    let status = wait_for(
        &client,
        &base,
        "first syncs",
        Duration::from_secs(240),
        |t| {
            expected
                .iter()
                .all(|(id, _)| t.get(id).is_some_and(|s| !s["last_sync"].is_null()))
                && ["swap-me", "swap-bad", "slow"]
                    .iter()
                    .all(|id| !t[*id]["last_sync"].is_null())
                && !t["hostile"]["last_error"].is_null()
        },
    )
    .await;
    assert_eq!(status.len(), HEALTHY + 4, "the broken tenant is not served");
    let (_, body) = get(&client, &format!("{base}/v1/tenants"), Some(TOKEN)).await;
    let listed: Value = serde_json::from_str(&body).unwrap();
    let rejected = listed["rejected"].to_string();
    assert!(
        rejected.contains("broken") && rejected.contains("limits.memory_mb"),
        "{rejected}"
    );
    let hostile = &status["hostile"];
    let err = hostile["last_error"].as_str().unwrap();
    assert!(err.contains("memory"), "{err}");
    assert!(hostile["last_sync"].is_null());
    assert!(
        !out.join("hostile.c1z").exists(),
        "a failed sync is never published"
    );
    for (id, sim) in &expected {
        let artifact = out.join(format!("{id}.c1z"));
        assert_matches_truth(&contents(&artifact), &expect::expected(&sim.ground_truth()));
        assert_eq!(status[id]["last_error"], Value::Null, "{id}");
        assert_eq!(status[id]["component_sha256"], bundled_sha.as_str());
    }
    assert!(
        faulty.stats().faults.server_errors > 0,
        "faults were injected"
    );

    // Hot swap: a new build takes effect; a broken one is refused.
    let swapped = file
        .replacen(
            &tenant_toml(
                "swap-me",
                builtin,
                &clean,
                &secrets.join("swap-me"),
                &out,
                "",
            ),
            &tenant_toml(
                "swap-me",
                &format!(
                    r#"{{ path = "{}", sha256 = "{rebuilt_sha}" }}"#,
                    rebuilt_path.display()
                ),
                &clean,
                &secrets.join("swap-me"),
                &out,
                "",
            ),
            1,
        )
        .replacen(
            &tenant_toml(
                "swap-bad",
                builtin,
                &clean,
                &secrets.join("swap-bad"),
                &out,
                "",
            ),
            &tenant_toml(
                "swap-bad",
                &format!(
                    r#"{{ path = "{}", sha256 = "{garbage_sha}" }}"#,
                    garbage_path.display()
                ),
                &clean,
                &secrets.join("swap-bad"),
                &out,
                "",
            ),
            1,
        );
    assert_ne!(swapped, file);
    std::fs::write(&tenants_path, &swapped).unwrap();
    let status = wait_for(&client, &base, "the swaps", Duration::from_secs(60), |t| {
        t["swap-me"]["last_sync"]["component_sha256"] == rebuilt_sha.as_str()
            && !t["swap-bad"]["update_error"].is_null()
    })
    .await;
    assert_eq!(status["swap-me"]["component_sha256"], rebuilt_sha.as_str());
    assert_eq!(status["swap-me"]["swaps"], 1);
    assert_eq!(status["swap-bad"]["component_sha256"], bundled_sha.as_str());
    assert_eq!(status["swap-bad"]["swaps"], 0);
    // The refused tenant keeps serving on its old component.
    let status = sync_once(&client, &base, "swap-bad").await;
    assert_eq!(
        status["swap-bad"]["last_sync"]["component_sha256"],
        bundled_sha.as_str()
    );
    assert_matches_truth(
        &contents(&out.join("swap-me.c1z")),
        &expect::expected(&clean.ground_truth()),
    );

    // Provisioning through the admin API, for the tenant that allows it.
    let truth = clean.ground_truth();
    let (group, user) = truth
        .groups
        .iter()
        .flat_map(|g| truth.users.iter().map(move |u| (g, u)))
        .map(|(g, u)| (g["id"].as_str().unwrap(), u["id"].as_str().unwrap()))
        .find(|(g, u)| {
            !truth
                .memberships
                .iter()
                .any(|m| m.group_id == *g && m.user_id == *u)
        })
        .expect("a user outside some group");
    let post = |path: String, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let resp = client
                .post(url)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            let code = resp.status().as_u16();
            (code, resp.json::<Value>().await.unwrap_or_default())
        }
    };
    let grant = serde_json::json!({
        "entitlement": format!("group:{group}:member"),
        "principal": user,
        "principal_type": "user",
    });
    let (code, body) = post("/v1/tenants/t01/grant".into(), grant.clone()).await;
    assert_eq!(code, 403, "{body}");
    let (code, body) = post("/v1/tenants/t00/grant".into(), grant.clone()).await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("granted")),
        "{body}"
    );
    let (code, body) = post("/v1/tenants/t00/grant".into(), grant.clone()).await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("already-exists")),
        "{body}"
    );
    let member = |t: &pingone_sim::GroundTruth| {
        t.memberships
            .iter()
            .filter(|m| m.group_id == group && m.user_id == user)
            .count()
    };
    assert_eq!(member(&clean.ground_truth()), 1);
    let (code, body) = post(
        "/v1/tenants/t00/grant".into(),
        serde_json::json!({"entitlement": "group:nope:member", "principal": user, "principal_type": "user"}),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("group:nope:member"),
        "{body}"
    );
    let (code, body) = post(
        "/v1/tenants/t00/grant".into(),
        serde_json::json!({"entitlement": 1}),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let recipient = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let (code, body) = post(
        "/v1/tenants/t00/create-account".into(),
        serde_json::json!({
            "login": "admin.api.user",
            "email": "admin.api.user@example.com",
            "password_recipient": age_key::public_jwk(&recipient),
        }),
    )
    .await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("created")),
        "{body}"
    );
    let password = sealed_password(&body, &recipient);
    let new_user = body["resource"]
        .as_str()
        .unwrap()
        .trim_start_matches("user:")
        .to_string();
    let (code, body) = post(
        "/v1/tenants/t00/delete".into(),
        serde_json::json!({"resource": new_user, "resource_type": "user"}),
    )
    .await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("deleted")),
        "{body}"
    );
    // Revoke after a re-sync has recorded the new grant.
    sync_once(&client, &base, "t00").await;
    let synced = contents(&out.join("t00.c1z"));
    assert!(
        synced
            .grants
            .contains_key(&format!("group:{group}:member:user:{user}"))
    );
    let revoke = serde_json::json!({"grant": format!("group:{group}:member:user:{user}")});
    let (code, body) = post("/v1/tenants/t00/revoke".into(), revoke.clone()).await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("revoked")),
        "{body}"
    );
    let (code, body) = post("/v1/tenants/t00/revoke".into(), revoke).await;
    assert_eq!(
        (code, body["result"].as_str()),
        (200, Some("already-revoked")),
        "{body}"
    );
    assert_eq!(member(&clean.ground_truth()), 0);

    // Metrics per tenant, and no secret anywhere the host shows.
    let (code, metrics) = get(&client, &format!("{base}/metrics"), Some(TOKEN)).await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("connector_syncs_total{tenant=\"t01\",result=\"success\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("connector_guest_traps_total{tenant=\"hostile\"}"));
    assert!(metrics.contains("connector_api_requests_total{tenant=\"t01\"}"));
    let (_, all_status) = get(&client, &format!("{base}/v1/tenants"), Some(TOKEN)).await;

    // A swap while a sync runs: the running sync finishes on the old
    // component; the next one runs on the new.
    let before = tenants(&client, &base).await["slow"]["last_sync"]["sync_id"].clone();
    assert_eq!(trigger(&client, &base, "slow").await, 202);
    wait_for(
        &client,
        &base,
        "slow to sync",
        Duration::from_secs(30),
        |t| t["slow"]["state"] == "syncing",
    )
    .await;
    let slow_secret = secrets.join("slow");
    let rebuilt_component = format!(
        r#"{{ path = "{}", sha256 = "{rebuilt_sha}" }}"#,
        rebuilt_path.display()
    );
    let swapped_again = swapped.replacen(
        &tenant_toml("slow", builtin, &slow, &slow_secret, &out, ""),
        &tenant_toml("slow", &rebuilt_component, &slow, &slow_secret, &out, ""),
        1,
    );
    assert_ne!(swapped_again, swapped);
    std::fs::write(&tenants_path, &swapped_again).unwrap();
    let status = wait_for(
        &client,
        &base,
        "the in-flight sync",
        Duration::from_secs(60),
        |t| {
            t["slow"]["component_sha256"] == rebuilt_sha.as_str()
                && t["slow"]["last_sync"]["sync_id"] != before
                && t["slow"]["state"] == "idle"
        },
    )
    .await;
    assert_eq!(
        status["slow"]["last_sync"]["component_sha256"],
        bundled_sha.as_str(),
        "the sync that was running when the swap landed finished on the old component"
    );
    let status = sync_once(&client, &base, "slow").await;
    assert_eq!(
        status["slow"]["last_sync"]["component_sha256"],
        rebuilt_sha.as_str()
    );

    // SIGTERM while a slow sync runs: it stops at a checkpoint, the host exits.
    assert_eq!(trigger(&client, &base, "slow").await, 202);
    let again = client
        .post(format!("{base}/v1/tenants/slow/sync"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status().as_u16(),
        409,
        "one sync per tenant at a time"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let requests_before_term = slow.stats().total;
    let pid = host.child.id() as libc::pid_t;
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let mut host = host;
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = host.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the host did not drain"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{}", host.logs());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = host.logs();
    assert!(logs.contains("drained: clean"), "{logs}");
    assert!(requests_before_term > 0);
    let working = root.join("state/tenants/slow/sync.c1z.partial.db");
    assert!(
        working.exists(),
        "the interrupted sync left its checkpoint for the next start"
    );

    assert!(
        !logs.contains(&password),
        "a generated password reached the logs"
    );
    for sim in [&clean, &faulty, &small, &slow] {
        let secret = sim.client_secret();
        assert!(!logs.contains(secret), "a secret reached the logs");
        assert!(!metrics.contains(secret), "a secret reached the metrics");
        assert!(!all_status.contains(secret), "a secret reached the status");
    }
    for sim in [clean, faulty, small, slow] {
        sim.shutdown().await;
    }
}

/// Every admin path but the probes, with the method it takes; unknown paths
/// and wrong methods too, so nothing about the routes shows without the token.
const GUARDED: &[(&str, &str)] = &[
    ("GET", "/metrics"),
    ("GET", "/v1/tenants"),
    ("GET", "/v1/tenants/solo"),
    ("POST", "/v1/tenants/solo/sync"),
    ("POST", "/v1/tenants/solo/grant"),
    ("POST", "/v1/tenants/solo/revoke"),
    ("POST", "/v1/tenants/solo/create-account"),
    ("POST", "/v1/tenants/solo/delete"),
    ("GET", "/v1/tenants/solo/sync"),
    ("GET", "/no-such-path"),
];

/// The admin API's trust boundary, end to end: every path but the probes
/// needs the token, and create-account never answers with a plaintext
/// password: encrypted to the caller's key, or withheld.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_guards_every_route_and_never_returns_a_plaintext_password() {
    let sim = pingone_sim::start(SimConfig::tiny(6), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let secret = root.join("secret");
    std::fs::write(&secret, sim.client_secret()).unwrap();
    let tenants_path = root.join("tenants.toml");
    let builtin = r#"{ builtin = "pingone" }"#;
    let file = tenant_toml(
        "solo",
        builtin,
        &sim,
        &secret,
        &root.join("out"),
        "provisioning = true",
    );
    std::fs::write(&tenants_path, file).unwrap();
    let host = Host::start(&tenants_path, &root.join("state"), &root.join("cache"));
    let client = reqwest::Client::new();
    let base = host.base.clone();

    assert_eq!(get(&client, &format!("{base}/healthz"), None).await.0, 200);
    let started = Instant::now();
    while get(&client, &format!("{base}/readyz"), None).await.0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let send = |method: &str, path: &str, auth: Option<String>, body: Value| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = client.request(method, format!("{base}{path}")).json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move {
            let resp = req.send().await.expect("admin API answers");
            let code = resp.status().as_u16();
            (code, resp.text().await.unwrap_or_default())
        }
    };
    let account =
        |login: &str| serde_json::json!({"login": login, "email": format!("{login}@example.com")});
    let users_before = sim.ground_truth().users.len();
    for (method, path) in GUARDED {
        for auth in [
            None,
            Some("Bearer ".to_string()),
            Some("Bearer wrong-token-wrong-token-0123".to_string()),
            Some(format!("Bearer {TOKEN}-and-more")),
            Some(format!("Basic {TOKEN}")),
        ] {
            let (code, body) = send(method, path, auth.clone(), account("no.token")).await;
            assert_eq!(code, 401, "{method} {path} with {auth:?}: {body}");
            assert!(!body.contains("tenant"), "a 401 says nothing more: {body}");
        }
    }
    assert_eq!(
        sim.ground_truth().users.len(),
        users_before,
        "nothing was created without the token"
    );

    let create = |body: Value| {
        send(
            "POST",
            "/v1/tenants/solo/create-account",
            Some(format!("Bearer {TOKEN}")),
            body,
        )
    };

    // No key: the account is created, its password withheld, and the answer says so.
    let (code, text) = create(account("no.key")).await;
    assert_eq!(code, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["result"], "created", "{body}");
    assert!(
        body["password"].is_null() && body.get("password").is_some(),
        "{body}"
    );
    assert!(
        body["password_note"]
            .as_str()
            .is_some_and(|n| n.contains("password_recipient")),
        "{body}"
    );
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        ["message", "password", "password_note", "resource", "result"],
        "nothing that could carry the password: {body}"
    );

    // A key: the password comes back encrypted to it, and only there.
    let recipient = ed25519_dalek::SigningKey::from_bytes(&[21; 32]);
    let mut request = account("with.key");
    request["password_recipient"] = age_key::public_jwk(&recipient);
    let (code, text) = create(request).await;
    assert_eq!(code, 200, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["result"], "created", "{body}");
    let password = sealed_password(&body, &recipient);
    assert!(!text.contains(&password));
    // The key may also be given as the JWK's JSON text.
    let mut request = account("key.as.text");
    request["password_recipient"] = age_key::public_jwk(&recipient).to_string().into();
    let (code, text) = create(request).await;
    assert_eq!(code, 200, "{text}");
    let other = sealed_password(&serde_json::from_str(&text).unwrap(), &recipient);
    assert_ne!(other, password, "each account gets its own password");

    // A key the host cannot encrypt to: refused before anything is created.
    let users = sim.ground_truth().users.len();
    assert_eq!(users, users_before + 3);
    let mut request = account("bad.key");
    request["password_recipient"] = serde_json::json!({"kty": "RSA", "n": "x", "e": "AQAB"});
    let (code, text) = create(request).await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("password_recipient"), "{text}");
    assert_eq!(sim.ground_truth().users.len(), users);

    let logs = host.logs();
    assert!(
        !logs.contains(&password),
        "a generated password reached the logs"
    );
    assert!(
        !logs.contains(&other),
        "a generated password reached the logs"
    );
    drop(host);
    sim.shutdown().await;
}

/// The Kubernetes-manifest case: no tenants file, the same `BATON_*`
/// variables as a one-shot run, and no admin token (ConductorOne's manifests
/// carry none): the tenant syncs on schedule, only the probes answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_from_baton_variables_needs_no_tenants_file() {
    let sim = pingone_sim::start(SimConfig::tiny(5), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_connector-host"))
        .args([
            "serve",
            "--admin-addr",
            "127.0.0.1:0",
            "--sync-interval",
            "1s",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--output-dir")
        .arg(&out)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
        .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
        .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
        .env("BATON_PINGONE_API_URL", sim.api_base_url())
        .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url())
        .env("BATON_PROVISIONING", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("admin API listening on ")
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");

    let artifact = out.join("default.c1z");
    let started = Instant::now();
    while !artifact.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no artifact published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Published atomically: whatever is there is a complete, correct c1z.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_matches_truth(&contents(&artifact), &expect::expected(&sim.ground_truth()));
    // A 1 s interval: the schedule keeps syncing.
    let first = sim.stats().total;
    let started = Instant::now();
    while sim.stats().total == first {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no second sync"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&client, &format!("{base}/healthz"), None).await.0, 200);
    assert_eq!(get(&client, &format!("{base}/readyz"), None).await.0, 200);
    assert_eq!(
        get(&client, &format!("{base}/v1/tenants"), Some(TOKEN))
            .await
            .0,
        401,
        "without a configured token nothing but the probes answers"
    );

    // SAFETY: signalling our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("drained"), "{rest}");
    sim.shutdown().await;
}

/// Fairness: one sync slot, three healthy PingOne tenants syncing every
/// second, and a hostile tenant whose component answers a new page token
/// on every call, forever. Its runs end at its 3 s deadline with the named
/// error and hand the slot on, so every healthy tenant keeps syncing.
/// Without the deadline the hostile sync would hold the only slot for
/// good and the wait below would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_sync_does_not_starve_the_other_tenants() {
    let sim = pingone_sim::start(SimConfig::tiny(5), ServeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("out");
    let secret = root.join("secret");
    std::fs::write(&secret, format!("{}\n", sim.client_secret())).unwrap();
    let healthy = ["h1", "h2", "h3"];
    let mut file = String::new();
    for id in healthy {
        file += &tenant_toml(id, r#"{ builtin = "pingone" }"#, &sim, &secret, &out, "")
            .replace(r#"sync_interval = "1h""#, r#"sync_interval = "1s""#);
    }
    let adversary = e2e_tests::components::component(e2e_tests::components::ADVERSARY);
    let adversary_sha = sha256_hex(&std::fs::read(&adversary).unwrap());
    file += &format!(
        r#"
[[tenant]]
id = "endless"
component = {{ path = "{}", sha256 = "{adversary_sha}" }}
sync_interval = "1s"
config = {{ mode = "endless-pages" }}
limits = {{ sync_deadline = "3s" }}
upload = {{ directory = "{}" }}
"#,
        adversary.display(),
        out.display()
    );
    let tenants_path = root.join("tenants.toml");
    std::fs::write(&tenants_path, &file).unwrap();
    let host = Host::start_with_slots(&tenants_path, &root.join("state"), &root.join("cache"), 1);
    let client = reqwest::Client::new();

    // Each healthy tenant finishes three syncs (three sync ids) while the
    // endless one fails again and again at its deadline.
    let mut seen: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    let started = Instant::now();
    let status = loop {
        let t = tenants(&client, &host.base).await;
        for id in healthy {
            if let Some(sync_id) = t.get(id).and_then(|s| s["last_sync"]["sync_id"].as_str()) {
                seen.entry(id).or_default().insert(sync_id.to_string());
            }
        }
        let synced = healthy
            .iter()
            .all(|id| seen.get(id).is_some_and(|s| s.len() >= 3));
        let failures = t
            .get("endless")
            .and_then(|s| s["consecutive_failures"].as_u64());
        if synced && failures >= Some(2) {
            break t;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "healthy tenants starved: {seen:?}\n{t:#?}\n{}",
            host.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let endless = &status["endless"];
    let err = endless["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("sync reached its deadline of 3s"), "{err}");
    assert!(endless["last_sync"].is_null());
    assert!(!out.join("endless.c1z").exists(), "never published");
    for id in healthy {
        assert_eq!(status[id]["last_error"], Value::Null, "{id}");
        assert_matches_truth(
            &contents(&out.join(format!("{id}.c1z"))),
            &expect::expected(&sim.ground_truth()),
        );
    }
}
