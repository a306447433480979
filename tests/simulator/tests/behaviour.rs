//! Beyond the checklist: provisioning visible in later reads, every fault,
//! TLS mode, request accounting, the admin API, determinism, and the
//! binary as a separate process.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pingone_sim::{Faults, ServeOptions, SimConfig};
use serde_json::{Value, json};

#[tokio::test]
async fn provisioning_changes_later_reads() {
    // No generated dynamic groups: the new user's groups are exactly ours.
    let sim = start(SimConfig {
        dynamic_groups: 0,
        ..SimConfig::tiny(100)
    })
    .await;
    let api = Api::new(&sim).await;
    // Create a user: the list, the filter and the ground truth show it.
    let (s, u) = api
        .post("/users", json!({"username": "Prov.User", "email": "prov@example.com", "name": {"given": "Prov", "family": "Üser"}}))
        .await;
    assert_eq!(s, 201);
    let uid = u["id"].as_str().unwrap().to_string();
    let all = api.all("/users?limit=5", "users").await;
    assert_eq!(all.len(), 13);
    assert_eq!(
        all.last().unwrap()["id"],
        uid.as_str(),
        "new users come last (creation order)"
    );
    let (_, v) = api
        .get(&format!(
            "/users?filter={}",
            enc("username eq \"prov.user\"")
        ))
        .await;
    assert_eq!(
        ids(v["_embedded"]["users"].as_array().unwrap()),
        vec![uid.clone()]
    );
    let (_, v) = api
        .get(&format!("/users?filter={}", enc("name.family sw \"Ü\"")))
        .await;
    assert!(ids(v["_embedded"]["users"].as_array().unwrap()).contains(&uid));
    assert!(sim.ground_truth().user_by_username("prov.user").is_some());

    // Add a membership: the memberOfGroups filter and the user's list show it.
    let (_, g) = api.post("/groups", json!({"name": "Provisioned"})).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let filter = format!(
        "/users?filter={}",
        enc(&format!("memberOfGroups[id eq \"{gid}\"]"))
    );
    let (_, v) = api.get(&filter).await;
    assert_eq!(v["count"], 0);
    api.post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    let (_, v) = api.get(&filter).await;
    assert_eq!(
        ids(v["_embedded"]["users"].as_array().unwrap()),
        vec![uid.clone()]
    );
    let (_, v) = api
        .get(&format!("/users/{uid}?include=memberOfGroupIDs"))
        .await;
    assert_eq!(v["memberOfGroupIDs"], json!([gid]));

    // A profile change moves the user into a dynamic group.
    let (_, d) = api
        .post(
            "/groups",
            json!({"name": "Managers (dyn)", "userFilter": "title eq \"Manager\""}),
        )
        .await;
    let did = d["id"].as_str().unwrap();
    let dyn_filter = format!(
        "/users?filter={}",
        enc(&format!("memberOfGroups[id eq \"{did}\"]"))
    );
    let before = api.all(&dyn_filter, "users").await;
    assert!(!ids(&before).contains(&uid));
    api.patch(&format!("/users/{uid}"), json!({"title": "Manager"}))
        .await;
    let after = api.all(&dyn_filter, "users").await;
    assert_eq!(after.len(), before.len() + 1);
    assert!(
        sim.ground_truth()
            .dynamic_group_members
            .iter()
            .any(|m| m.group_id == did && m.user_ids.contains(&uid))
    );

    // Assign a role, then delete the user: memberships and assignments go.
    let ida = pingone_sim::builtin_role_id("Identity Data Admin");
    let (s, _) = api
        .post(&format!("/users/{uid}/roleAssignments"), json!({"role": {"id": ida}, "scope": {"id": sim.environment_id(), "type": "ENVIRONMENT"}}))
        .await;
    assert_eq!(s, 201);
    assert!(
        sim.ground_truth()
            .role_assignments
            .iter()
            .any(|a| a.subject_id == uid)
    );
    let (s, _) = api.delete(&format!("/users/{uid}")).await;
    assert_eq!(s, 204);
    let (_, v) = api.get(&filter).await;
    assert_eq!(v["count"], 0);
    let (_, g2) = api.get(&format!("/groups/{gid}")).await;
    assert_eq!(g2["directMemberCounts"]["users"], 0);
    let gt = sim.ground_truth();
    assert!(gt.memberships.iter().all(|m| m.user_id != uid));
    assert!(gt.role_assignments.iter().all(|a| a.subject_id != uid));
    assert_eq!(gt.users.len(), 12);
}

