//! End to end: ConductorOne service mode. `connector-host` runs with only
//! the `BATON_*` variables of ConductorOne's Kubernetes Secret, against a
//! fake ConductorOne (`tests/c1-fake`: token endpoint and BatonService on
//! one TLS listener, validating like the real one) and the PingOne
//! simulator, and is driven through hello, sync, grant, revoke, create
//! account, delete, an unsupported task type, a malformed task,
//! cancellation by heartbeat, a dropped connection and an expired token.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use baton_api::connector::{
    AccountInfo, CreateAccountResponse, CredentialOptions, EncryptionConfig, GrantResponse,
    PasswordConstraint, RevokeResponse, account_info, create_account_response, credential_options,
    encryption_config, names,
};
use baton_api::rpc::code;
use baton_api::v1::{FinishTaskRequest, finish_task_request::FinalState, task};
use c1_fake::FakeC1;
use c1z::{C1zReader, pb};
use common::{assert_matches_truth, contents, expect};
use pingone_sim::{Faults, ServeOptions, SimConfig, SimHandle};
use prost::Message as _;

const WAIT: Duration = Duration::from_secs(120);

struct Host {
    child: Child,
    logs: Arc<Mutex<String>>,
}

impl Host {
    /// The host with ConductorOne's Secret as environment and nothing else
    /// (plus where the fake listens and its CA), run with `args`: none (a
    /// Baton-style run) or `serve` (the image's default command).
    fn start(sim: &SimHandle, c1: &FakeC1, dir: &Path, provisioning: bool, args: &[&str]) -> Host {
        Self::start_with(sim, c1, dir, provisioning, args, &[])
    }

    /// `start`, plus `extra` variables (a proxy, say).
    fn start_with(
        sim: &SimHandle,
        c1: &FakeC1,
        dir: &Path,
        provisioning: bool,
        args: &[&str],
        extra: &[(&str, String)],
    ) -> Host {
        let ca = dir.join("c1-ca.pem");
        std::fs::write(&ca, c1.ca_pem()).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
        cmd.env_clear();
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.args(["--log-format", "json", "--log-level", "debug"])
            .args(args)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONNECTOR_HOST_STATE_DIR", dir.join("state"))
            .env("CONNECTOR_HOST_ADMIN_ADDR", "127.0.0.1:0")
            .env("BATON_CLIENT_ID", c1.client_id())
            .env("BATON_CLIENT_SECRET", c1.client_secret())
            .env("BATON_C1_API_HOST", c1.api_host())
            .env("BATON_CA_BUNDLE", &ca)
            .env("BATON_HOST_ID", "c1-test-host")
            .env("BATON_C1Z_TEMP_DIR", dir.join("state"))
            .env("BATON_CHECKPOINT_INTERVAL", "0.2")
            .env("BATON_PROVISIONING", provisioning.to_string())
            .env("BATON_PINGONE_CLIENT_ID", sim.client_id())
            .env("BATON_PINGONE_CLIENT_SECRET", sim.client_secret())
            .env("BATON_PINGONE_ENVIRONMENT_ID", sim.environment_id())
            .env("BATON_PINGONE_API_URL", sim.api_base_url())
            .env("BATON_PINGONE_AUTH_URL", sim.auth_base_url());
        Host::spawn(cmd)
    }

