//! The operator, never the component, decides where credentials go.
//!
//! Each test runs a hostile component end to end and expects the host's
//! typed refusal, with nothing sent and nothing leaked:
//! - secret-probe's `probe-auth-url` defaults to a collector of its own
//!   choosing: an untrusted component's default never becomes an origin,
//!   and `config` and `validate` say what it asked for;
//! - secret-probe attaches its credentials to `sink-url`, an origin the
//!   operator allowed for another config group: `PolicyDenied`, naming the
//!   credential and the origin (also re-run inside `unshare -n`, where a
//!   request that got past the binding would fail as unreachable);
//! - flag-shadow names a field `client-secret`, the host's ConductorOne
//!   credential flag: refused at load, naming the field.
//!
//! Scrubbing of echoed credentials is shown in `secrets_never_leak.rs`.
//! Every server here is on loopback; denied destinations are loopback ports
//! where nothing listens.

use std::process::{Command, Output as ProcessOutput};

use connector_runtime::{CallError, Limits, Plugin};
use e2e_tests::components::{self, FLAG_SHADOW, SECRET_PROBE};
use e2e_tests::server::{Reply, TestServer};
use e2e_tests::{
    host_binary, in_empty_netns, instance, list_resources, rerun_in_empty_netns, runtime,
};
use serde_json::{Value, json};

const CLIENT_ID: &str = "probe-client";
const CLIENT_SECRET: &str = "clsec-TRUST-0a1b2c3d4e5f";
const API_TOKEN: &str = "apitok-TRUST-6a7b8c9d0e1f";
/// The collector secret-probe names as its token endpoint's default.
const COLLECTOR: &str = "http://127.0.0.1:9";
const NETNS_TEST: &str = "credentials_go_only_to_their_groups_origins_without_a_network";

async fn probe() -> std::sync::Arc<Plugin> {
    runtime()
        .load_file(&components::component(SECRET_PROBE), None)
        .await
        .expect("loading secret-probe")
}

/// Runs the host binary with `args` and no inherited environment.
async fn host(args: Vec<String>) -> ProcessOutput {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(host_binary());
    cmd.args(args)
        .arg("--cache-dir")
        .arg(cache.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &ProcessOutput) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_components_own_origin_is_never_used() {
    let plugin = probe().await;
    let values = [
        ("probe-api-url", "http://127.0.0.1:1/api"),
        ("probe-client-id", CLIENT_ID),
        ("probe-client-secret", CLIENT_SECRET),
    ];
    // In the runtime: no instance, so nothing can be sent anywhere.
    let Err(err) = instance(&plugin, "untrusted", &values, Limits::default()) else {
        panic!("an untrusted component's default became an origin");
    };
    assert!(
        err.contains("missing required --probe-auth-url (BATON_PROBE_AUTH_URL)")
            && err.contains(COLLECTOR),
        "{err}"
    );

    // Through the CLI: validate refuses before any request.
    let path = components::component(SECRET_PROBE);
    let digest = connector_runtime::engine::sha256_hex(&std::fs::read(&path).unwrap());
    let mut args: Vec<String> = vec!["--component".into(), path.display().to_string()];
    for (k, v) in values {
        args.push(format!("--{k}={v}"));
    }
    let out = host([args.clone(), vec!["validate".into()]].concat()).await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stderr.contains("--probe-auth-url"), "{stderr}");
    assert!(!stderr.contains(CLIENT_SECRET) && !stdout.contains(CLIENT_SECRET));

    // `config` shows what the component asks for, and that it is not used.
    let config = |extra: Vec<String>| {
        let args = [args.clone(), extra, vec!["config".into()]].concat();
        async move {
            let out = host(args).await;
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{stderr}");
            serde_json::from_str::<Value>(&stdout).unwrap()["egress"].clone()
        }
    };
    let egress = config(vec![]).await;
    assert_eq!(
        egress["componentDefaultsAccepted"],
        json!(false),
        "{egress}"
    );
    assert_eq!(
        egress["requested"],
        json!([{"field": "probe-auth-url", "url": COLLECTOR, "source": "default"}])
    );
    // Pinned by digest and accepted: the operator's explicit decision.
    let pinned = vec![
        format!("--component-sha256={digest}"),
        "--accept-component-egress".into(),
    ];
    let egress = config(pinned).await;
    assert_eq!(egress["componentDefaultsAccepted"], json!(true), "{egress}");
    // Accepting egress without a pin is refused.
    let out = host(
        [
            args,
            vec!["--accept-component-egress".into(), "config".into()],
        ]
        .concat(),
    )
    .await;
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("needs --component-sha256"),
        "{stderr}"
    );
}

/// The probe's config with its credential aimed at `sink`.
fn sink_config<'a>(api: &'a str, sink: &'a str, auth: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("probe-api-url", api),
        ("probe-auth-url", api),
        ("probe-client-id", CLIENT_ID),
        ("probe-client-secret", CLIENT_SECRET),
        ("probe-api-token", API_TOKEN),
        ("probe-auth", auth),
        ("probe-target", "sink"),
        ("sink-url", sink),
    ]
}

/// Both credentials, attached to a request for `sink`, are refused.
async fn check_sink_refused(api: &str, sink: &str) {
    let plugin = probe().await;
    let origin = sink.trim_end_matches('/');
    for (auth, credential) in [
        ("oauth2", "oauth2-token"),
        ("probe-api-token", "probe-api-token"),
    ] {
        let inst = instance(
            &plugin,
            "sink",
            &sink_config(api, sink, auth),
            Limits::default(),
        )
        .unwrap();
        let result = plugin.call(&inst, list_resources("observation")).await;
        let Err(CallError::PolicyDenied(rule)) = &result else {
            panic!("expected PolicyDenied, got {result:?}");
        };
        assert!(
            rule.contains(&format!(
                "credential {credential} may not be sent to {origin}"
            )),
            "{rule}"
        );
        let shown = format!("{result:?}");
        assert!(!shown.contains(CLIENT_SECRET) && !shown.contains(API_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_only_to_their_groups_origins() {
    let api = TestServer::start().await;
    api.route(
        "/as/token",
        Reply::ok(json!({"access_token": "acctok-TRUST-1234567890", "expires_in": 3600})),
    );
    let sink = TestServer::start().await;
    sink.route("/echo", Reply::ok(json!({"got": "it"})));
    check_sink_refused(&api.url(), &sink.url()).await;
    assert!(sink.seen().is_empty(), "the sink got {:?}", sink.seen());
    assert!(api.seen().is_empty(), "{:?}", api.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_only_to_their_groups_origins_without_a_network() {
    // Loopback ports where nothing listens (the namespace has no other
    // address to bind a probe port on).
    let (api, sink) = ("http://127.0.0.1:9", "http://127.0.0.1:7");
    if in_empty_netns() {
        check_sink_refused(api, sink).await;
        println!("netns: credentials refused for the sink");
        return;
    }
    check_sink_refused(api, sink).await;
    if let Some(stdout) = rerun_in_empty_netns(NETNS_TEST) {
        assert!(
            stdout.contains("netns: credentials refused for the sink"),
            "{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_shadowing_a_host_flag_is_refused() {
    let path = components::component(FLAG_SHADOW);
    let out = host(vec![
        "--component".into(),
        path.display().to_string(),
        "--client-secret=c1-secret-value".into(),
        "validate".into(),
    ])
    .await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("\"client-secret\" would shadow the host's own --client-secret"),
        "{stderr}"
    );
    assert!(!stdout.contains("ran with") && !stderr.contains("c1-secret-value"));
}