#[tokio::test]
async fn ground_truth_is_deterministic() {
    let a = pingone_sim::generate_ground_truth(&SimConfig::medium(77));
    let b = pingone_sim::generate_ground_truth(&SimConfig::medium(77));
    assert_eq!(
        serde_json::to_vec(&a).unwrap(),
        serde_json::to_vec(&b).unwrap()
    );
    let sim = start(SimConfig::medium(77)).await;
    let served = sim.ground_truth();
    assert_eq!(served.users, a.users);
    assert_eq!(served.memberships, a.memberships);
    assert_eq!(served.environment.id, a.environment.id);
    assert_eq!(a.users.len(), 1000);
    assert!(a.memberships.len() > 3500);
    assert_ne!(
        a.environment.id,
        pingone_sim::generate_ground_truth(&SimConfig::medium(78))
            .environment
            .id
    );
}

#[tokio::test]
async fn fault_reset_closes_without_response() {
    let sim = start(SimConfig::tiny(101)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        reset_rate: 1.0,
        ..Faults::default()
    });
    let err = api
        .http
        .get(api.url("/users"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status() && err.status().is_none(), "{err}");
    // After processing: the write happened although the answer was lost.
    sim.set_faults(Faults {
        reset_rate: 1.0,
        reset_after_processing: true,
        ..Faults::default()
    });
    let err = api
        .http
        .post(api.url("/users"))
        .bearer_auth(&api.token)
        .json(&json!({"username": "lost.answer", "email": "l@example.com"}))
        .send()
        .await;
    assert!(err.is_err());
    sim.set_faults(Faults::default());
    assert!(sim.ground_truth().user_by_username("lost.answer").is_some());
    assert_eq!(sim.stats().faults.resets, 2);
}