    /// Runs `cmd`, collecting its stdout and stderr lines.
    fn spawn(mut cmd: Command) -> Host {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("connector-host starts");
        let logs = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    sink.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        Host { child, logs }
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> (Option<i32>, String) {
        // SAFETY: signalling our own child process by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.logs())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn finished(c1: &FakeC1, host: &Host, id: &str) -> FinishTaskRequest {
    match c1.wait_finished(id, WAIT).await {
        Some(f) => f,
        None => panic!(
            "task {id} did not finish; events {:?}\nlogs:\n{}",
            c1.events(),
            host.logs()
        ),
    }
}

fn success(f: &FinishTaskRequest) -> (Option<prost_types::Any>, Vec<prost_types::Any>) {
    match &f.final_state {
        Some(FinalState::Success(s)) if f.status.is_none() => {
            (s.response.clone(), s.annotations.clone())
        }
        other => panic!("expected success, got {other:?} with {:?}", f.status),
    }
}

/// (code, message, non_retryable) of a failed task.
fn failure(f: &FinishTaskRequest) -> (i32, String, bool) {
    match (&f.final_state, &f.status) {
        (Some(FinalState::Error(e)), Some(s)) => (s.code, s.message.clone(), e.non_retryable),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn type_name(any: &prost_types::Any) -> &str {
    any.type_url
        .strip_prefix("type.googleapis.com/")
        .unwrap_or(&any.type_url)
}

fn members(sim: &SimHandle, user: &str, group: &str) -> usize {
    sim.ground_truth()
        .memberships
        .iter()
        .filter(|m| m.user_id == user && m.group_id == group)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conductorone_drives_sync_and_provisioning() {
    let sim = pingone_sim::start(SimConfig::small(61), ServeOptions::default())
        .await
        .unwrap();
    let c1 = FakeC1::start().await;
    c1.set_next_poll(Duration::from_millis(100));
    c1.set_next_heartbeat(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&sim, &c1, dir.path(), true, &[]);

    // Hello: this host, the PingOne connector and its capabilities.
    assert!(
        c1.wait_until(WAIT, |c| !c.hellos().is_empty()).await,
        "no hello; logs:\n{}",
        host.logs()
    );
    let hello = c1.hellos()[0].clone();
    assert_eq!(
        (hello.host_id.as_str(), hello.task_id.as_str()),
        ("c1-test-host", "")
    );
    let meta = hello.connector_metadata.expect("connector metadata");
    assert_eq!(meta.display_name, "PingOne");
    let caps = meta.capabilities.expect("capabilities");
    for c in [pb::Capability::Sync, pb::Capability::Provision] {
        assert!(
            caps.connector_capabilities.contains(&(c as i32)),
            "{caps:?}"
        );
    }
    // Users, groups and populations are read alone in a targeted sync (and
    // grants name only users and groups): claimed for them, not for roles.
    for c in [
        pb::Capability::TargetedSync,
        pb::Capability::ServiceModeTargetedSync,
    ] {
        assert!(
            caps.connector_capabilities.contains(&(c as i32)),
            "{caps:?}"
        );
    }
    let claims_targeted = |id: &str| {
        caps.resource_type_capabilities
            .iter()
            .find(|r| r.resource_type.as_ref().is_some_and(|t| t.id == id))
            .is_some_and(|r| {
                r.capabilities
                    .contains(&(pb::Capability::TargetedSync as i32))
            })
    };
    assert!(claims_targeted("user") && claims_targeted("group") && claims_targeted("population"));
    assert!(!claims_targeted("role"), "{caps:?}");
    let user_type = caps
        .resource_type_capabilities
        .iter()
        .find(|r| r.resource_type.as_ref().is_some_and(|t| t.id == "user"))
        .expect("user capabilities");
    assert!(
        user_type
            .capabilities
            .contains(&(pb::Capability::AccountProvisioning as i32))
    );
    assert!(meta.account_creation_schema.is_some());
    assert_eq!(hello.build_info.unwrap().package, "connector-host");

    // A full sync: heartbeats from before the upload, a c1z that holds
    // exactly the tenant, in Baton's 512 KiB chunks, then FinishTask.
    let sync_id = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    success(&finished(&c1, &host, &sync_id).await);
    let uploads = c1.uploads(&sync_id);
    assert_eq!(uploads.len(), 1);
    let file = dir.path().join("uploaded.c1z");
    std::fs::write(&file, &uploads[0]).unwrap();
    assert_matches_truth(&contents(&file), &expect::expected(&sim.ground_truth()));
    let events = c1.events();
    let pos = |e: String| events.iter().position(|x| *x == e).unwrap_or(usize::MAX);
    assert!(
        pos(format!("heartbeat:{sync_id}")) < pos(format!("upload:{sync_id}")),
        "{events:?}"
    );
    assert!(
        pos(format!("upload:{sync_id}")) < pos(format!("finish:{sync_id}")),
        "{events:?}"
    );
    for sizes in c1.upload_chunk_sizes(&sync_id) {
        let (last, full) = sizes.split_last().unwrap();
        assert!(
            full.iter().all(|n| *n == 512 * 1024) && *last <= 512 * 1024,
            "{sizes:?}"
        );
    }

    // A second sync: its upload holds that task's sync alone, though the
    // host keeps the previous one beside it (to diff against, and the file
    // an interrupted sync resumes in).
    let again = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    success(&finished(&c1, &host, &again).await);
    let second = dir.path().join("uploaded-again.c1z");
    std::fs::write(&second, &c1.uploads(&again)[0]).unwrap();
    let syncs_in = |p: &Path| C1zReader::open(p).unwrap().syncs().unwrap();
    let (first_syncs, second_syncs) = (syncs_in(&file), syncs_in(&second));
    assert_eq!((first_syncs.len(), second_syncs.len()), (1, 1));
    assert_ne!(first_syncs[0].sync_id, second_syncs[0].sync_id);
    assert!(second_syncs[0].is_finished() && second_syncs[0].sync_type == "full");
    assert_matches_truth(&contents(&second), &expect::expected(&sim.ground_truth()));
    let kept_dir = dir.path().join("state").join("connector-host-c1");
    let kept = kept_dir.join("sync.c1z");
    let kept_ids: Vec<String> = syncs_in(&kept).into_iter().map(|s| s.sync_id).collect();
    assert_eq!(
        kept_ids,
        [
            first_syncs[0].sync_id.clone(),
            second_syncs[0].sync_id.clone()
        ]
    );
    assert!(
        !kept_dir.join("sync.c1z.upload").exists(),
        "the upload's copy is removed"
    );

    // A hello task is answered by a Hello carrying its id, and no FinishTask.
    let hello_id = c1.enqueue(task::TaskType::Hello(Default::default()));
    assert!(
        c1.wait_until(WAIT, |c| c.hellos().iter().any(|h| h.task_id == hello_id))
            .await
    );

    // Grant: ConductorOne sends the entitlement and principal as synced.
    let reader = C1zReader::open(&file).unwrap();
    let t = sim.ground_truth();
    let group = t
        .groups
        .iter()
        .find(|g| g.get("population").is_none() && g.get("userFilter").is_none())
        .map(|g| g["id"].as_str().unwrap().to_string())
        .expect("an environment-level static group");
    let user = t
        .users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .find(|u| members(&sim, u, &group) == 0)
        .expect("a user outside the group");
    let entitlement = reader
        .entitlement(&format!("group:{group}:member"))
        .unwrap()
        .expect("the membership entitlement");
    let principal = reader.resource("user", &user).unwrap().expect("the user");
    let grant_task = || {
        task::TaskType::Grant(task::GrantTask {
            entitlement: Some(entitlement.clone()),
            principal: Some(principal.clone()),
            ..Default::default()
        })
    };
    let id = c1.enqueue(grant_task());
    let (response, annotations) = success(&finished(&c1, &host, &id).await);
    let response = response.expect("a grant response");
    assert_eq!(type_name(&response), names::GRANT_RESPONSE);
    assert!(annotations.is_empty(), "{annotations:?}");
    assert_eq!(members(&sim, &user, &group), 1);
    // Again: success, marked as already there, still one membership.
    let id = c1.enqueue(grant_task());
    let (response, annotations) = success(&finished(&c1, &host, &id).await);
    let decoded = GrantResponse::decode(&response.unwrap().value[..]).unwrap();
    assert_eq!(decoded.annotations, annotations);
    assert_eq!(
        annotations.iter().map(type_name).collect::<Vec<_>>(),
        [names::GRANT_ALREADY_EXISTS]
    );
    assert_eq!(members(&sim, &user, &group), 1);

    // Revoke, twice.
    let grant = pb::Grant {
        id: format!("{}:user:{user}", entitlement.id),
        entitlement: Some(entitlement.clone()),
        principal: Some(principal.clone()),
        ..Default::default()
    };
    let revoke_task = || {
        task::TaskType::Revoke(task::RevokeTask {
            grant: Some(grant.clone()),
            annotations: vec![],
        })
    };
    let id = c1.enqueue(revoke_task());
    let (response, _) = success(&finished(&c1, &host, &id).await);
    assert_eq!(
        type_name(response.as_ref().unwrap()),
        names::REVOKE_RESPONSE
    );
    assert_eq!(members(&sim, &user, &group), 0);
    let id = c1.enqueue(revoke_task());
    let (response, annotations) = success(&finished(&c1, &host, &id).await);
    let decoded = RevokeResponse::decode(&response.unwrap().value[..]).unwrap();
    assert_eq!(decoded.annotations, annotations);
    assert_eq!(
        annotations.iter().map(type_name).collect::<Vec<_>>(),
        [names::GRANT_ALREADY_REVOKED]
    );

    // Create an account with a random password, encrypted to ConductorOne's key.
    let recipient = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let jwk = serde_json::json!({
        "kty": "OKP", "crv": "Ed25519",
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(recipient.verifying_key().to_bytes()),
    });
    let profile =
        pb::json_to_struct(&serde_json::json!({"given_name": "Cee", "family_name": "One"}));
    let users_before = sim.ground_truth().users.len();
    let id = c1.enqueue(task::TaskType::CreateAccount(task::CreateAccountTask {
        account_info: Some(AccountInfo {
            emails: vec![account_info::Email {
                address: "cee.one@example.com".into(),
                is_primary: true,
            }],
            login: "cee.one".into(),
            login_aliases: vec![],
            profile,
        }),
        credential_options: Some(CredentialOptions {
            force_change_at_next_login: false,
            options: Some(credential_options::Options::RandomPassword(
                credential_options::RandomPassword {
                    length: 24,
                    constraints: vec![
                        PasswordConstraint {
                            char_set: "0123456789".into(),
                            min_count: 5,
                        },
                        PasswordConstraint {
                            char_set: "~".into(),
                            min_count: 2,
                        },
                    ],
                },
            )),
        }),
        encryption_configs: vec![EncryptionConfig {
            provider: "baton/jwk/v1".into(),
            config: Some(encryption_config::Config::JwkPublicKeyConfig(
                encryption_config::JwkPublicKeyConfig {
                    pub_key: jwk.to_string().into_bytes(),
                },
            )),
            ..Default::default()
        }],
        resource_type_id: Some("user".into()),
    }));
    let (response, _) = success(&finished(&c1, &host, &id).await);
    let response = response.unwrap();
    assert_eq!(type_name(&response), names::CREATE_ACCOUNT_RESPONSE);
    let created = CreateAccountResponse::decode(&response.value[..]).unwrap();
    let new_user = match created.result {
        Some(create_account_response::Result::Success(s)) => s.resource.unwrap().id.unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(new_user.resource_type, "user");
    assert_eq!(created.encrypted_data.len(), 1);
    let secret = &created.encrypted_data[0];
    assert_eq!(secret.provider, "baton/jwk/v1");
    let age_file = base64::engine::general_purpose::STANDARD
        .decode(&secret.encrypted_bytes)
        .expect("base64 ciphertext");
    assert!(age_file.starts_with(b"age-encryption.org/v1\n-> ssh-ed25519 "));
    // Baton's provider names the key in `key_ids` as well as `key_id`.
    assert_eq!(secret.key_id.len(), 64);
    assert_eq!(secret.key_ids, std::slice::from_ref(&secret.key_id));
    // The password is the one asked for: 24 characters, at least five
    // digits and two tildes, and PingOne's classes.
    let password = String::from_utf8(common::age_key::decrypt(
        &recipient,
        &secret.encrypted_bytes,
    ))
    .unwrap();
    assert_eq!(password.chars().count(), 24);
    assert!(password.chars().filter(char::is_ascii_digit).count() >= 5);
    assert!(password.chars().filter(|c| *c == '~').count() >= 2);
    assert!(password.chars().any(|c| c.is_ascii_uppercase()));
    assert!(password.chars().any(|c| c.is_ascii_lowercase()));
    let t = sim.ground_truth();
    assert_eq!(t.users.len(), users_before + 1);
    let made = t
        .users
        .iter()
        .find(|u| u["id"] == new_user.resource.as_str())
        .expect("the new user in PingOne");
    assert_eq!(made["username"], "cee.one");
    assert_eq!(made["email"], "cee.one@example.com");
    assert_eq!(made["name"]["given"], "Cee");

    // Delete it.
    let id = c1.enqueue(task::TaskType::DeleteResource(task::DeleteResourceTask {
        resource_id: Some(new_user.clone()),
        parent_resource_id: None,
    }));
    let (response, _) = success(&finished(&c1, &host, &id).await);
    assert_eq!(
        type_name(response.as_ref().unwrap()),
        names::DELETE_RESOURCE_RESPONSE
    );
    assert_eq!(sim.ground_truth().users.len(), users_before);

    // Malformed tasks: UNKNOWN as Baton's SDK sends, non-retryable, and no
    // call to PingOne.
    sim.reset_stats();
    let malformed = [
        task::TaskType::Grant(task::GrantTask {
            entitlement: Some(entitlement.clone()),
            ..Default::default()
        }),
        task::TaskType::Revoke(task::RevokeTask::default()),
        task::TaskType::DeleteResource(task::DeleteResourceTask {
            resource_id: Some(pb::ResourceId::new("user", "")),
            parent_resource_id: None,
        }),
        task::TaskType::CreateAccount(task::CreateAccountTask::default()),
    ];
    for t in malformed {
        let id = c1.enqueue(t);
        let (code_, message, non_retryable) = failure(&finished(&c1, &host, &id).await);
        assert_eq!((code_, non_retryable), (code::UNKNOWN, true), "{message}");
        assert!(message.contains(" task"), "{message}");
    }
    assert_eq!(sim.stats().total, 0);

    // A password no one can make (eight digits leave PingOne's policy no
    // room for letters): refused, saying why, before PingOne is called.
    let id = c1.enqueue(task::TaskType::CreateAccount(task::CreateAccountTask {
        account_info: Some(AccountInfo {
            login: "never.made".into(),
            ..Default::default()
        }),
        credential_options: Some(CredentialOptions {
            force_change_at_next_login: false,
            options: Some(credential_options::Options::RandomPassword(
                credential_options::RandomPassword {
                    length: 8,
                    constraints: vec![PasswordConstraint {
                        char_set: "0123456789".into(),
                        min_count: 8,
                    }],
                },
            )),
        }),
        encryption_configs: vec![EncryptionConfig {
            provider: "baton/jwk/v1".into(),
            config: Some(encryption_config::Config::JwkPublicKeyConfig(
                encryption_config::JwkPublicKeyConfig {
                    pub_key: jwk.to_string().into_bytes(),
                },
            )),
            ..Default::default()
        }],
        resource_type_id: Some("user".into()),
    }));
    let (code_, message, non_retryable) = failure(&finished(&c1, &host, &id).await);
    assert_eq!(
        (code_, non_retryable),
        (code::INVALID_ARGUMENT, true),
        "{message}"
    );
    assert!(message.contains("PingOne's password policy"), "{message}");
    assert_eq!(sim.stats().total, 0);

    // An unsupported task type: UNKNOWN as Baton's SDK sends, retryable;
    // the host keeps polling.
    let id = c1.enqueue(task::TaskType::EventFeed(Default::default()));
    let (code_, message, non_retryable) = failure(&finished(&c1, &host, &id).await);
    assert_eq!((code_, non_retryable), (code::UNKNOWN, false));
    assert!(
        message.contains("unsupported task type: event_feed"),
        "{message}"
    );
    let id = c1.enqueue(task::TaskType::Hello(Default::default()));
    assert!(
        c1.wait_until(WAIT, |c| c.hellos().iter().any(|h| h.task_id == id))
            .await
    );

    assert_eq!(c1.violations(), Vec::<String>::new());
    assert_eq!(c1.token_rejections(), Vec::<String>::new());
    assert!(
        c1.user_agents()
            .iter()
            .all(|ua| ua.starts_with("test-client "))
    );
    // One token served the whole run.
    assert_eq!(c1.token_fetches(), 1);

    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    assert!(logs.contains("drained: clean"), "{logs}");
    for secret in [c1.client_secret(), sim.client_secret().to_string()] {
        let key = secret.rsplit(':').next().unwrap().to_string();
        assert!(!logs.contains(&key), "a secret reached the logs");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_reconnects_and_token_expiry() {
    let sim = pingone_sim::start(SimConfig::medium(62), ServeOptions::default())
        .await
        .unwrap();
    // Slow enough that the sync outlives a few heartbeats.
    sim.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let c1 = FakeC1::start().await;
    c1.set_next_poll(Duration::from_millis(100));
    c1.set_next_heartbeat(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&sim, &c1, dir.path(), false, &["serve"]);
    assert!(
        c1.wait_until(WAIT, |c| !c.hellos().is_empty()).await,
        "{}",
        host.logs()
    );

    // Cancelled by heartbeat mid-sync: it stops, uploads nothing, and
    // reports CANCELLED (retryable).
    let first = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    assert!(
        c1.wait_until(WAIT, |c| c.heartbeats(&first) >= 2).await,
        "{}",
        host.logs()
    );
    // ConductorOne re-delivers the running task: it is not started twice.
    assert!(c1.reissue(&first));
    let handed_out = |c: &FakeC1| {
        c.events()
            .iter()
            .filter(|e| **e == format!("task:{first}"))
            .count()
    };
    assert!(c1.wait_until(WAIT, |c| handed_out(c) == 2).await);
    assert!(
        c1.wait_until(WAIT, |c| c.heartbeats(&first) >= 4).await,
        "{}",
        host.logs()
    );
    assert!(c1.cancel_task(&first));
    let (code_, message, non_retryable) = failure(&finished(&c1, &host, &first).await);
    assert_eq!(
        (code_, non_retryable),
        (code::CANCELLED, false),
        "{message}"
    );
    assert!(message.contains("cancelled"), "{message}");
    assert!(c1.uploads(&first).is_empty());
    assert_eq!(c1.finishes(&first).len(), 1);
    assert!(
        host.logs().contains("already running here"),
        "{}",
        host.logs()
    );

    // The network drops: every connection is cut and, for a while, new ones
    // are refused. The host reconnects by itself.
    sim.set_faults(Faults::default());
    let accepted = c1.connections_accepted();
    c1.set_refuse_connections(true);
    c1.drop_connections();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        c1.connections_accepted() > accepted,
        "the host did not try to reconnect"
    );
    c1.set_refuse_connections(false);

    // The token expires on the server's side: the host's next call is
    // refused, it fetches a new token, and carries on.
    let fetches = c1.token_fetches();
    c1.expire_all_tokens();

    // The next sync resumes from the cancelled one's checkpoint and
    // uploads the whole tenant. (Run by `serve`, the checkpoint lives in
    // the tenant's state folder.)
    let second = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    success(&finished(&c1, &host, &second).await);
    let file = dir.path().join("uploaded.c1z");
    std::fs::write(&file, &c1.uploads(&second)[0]).unwrap();
    assert_matches_truth(&contents(&file), &expect::expected(&sim.ground_truth()));
    // The resumed sync alone: the cancelled attempt left no other.
    assert_eq!(C1zReader::open(&file).unwrap().syncs().unwrap().len(), 1);
    let logs = host.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("sync finished") && l.contains("\"resumed\":true")),
        "the second sync did not resume:\n{logs}"
    );
    assert!(c1.unauthenticated_calls() >= 1);
    assert!(c1.token_fetches() > fetches);
    // The refusal quoted the expired token; the host's logs do not.
    for token in c1.issued_tokens() {
        assert!(!logs.contains(&token), "a token leaked into the logs");
    }

    // Provisioning is off for this host: refused before the connector.
    let id = c1.enqueue(task::TaskType::DeleteResource(task::DeleteResourceTask {
        resource_id: Some(pb::ResourceId::new("user", "u-1")),
        parent_resource_id: None,
    }));
    let (code_, message, non_retryable) = failure(&finished(&c1, &host, &id).await);
    assert_eq!(
        (code_, non_retryable),
        (code::FAILED_PRECONDITION, true),
        "{message}"
    );

    assert_eq!(c1.violations(), Vec::<String>::new());
    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    sim.shutdown().await;
}

/// A `serve` tenant bound to its own ConductorOne connector.
/// A task cancelled while its c1z uploads over a stalled link ends at the
/// next heartbeat as CANCELLED (retryable), not at the upload's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_the_upload_ends_the_task() {
    let sim = pingone_sim::start(SimConfig::tiny(65), ServeOptions::default())
        .await
        .unwrap();
    let c1 = FakeC1::start().await;
    c1.set_next_poll(Duration::from_millis(100));
    c1.set_next_heartbeat(Duration::from_secs(1));
    c1.stall_uploads(true);
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&sim, &c1, dir.path(), false, &["serve"]);

    let id = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    assert!(
        c1.wait_until(WAIT, |c| c.uploads_begun().contains(&id))
            .await,
        "the upload never began; logs:\n{}",
        host.logs()
    );
    assert!(c1.cancel_task(&id));
    let (code_, message, non_retryable) = failure(&finished(&c1, &host, &id).await);
    assert_eq!(
        (code_, non_retryable),
        (code::CANCELLED, false),
        "{message}"
    );
    assert!(message.contains("during the upload"), "{message}");
    assert!(c1.uploads(&id).is_empty());
    assert_eq!(c1.violations(), Vec::<String>::new());
    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    sim.shutdown().await;
}

/// A sync task naming resources uploads Baton's partial sync of them: the
/// resources, their entitlements, those entitlements' grants and the
/// grants' principals, as a sync of type `partial`, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_sync_uploads_a_partial_sync_of_those_resources() {
    let sim = pingone_sim::start(SimConfig::tiny(66), ServeOptions::default())
        .await
        .unwrap();
    let c1 = FakeC1::start().await;
    c1.set_next_poll(Duration::from_millis(100));
    c1.set_next_heartbeat(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&sim, &c1, dir.path(), false, &[]);

    let full_task = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    success(&finished(&c1, &host, &full_task).await);
    let full_file = dir.path().join("full.c1z");
    std::fs::write(&full_file, &c1.uploads(&full_task)[0]).unwrap();
    let full = C1zReader::open(&full_file).unwrap();
    let full_id = full.syncs().unwrap()[0].sync_id.clone();
    let grants: Vec<pb::Grant> = full
        .grants(&full_id, &Default::default())
        .map(|g| g.unwrap())
        .collect();
    let owner = |g: &pb::Grant| {
        g.entitlement
            .as_ref()
            .and_then(|e| e.resource.as_ref())
            .and_then(|r| r.id.clone())
            .unwrap()
    };
    // A group with members, and a user, named as ConductorOne names them.
    let group = grants
        .iter()
        .map(owner)
        .find(|id| id.resource_type == "group")
        .expect("a group with a grant");
    let user = full
        .resources(&full_id, Some("user"))
        .map(|r| r.unwrap())
        .next()
        .expect("a user");
    let user_id = user.id.clone().unwrap();
    let named = [
        full.resource(&group.resource_type, &group.resource)
            .unwrap()
            .unwrap(),
        user,
        pb::Resource {
            id: Some(pb::ResourceId::new("group", "no-such-group")),
            ..Default::default()
        },
    ];
    let targets = [group.clone(), user_id.clone()];

    let id = c1.enqueue(task::TaskType::SyncFull(task::SyncFullTask {
        targeted_sync_resources: named.to_vec(),
        ..Default::default()
    }));
    success(&finished(&c1, &host, &id).await);
    let file = dir.path().join("partial.c1z");
    std::fs::write(&file, &c1.uploads(&id)[0]).unwrap();
    let r = C1zReader::open(&file).unwrap();
    let syncs = r.syncs().unwrap();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    let s = &syncs[0];
    assert_eq!(s.sync_type, "partial");
    assert!(s.is_finished());

    let want_grants: std::collections::BTreeSet<String> = grants
        .iter()
        .filter(|g| targets.contains(&owner(g)))
        .map(|g| g.id.clone())
        .collect();
    assert!(!want_grants.is_empty());
    let mut want_resources: std::collections::BTreeSet<String> = grants
        .iter()
        .filter(|g| targets.contains(&owner(g)))
        .map(|g| {
            g.principal
                .as_ref()
                .unwrap()
                .id
                .as_ref()
                .unwrap()
                .external_id()
        })
        .collect();
    want_resources.extend(targets.iter().map(|t| t.external_id()));
    let want_entitlements: std::collections::BTreeSet<String> = full
        .entitlements(&full_id, None)
        .map(|e| e.unwrap())
        .filter(|e| {
            e.resource
                .as_ref()
                .and_then(|r| r.id.as_ref())
                .is_some_and(|i| targets.contains(i))
        })
        .map(|e| e.id)
        .collect();

    let got_resources: std::collections::BTreeSet<String> = r
        .resources(&s.sync_id, None)
        .map(|x| x.unwrap().id.unwrap().external_id())
        .collect();
    let got_entitlements: std::collections::BTreeSet<String> = r
        .entitlements(&s.sync_id, None)
        .map(|e| e.unwrap().id)
        .collect();
    let got_grants: std::collections::BTreeSet<String> = r
        .grants(&s.sync_id, &Default::default())
        .map(|g| g.unwrap().id)
        .collect();
    assert_eq!(got_resources, want_resources);
    assert_eq!(got_entitlements, want_entitlements);
    assert_eq!(got_grants, want_grants);
    assert!(
        got_resources.len() < full.resources(&full_id, None).count(),
        "not the whole tenant"
    );
    assert!(
        host.logs().contains("group:no-such-group not found"),
        "{}",
        host.logs()
    );
    // Read alone, not cut from a traversal of the whole tenant.
    assert!(
        !host.logs().contains("syncing the whole tenant"),
        "{}",
        host.logs()
    );

    assert_eq!(c1.violations(), Vec::<String>::new());
    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    sim.shutdown().await;
}

const ADMIN_TOKEN: &str = "admin-token-for-conductorone-tests";

/// The admin API's base URL, from the host's startup log.
async fn admin_base(host: &Host) -> String {
    for _ in 0..200 {
        let logs = host.logs();
        if let Some(rest) = logs.split("admin API listening on ").nth(1) {
            let addr: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            return format!("http://{addr}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no admin address in the logs:\n{}", host.logs());
}

fn bound_tenant(id: &str, sim: &SimHandle, secret_env: &str, c1: &FakeC1) -> String {
    format!(
        r#"
[[tenant]]
id = "{id}"
component = {{ builtin = "pingone" }}
provisioning = true
[tenant.config]
pingone-client-id = "{client_id}"
pingone-environment-id = "{env}"
pingone-api-url = "{api}"
pingone-auth-url = "{auth}"
[tenant.secrets]
pingone-client-secret = {{ env = "{secret_env}" }}
[tenant.conductorone]
client_id = "{c1_id}"
client_secret = {{ env = "{secret_env}_C1" }}
api_host = "{c1_host}"
task_concurrency = 2
"#,
        client_id = sim.client_id(),
        env = sim.environment_id(),
        api = sim.api_base_url(),
        auth = sim.auth_base_url(),
        c1_id = c1.client_id(),
        c1_host = c1.api_host(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binds_each_tenant_to_its_own_conductorone_connector() {
    let sims = [
        pingone_sim::start(SimConfig::tiny(63), ServeOptions::default())
            .await
            .unwrap(),
        pingone_sim::start(SimConfig::small(64), ServeOptions::default())
            .await
            .unwrap(),
    ];
    let c1s = [FakeC1::start().await, FakeC1::start().await];
    for c1 in &c1s {
        c1.set_next_poll(Duration::from_millis(100));
    }
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.toml");
    std::fs::write(
        &tenants,
        bound_tenant("acme", &sims[0], "ACME", &c1s[0])
            + &bound_tenant("globex", &sims[1], "GLOBEX", &c1s[1]),
    )
    .unwrap();
    let bundle = dir.path().join("cas.pem");
    std::fs::write(&bundle, c1s[0].ca_pem() + &c1s[1].ca_pem()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_connector-host"));
    cmd.args([
        "--log-format",
        "json",
        "serve",
        "--admin-addr",
        "127.0.0.1:0",
    ])
    .arg("--tenants")
    .arg(&tenants)
    .arg("--state-dir")
    .arg(dir.path().join("state"))
    .arg("--cache-dir")
    .arg(dir.path().join("cache"))
    .arg("--ca-bundle")
    .arg(&bundle)
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("ACME", sims[0].client_secret())
    .env("ACME_C1", c1s[0].client_secret())
    .env("GLOBEX", sims[1].client_secret())
    .env("GLOBEX_C1", c1s[1].client_secret())
    .env("CONNECTOR_HOST_ADMIN_TOKEN", ADMIN_TOKEN);
    let host = Host::spawn(cmd);

    // While ConductorOne's sync of a tenant runs, the admin API cannot start
    // another one on the same c1z.
    sims[0].set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    let admin = admin_base(&host).await;
    let api_requests = || {
        let s = sims[0].stats();
        s.total - s.tokens_issued
    };
    let before = api_requests();
    let slow = c1s[0].enqueue(task::TaskType::SyncFull(Default::default()));
    // The task's first request (its validate call) is made under the lock,
    // and at 400 ms a request the sync has seconds left to run.
    while api_requests() == before {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = reqwest::Client::new()
        .post(format!("{admin}/v1/tenants/acme/sync"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin API answers");
    assert_eq!(
        refused.status().as_u16(),
        409,
        "a second sync of acme started"
    );
    sims[0].set_faults(Faults::default());
    success(&finished(&c1s[0], &host, &slow).await);

    // Each connector says hello to its own ConductorOne, and each
    // ConductorOne's sync task uploads its own tenant's data.
    let ids: Vec<String> = c1s
        .iter()
        .map(|c1| c1.enqueue(task::TaskType::SyncFull(Default::default())))
        .collect();
    for ((c1, sim), id) in c1s.iter().zip(&sims).zip(&ids) {
        success(&finished(c1, &host, id).await);
        assert_eq!(
            c1.hellos()[0]
                .connector_metadata
                .as_ref()
                .unwrap()
                .display_name,
            "PingOne"
        );
        let file = dir.path().join(format!("{id}.c1z"));
        std::fs::write(&file, &c1.uploads(id)[0]).unwrap();
        assert_matches_truth(&contents(&file), &expect::expected(&sim.ground_truth()));
        assert_eq!(c1.violations(), Vec::<String>::new());
    }
    // Neither ConductorOne saw the other's task ids.
    assert!(c1s[1].finishes(&ids[0]).is_empty() && c1s[0].finishes(&ids[1]).is_empty());

    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    for c1 in &c1s {
        let key = c1.client_secret().rsplit(':').next().unwrap().to_string();
        assert!(
            !logs.contains(&key),
            "a ConductorOne secret reached the logs"
        );
    }
    for sim in sims {
        sim.shutdown().await;
    }
}

/// The variables `Host::start` sets that ConductorOne's manifest does not:
/// where the fake and the simulator listen, the fake's CA, and test paths.
const TEST_ONLY: &[&str] = &[
    "PATH",
    "CONNECTOR_HOST_STATE_DIR",
    "CONNECTOR_HOST_ADMIN_ADDR",
    "BATON_C1_API_HOST",
    "BATON_CA_BUNDLE",
    "BATON_C1Z_TEMP_DIR",
    "BATON_CHECKPOINT_INTERVAL",
    "BATON_PINGONE_API_URL",
    "BATON_PINGONE_AUTH_URL",
];

/// `deploy/kubernetes/conductorone` is ConductorOne's manifest with only
/// the image changed, and what it gives the container is what the tests
/// above run the host with: the Secret's keys through `envFrom`, the
/// Deployment's `BATON_HOST_ID`, and the image's default command (`serve`,
/// which `cancellation_reconnects_and_token_expiry` runs).
#[test]
fn conductorones_manifest_runs_the_image_as_the_tests_do() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("deploy/kubernetes/conductorone");
    let read = |f: &str| -> serde_yaml::Value {
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
    };
    let secret = read("secret.yaml");
    let mut keys: Vec<String> = secret["stringData"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "BATON_CLIENT_ID",
            "BATON_CLIENT_SECRET",
            "BATON_PINGONE_CLIENT_ID",
            "BATON_PINGONE_CLIENT_SECRET",
            "BATON_PINGONE_ENVIRONMENT_ID",
            "BATON_PROVISIONING",
        ]
    );
    let deployment = read("deployment.yaml");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("command").is_none() && container.get("args").is_none());
    assert_eq!(
        container["envFrom"][0]["secretRef"]["name"],
        secret["metadata"]["name"]
    );
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["BATON_HOST_ID"]);
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    assert!(dockerfile.lines().any(|l| l.trim() == r#"CMD ["serve"]"#));
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == r#"ENTRYPOINT ["connector-host"]"#)
    );

    // Host::start sets exactly the manifest's variables plus test plumbing.
    let source = std::fs::read_to_string(file!()).unwrap_or_else(|_| {
        std::fs::read_to_string(root.join("host/cli/tests/conductorone.rs")).unwrap()
    });
    let start = &source[source.find("fn start(").unwrap()..source.find("fn logs(").unwrap()];
    let mut set: Vec<&str> = start
        .split(".env(\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .filter(|v| !TEST_ONLY.contains(v))
        .collect();
    set.sort();
    let mut want: Vec<&str> = keys.iter().map(String::as_str).chain(env).collect();
    want.sort();
    assert_eq!(set, want);
}

/// Credentials ConductorOne refuses stop the host at startup, with a
/// message that names the variables and no secret; an unreachable
/// ConductorOne is retried instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_stop_the_host_and_outages_are_retried() {
    let sim = pingone_sim::start(SimConfig::tiny(65), ServeOptions::default())
        .await
        .unwrap();
    let c1 = FakeC1::start().await;
    let dir = tempfile::tempdir().unwrap();

    // ConductorOne is down at first: the hello is retried with backoff.
    c1.set_refuse_connections(true);
    let host = Host::start(&sim, &c1, dir.path(), false, &[]);
    assert!(
        c1.wait_until(WAIT, |c| c.connections_accepted() >= 2).await,
        "{}",
        host.logs()
    );
    c1.set_refuse_connections(false);
    assert!(
        c1.wait_until(WAIT, |c| !c.hellos().is_empty()).await,
        "{}",
        host.logs()
    );
    let (status, _) = host.terminate();
    assert_eq!(status, Some(0));

    // The token endpoint refuses: the host exits 1 and says why.
    c1.fail_tokens(1_000);
    let mut host = Host::start(&sim, &c1, dir.path(), false, &[]);
    let status = tokio::task::spawn_blocking(move || {
        let s = host.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (s, host.logs())
    });
    let (status, logs) = tokio::time::timeout(WAIT, status).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("ConductorOne refused the connector"),
        "{logs}"
    );
    assert!(logs.contains("BATON_CLIENT_SECRET"), "{logs}");
    let key = c1.client_secret().rsplit(':').next().unwrap().to_string();
    assert!(!logs.contains(&key), "the secret reached the output");
    sim.shutdown().await;
}

/// Behind a corporate proxy: with `HTTPS_PROXY` set, both the token request
/// and the gRPC channel reach ConductorOne through CONNECT tunnels, and TLS
/// (verified against the fake's CA) runs inside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conductorone_is_reached_through_https_proxy() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let sim = pingone_sim::start(SimConfig::tiny(66), ServeOptions::default())
        .await
        .unwrap();
    let c1 = FakeC1::start().await;
    let target = c1.api_host();
    // A CONNECT proxy on loopback that only tunnels to the fake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = tunnels.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read_u8().await {
                        Ok(b) => head.push(b),
                        Err(_) => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let dest = head.split_whitespace().nth(1).unwrap_or("").to_string();
                seen.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or("").to_string());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&dest).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_with(
        &sim,
        &c1,
        dir.path(),
        false,
        &[],
        &[
            ("HTTPS_PROXY", proxy.clone()),
            ("NO_PROXY", "pingone.invalid".into()),
        ],
    );
    assert!(
        c1.wait_until(WAIT, |c| !c.hellos().is_empty()).await,
        "{}",
        host.logs()
    );
    let id = c1.enqueue(task::TaskType::SyncFull(Default::default()));
    success(&finished(&c1, &host, &id).await);
    let tunnels = tunnels.lock().unwrap().clone();
    // One tunnel for the token request, one for the gRPC channel (at least).
    assert!(tunnels.len() >= 2, "{tunnels:?}");
    assert!(
        tunnels
            .iter()
            .all(|t| *t == format!("CONNECT {target} HTTP/1.1")),
        "{tunnels:?}"
    );
    assert_eq!(c1.violations(), Vec::<String>::new());
    let (status, logs) = host.terminate();
    assert_eq!(status, Some(0), "{logs}");
    sim.shutdown().await;
}