#[tokio::test]
async fn fault_truncated_body() {
    let sim = start(SimConfig::tiny(102)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        truncate_rate: 1.0,
        ..Faults::default()
    });
    let r = api
        .http
        .get(api.url("/users"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let announced: usize = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(announced > 1000);
    assert!(r.bytes().await.is_err(), "the body must be cut short");
    assert_eq!(sim.stats().faults.truncations, 1);
}

#[tokio::test]
async fn fault_consistency_window_after_create() {
    let sim = start(SimConfig::tiny(103)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        consistency_window_ms: 400,
        ..Faults::default()
    });
    let created = Instant::now();
    let (_, u) = api
        .post(
            "/users",
            json!({"username": "eventual", "email": "e@example.com"}),
        )
        .await;
    let uid = u["id"].as_str().unwrap();
    let (_, g) = api.post("/groups", json!({"name": "Eventual"})).await;
    let gid = g["id"].as_str().unwrap();
    let (s, v) = api.get(&format!("/users/{uid}")).await;
    assert_eq!(s, 404);
    assert_error(&v, "NOT_FOUND", None);
    let (s, v) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 403);
    assert_error(
        &v,
        "ACCESS_FAILED",
        Some(("INSUFFICIENT_PERMISSIONS", None)),
    );
    // The post-grant window: a fresh role assignment answers 403.
    let (_, target) = api
        .get(&format!(
            "/users/{}",
            sim.ground_truth().users[0]["id"].as_str().unwrap()
        ))
        .await;
    let tid = target["id"].as_str().unwrap();
    let ida = pingone_sim::builtin_role_id("Identity Data Read Only");
    let pop = target["population"]["id"].clone();
    let (s, ra) = api
        .post(
            &format!("/users/{tid}/roleAssignments"),
            json!({"role": {"id": ida}, "scope": {"id": pop, "type": "POPULATION"}}),
        )
        .await;
    assert_eq!(s, 201, "{ra}");
    let (s, v) = api
        .get(&format!(
            "/users/{tid}/roleAssignments/{}",
            ra["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        v["message"],
        "The actor attempting to perform the request is not authorized."
    );
    let wait = Duration::from_millis(450).saturating_sub(created.elapsed());
    tokio::time::sleep(wait).await;
    let (s, _) = api.get(&format!("/users/{uid}")).await;
    assert_eq!(s, 200);
    let (s, _) = api
        .post(&format!("/users/{uid}/memberOfGroups"), json!({"id": gid}))
        .await;
    assert_eq!(s, 201);
    assert!(sim.stats().faults.consistency_rejections >= 2);
}

#[tokio::test]
async fn fault_token_expiry_mid_run() {
    let sim = start(SimConfig::tiny(104)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        expire_tokens_after_requests: Some(2),
        ..Faults::default()
    });
    let (a, _) = api.get("/users").await;
    let (b, _) = api.get("/groups").await;
    let (c, v) = api.get("/users").await;
    assert_eq!([a.as_u16(), b.as_u16(), c.as_u16()], [200, 200, 401]);
    assert_eq!(v["details"][0]["code"], "INVALID_TOKEN");
    // A fresh token works again.
    let t = token(&sim).await;
    let r = api
        .http
        .get(api.url("/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The admin endpoint expires everything too.
    let r = api
        .http
        .post(format!("{}/__sim/tokens/expire", sim.api_base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = api
        .http
        .get(api.url("/users"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn fault_new_environment_window_and_latency() {
    let sim = start(SimConfig::tiny(105)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        environment_warmup_ms: 300,
        ..Faults::default()
    });
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 404);
    let (s, v) = api.post("/groups", json!({"name": "Too early"})).await;
    assert_eq!(s, 403);
    // The body is PingOne's 403, documented wording only: what tells the
    // window apart is the environment's `createdAt` (DOCS-8830).
    assert_eq!(
        v["details"][0]["message"],
        "You do not have permissions or are not licensed to make this request."
    );
    let (s, env) = api
        .get(&format!("/v1/environments/{}", sim.environment_id()))
        .await;
    assert_eq!(s, 200);
    // Same format on both sides, so the strings order like the instants.
    let created = env["createdAt"].as_str().unwrap();
    let recent = pingone_sim::util::fmt_ts(pingone_sim::util::now_ms() - 17_000);
    assert!(created > recent.as_str(), "{created} vs {recent}");
    tokio::time::sleep(Duration::from_millis(320)).await;
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 200);
    sim.set_faults(Faults {
        latency_ms: 60,
        jitter_ms: 20,
        ..Faults::default()
    });
    let t = Instant::now();
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 200);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(60) && took < Duration::from_millis(1000),
        "{took:?}"
    );
}

#[tokio::test]
async fn faults_are_reproducible_for_a_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let sim = start(SimConfig::tiny(106)).await;
        let api = Api::new(&sim).await;
        sim.set_faults(Faults {
            seed: Some(seed),
            error_rate: 0.4,
            ..Faults::default()
        });
        let mut out = Vec::new();
        for _ in 0..30 {
            out.push(api.get("/populations").await.0.as_u16());
        }
        out
    }
    let a = run(5).await;
    assert_eq!(a, run(5).await);
    assert_ne!(a, run(6).await);
    let errors = a.iter().filter(|s| **s == 500).count();
    assert!((4..=20).contains(&errors), "{errors} of 30");
}

#[tokio::test]
async fn tls_mode_trusts_only_the_generated_ca() {
    let sim = pingone_sim::start(
        SimConfig::tiny(107),
        ServeOptions {
            tls: true,
            ..ServeOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(sim.api_base_url().starts_with("https://127.0.0.1:"));
    assert!(sim.auth_base_url().starts_with("https://127.0.0.1:"));
    let pem = sim.ca_pem().expect("CA in TLS mode");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = trusting
        .post(sim.token_url())
        .header("Authorization", basic("sim-client-id", "sim-client-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tok = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let v: Value = trusting
        .get(format!("{}/users?limit=5", env_url(&sim)))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/v1/", sim.api_base_url()))
    );
    let untrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    let err = untrusting
        .get(format!("{}/users", env_url(&sim)))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err}");
}

#[tokio::test]
async fn accounting_counts_routes_statuses_and_concurrency() {
    let sim = start(SimConfig::tiny(108)).await;
    let api = Api::new(&sim).await;
    sim.reset_stats();
    for _ in 0..3 {
        api.get("/users").await;
    }
    let uid = sim.ground_truth().users[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.get(&format!("/users/{uid}")).await;
    api.get("/users/00000000-0000-4000-8000-000000000000").await;
    api.get("/v1/not/a/route").await;
    let s = sim.stats();
    assert_eq!(s.route("GET /v1/environments/{env}/users"), 3);
    assert_eq!(s.route("GET /v1/environments/{env}/users/{userId}"), 2);
    assert_eq!(s.route("GET (unmatched)"), 1);
    assert_eq!(s.total, 6);
    assert_eq!(s.status(200), 4);
    assert_eq!(s.status(404), 1);
    assert_eq!(s.status(403), 1);
    assert_eq!(
        s.routes["GET /v1/environments/{env}/users/{userId}"].by_status[&404],
        1
    );
    // Token calls count too.
    token(&sim).await;
    let s = sim.stats();
    assert_eq!(s.route("POST /{env}/as/token"), 1);
    assert_eq!(s.tokens_issued, 1);
    // Concurrency high-water mark with slow requests.
    sim.reset_stats();
    sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (h, url, t) = (api.http.clone(), api.url("/populations"), api.token.clone());
        set.spawn(async move {
            h.get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), 200);
    }
    let s = sim.stats();
    assert_eq!(s.concurrency_high_water, 6);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.faults.delayed, 6);
}

#[tokio::test]
async fn admin_endpoints_over_http() {
    let sim = start(SimConfig::tiny(109)).await;
    let api = Api::new(&sim).await;
    let admin = format!("{}/__sim", sim.api_base_url());
    api.get("/users").await;
    let s: Value = api
        .http
        .get(format!("{admin}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["routes"]["GET /v1/environments/{env}/users"]["count"], 1);
    assert!(s["concurrency_high_water"].as_u64().unwrap() >= 1);
    let r = api
        .http
        .post(format!("{admin}/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s: Value = api
        .http
        .get(format!("{admin}/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["total"], 0, "admin calls are not counted");
    let state: Value = api
        .http
        .get(format!("{admin}/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["users"].as_array().unwrap().len(), 12);
    assert_eq!(state["environment"]["id"], sim.environment_id());
    assert!(state["memberships"][0]["userId"].is_string());
    let summary: Value = api
        .http
        .get(format!("{admin}/state?summary=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["users"], 12);
    let r = api
        .http
        .put(format!("{admin}/faults"))
        .json(&json!({"error_rate": 1.0, "error_status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 503);
    let f: Value = api
        .http
        .get(format!("{admin}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["error_status"], 503);
    assert_eq!(f["require_email"], true, "omitted fields take defaults");
    let r = api
        .http
        .put(format!("{admin}/faults"))
        .json(&json!({"error_rate": "lots"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    api.http
        .put(format!("{admin}/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (s, _) = api.get("/users").await;
    assert_eq!(s, 200);
}

#[cfg(unix)]
#[tokio::test]
async fn binary_runs_as_a_separate_process() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let truth = dir.path().join("truth.json");
    let ca = dir.path().join("ca.pem");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pingone-sim"))
        .args(["--preset", "tiny", "--seed", "11", "--tls"])
        .arg("--ready-file")
        .arg(&ready)
        .arg("--ground-truth-out")
        .arg(&truth)
        .arg("--ca-out")
        .arg(&ca)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "ready file never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info: pingone_sim::ReadyInfo =
        serde_json::from_slice(&std::fs::read(&ready).unwrap()).unwrap();
    assert!(info.api_base_url.starts_with("https://127.0.0.1:"));
    assert_eq!(info.client_id, "sim-client-id");
    assert_eq!(info.ca_pem_path.as_deref(), Some(ca.to_str().unwrap()));
    let gt: pingone_sim::GroundTruth =
        serde_json::from_slice(&std::fs::read(&truth).unwrap()).unwrap();
    assert_eq!(gt.environment.id, info.environment_id);
    assert_eq!(gt, pingone_sim::generate_ground_truth(&SimConfig::tiny(11)));
    let pem = std::fs::read(&ca).unwrap();
    let c = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let tok: Value = c
        .post(&info.token_url)
        .basic_auth(&info.client_id, Some(&info.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v: Value = c
        .get(format!(
            "{}/v1/environments/{}/users",
            info.api_base_url, info.environment_id
        ))
        .bearer_auth(tok["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 12);
    // SIGTERM: a clean exit.
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn fault_refuse_user_filters() {
    let sim = start(SimConfig::tiny(106)).await;
    let api = Api::new(&sim).await;
    sim.set_faults(Faults {
        refuse_user_filters: true,
        ..Faults::default()
    });
    let g = sim.ground_truth().groups[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = api.get("/users?filter=title%20eq%20%22Manager%22").await;
    assert_eq!(s, 400, "{v}");
    assert_error(&v, "INVALID_DATA", Some(("INVALID_FILTER", Some("filter"))));
    let (s, v) = api
        .get(&format!(
            "/users?filter=memberOfGroups%5Bid%20eq%20%22{g}%22%5D"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
}

/// The member-count faults change what a client reads, never the ground
/// truth: counts left out, or zeroed on the groups the fault picks.
#[tokio::test]
async fn fault_member_counts() {
    let sim = start(SimConfig::small(107)).await;
    let api = Api::new(&sim).await;
    let truth = sim.ground_truth();
    let honest = api.all("/groups", "groups").await;
    assert!(
        honest
            .iter()
            .all(|g| g["directMemberCounts"]["users"].is_u64())
    );
    let with_members: Vec<&Value> = honest
        .iter()
        .filter(|g| g["directMemberCounts"]["users"].as_u64() > Some(0))
        .collect();
    assert!(with_members.len() >= 2);

    sim.set_faults(Faults {
        omit_member_counts: true,
        ..Faults::default()
    });
    let listed = api.all("/groups", "groups").await;
    assert_eq!(listed.len(), honest.len());
    assert!(listed.iter().all(|g| g.get("directMemberCounts").is_none()));
    let id = honest[0]["id"].as_str().unwrap();
    let (_, one) = api.get(&format!("/groups/{id}")).await;
    assert!(one.get("directMemberCounts").is_none(), "{one}");

    let faults = Faults {
        zero_member_counts: 0.5,
        ..Faults::default()
    };
    sim.set_faults(faults.clone());
    let listed = api.all("/groups", "groups").await;
    let mut zeroed = 0;
    for (h, g) in honest.iter().zip(&listed) {
        let id = g["id"].as_str().unwrap();
        let picked = faults.zeroes_member_count(107, id);
        let want = if picked {
            json!(0)
        } else {
            h["directMemberCounts"]["users"].clone()
        };
        assert_eq!(g["directMemberCounts"]["users"], want, "{id}");
        zeroed += usize::from(picked && h["directMemberCounts"]["users"] != json!(0));
    }
    assert!(zeroed > 0, "the fault hides some group's direct members");
    assert_eq!(
        sim.ground_truth().memberships.len(),
        truth.memberships.len()
    );
}

/// A disjunction of ids (the connector's batched reads) is served from the
/// id index and answers exactly what a scan of every user does: the users
/// in listing order, each once, unknown ids and filtered-out users absent.
#[tokio::test]
async fn an_or_of_ids_answers_as_a_scan_does() {
    let sim = start(SimConfig::tiny(7)).await;
    let api = Api::new(&sim).await;
    let users = api.all("/users?limit=100", "users").await;
    let all = ids(&users);
    let (a, b, c) = (&all[1], &all[5], &all[9]);
    let a_name = users[1]["username"].as_str().unwrap();
    let by_ids =
        format!(r#"id eq "{c}" or id eq "{a}" or id eq "nope" or (id eq "{b}" or id eq "{a}")"#);
    // An `or` with another attribute has no index: every user is scanned.
    let scanned = format!(r#"({by_ids}) or username eq "nobody-has-this-name""#);
    for (extra, want) in [
        ("", vec![a.clone(), b.clone(), c.clone()]),
        (
            &*format!(r#" and (username eq "{a_name}")"#),
            vec![a.clone()],
        ),
    ] {
        let mut got = Vec::new();
        for filter in [format!("({by_ids}){extra}"), format!("({scanned}){extra}")] {
            let (s, v) = api.get(&format!("/users?filter={}", enc(&filter))).await;
            assert_eq!(s, 200, "{filter}: {v}");
            got.push(ids(v["_embedded"]["users"].as_array().unwrap()));
        }
        assert_eq!(got[0], want);
        assert_eq!(got[1], want);
    }
}
