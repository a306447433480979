//! A secret's value never appears in anything the guest can see, in the
//! process's logs, in error messages, or in the records a call returns.
//!
//! Threat: a connector that can observe a credential can exfiltrate it
//! through its records, its logs or its error text, all of which leave the
//! sandbox. The host adds credentials after the guest built the request, so
//! the guest never holds them; these tests check every channel back out.
//!
//! Method: each secret is a distinctive canary. The loopback service checks
//! that it received the credential (so the secret really was used) and
//! echoes the whole request (method, target, every header, `Authorization`
//! included, body) back in its response, raw and again as base64, hex and
//! URL-encoded text, which the guests copy into their records and logs; a
//! token endpoint quotes the request it refused in its `error_description`.
//! The secret-probe component copies everything it observes. Then the
//! canaries, raw, hex and base64 at every byte alignment (which covers HTTP
//! Basic's `id:secret`), are searched for in: call outputs and uploaded
//! records, error messages (a refused token, an unreachable token endpoint,
//! a 401 from the API), and every log line at every level.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use connector_runtime::bindings::sync_api::SyncOp;
use connector_runtime::{CallError, Limits, Operation, Output, Plugin};
use e2e_tests::components::{self, DIRECTORY, SECRET_PROBE};
use e2e_tests::server::{Reply, Seen, TestServer};
use e2e_tests::{closed_port, instance, list_resources, logs, resource_id, runtime, task};
use serde_json::json;
use std::sync::Arc;

const DIRECTORY_TOKEN: &str = "dirtok-CANARY-5b1e9d7a3f";
const CLIENT_ID: &str = "probe-client";
const CLIENT_SECRET: &str = "clsec-CANARY-c0ffee4242";
const ACCESS_TOKEN: &str = "acctok-CANARY-9a8b7c6d5e";
const API_TOKEN: &str = "apitok-CANARY-1234abcd99";

/// Every form in which a secret could leak: raw, hex, and the base64
/// characters that stand for the secret alone wherever it starts inside a
/// longer encoded text (dropping the four characters at each end that may
/// mix in neighbouring bytes).
fn leak_forms() -> Vec<String> {
    let mut forms = vec!["CANARY".to_string()];
    for secret in [DIRECTORY_TOKEN, CLIENT_SECRET, ACCESS_TOKEN, API_TOKEN] {
        forms.push(secret.to_string());
        forms.push(secret.bytes().map(|b| format!("{b:02x}")).collect());
        forms.push(secret.bytes().map(|b| format!("{b:02X}")).collect());
        for prefix in ["", "a", "ab"] {
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                let encoded = engine.encode(format!("{prefix}{secret}"));
                forms.push(encoded[4..encoded.len() - 4].to_string());
            }
        }
    }
    forms
}

fn assert_no_secret(channel: &str, text: &str) {
    for form in leak_forms() {
        assert!(
            !text.contains(&form),
            "{channel} contains secret material {form:?}:\n{text}"
        );
    }
}

fn has_bearer(seen: &Seen, token: &str) -> bool {
    seen.header("authorization") == Some(&format!("Bearer {token}"))
}

async fn load(package: &str) -> Arc<Plugin> {
    let path = components::component(package);
    runtime()
        .load_file(&path, None)
        .await
        .unwrap_or_else(|e| panic!("loading {package}: {e}"))
}

/// Runs `op`, returning everything the call handed back to the host's
/// caller (output and uploaded records) as text.
async fn observe(
    plugin: &Plugin,
    inst: &Arc<connector_runtime::InstanceCtx>,
    op: Operation,
) -> String {
    let (output, report) = plugin.call(inst, op).await.expect("the call succeeds");
    format!("{output:?}\n{:?}\n", report.upload)
}

fn error_text(e: &CallError) -> String {
    format!("{e}\n{e:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_token_stays_out_of_guest_data_records_errors_and_logs() {
    let logs = logs::capture();
    let server = TestServer::start().await;
    let echo_user = |id: &'static str, next: Option<&'static str>| {
        Reply::computed(move |seen| {
            if !has_bearer(seen, DIRECTORY_TOKEN) {
                return (401, json!({"error": "missing token"}));
            }
            let items =
                json!([{"id": id, "login": id, "attributes": {"echo": seen.echo_encoded()}}]);
            (200, json!({"items": items, "next": next}))
        })
    };
    server.route(
        "/dir/users.json",
        echo_user("u1", Some("users.json?page=2")),
    );
    server.route("/dir/users.json?page=2", echo_user("u2", None));
    server.route(
        "/dir/groups.json",
        Reply::computed(|seen| {
            if !has_bearer(seen, DIRECTORY_TOKEN) {
                return (401, json!({"error": "missing token"}));
            }
            let echo = seen.echo_encoded().to_string();
            (
                200,
                json!([{"id": "g1", "name": "Eng", "description": echo, "members": ["u1", "u2"]}]),
            )
        }),
    );
    // An API that refuses the token and echoes the request in its error.
    server.route(
        "/refusing/users.json",
        Reply::computed(|seen| {
            (
                401,
                json!({"error": "token revoked", "request": seen.echo_encoded()}),
            )
        }),
    );

    let plugin = load(DIRECTORY).await;
    let dir = format!("{}/dir", server.url());
    let values = [
        ("directory-url", dir.as_str()),
        ("directory-token", DIRECTORY_TOKEN),
    ];
    let inst = instance(&plugin, "leak-check", &values, Limits::default()).unwrap();

    let mut observed = observe(&plugin, &inst, Operation::Validate).await;
    let (first, report) = plugin.call(&inst, list_resources("user")).await.unwrap();
    observed.push_str(&format!("{first:?}\n{:?}\n", report.upload));
    let Output::Page(first) = first else {
        panic!("a page")
    };
    let second = task(SyncOp::ListResources, "user", None, first.next_page_token);
    observed.push_str(&observe(&plugin, &inst, Operation::Sync(second)).await);
    observed.push_str(&observe(&plugin, &inst, list_resources("group")).await);
    let g1 = resource_id("group", "g1");
    for op in [SyncOp::ListEntitlements, SyncOp::ListGrants] {
        let t = task(op, "group", Some(g1.clone()), None);
        observed.push_str(&observe(&plugin, &inst, Operation::Sync(t)).await);
    }

    // The token was used on every request...
    let seen = server.seen();
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(
        seen.iter().all(|s| has_bearer(s, DIRECTORY_TOKEN)),
        "{seen:?}"
    );
    // ...and the echo channel works: the records carry what the server got.
    assert!(observed.contains("user-agent") && observed.contains("/dir/users.json?page=2"));
    assert!(observed.contains("u2") && observed.contains("member"));
    assert_no_secret("outputs and uploaded records", &observed);

    let refusing = format!("{}/refusing", server.url());
    let values = [
        ("directory-url", refusing.as_str()),
        ("directory-token", DIRECTORY_TOKEN),
    ];
    let inst = instance(&plugin, "leak-check-401", &values, Limits::default()).unwrap();
    let err = plugin
        .call(&inst, list_resources("user"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::Connector {
                kind: "unauthenticated",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(error_text(&err).contains("HTTP 401"), "{err}");
    assert_no_secret("the error of a refused token", &error_text(&err));

    let text = logs.text();
    assert!(!text.is_empty(), "the log capture saw nothing");
    assert_no_secret("the logs", &text);
}

/// A token endpoint and an echoing API; the endpoint checks HTTP Basic.
async fn probe_server() -> TestServer {
    let server = TestServer::start().await;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    server.route(
        "/as/token",
        Reply::computed(move |seen| {
            if seen.header("authorization") != Some(&basic) {
                return (401, json!({"error": "invalid_client"}));
            }
            let token =
                json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600});
            (200, token)
        }),
    );
    // A token endpoint that quotes the request it refused, credentials and
    // all, in its error description.
    server.route(
        "/quote/as/token",
        Reply::computed(|seen| {
            let quoted = seen.echo_encoded().to_string();
            (
                401,
                json!({"error": "invalid_client", "error_description": quoted}),
            )
        }),
    );
    server.route(
        "/refuse/as/token",
        Reply::Json(
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        ),
    );
    server.route(
        "/api/echo",
        Reply::computed(|seen| {
            if has_bearer(seen, ACCESS_TOKEN) || has_bearer(seen, API_TOKEN) {
                (200, seen.echo_encoded())
            } else {
                (401, json!({"error": "unauthorized"}))
            }
        }),
    );
    server
}

fn probe_config<'a>(api: &'a str, auth_url: &'a str, auth: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("probe-api-url", api),
        ("probe-auth-url", auth_url),
        ("probe-client-id", CLIENT_ID),
        ("probe-client-secret", CLIENT_SECRET),
        ("probe-api-token", API_TOKEN),
        ("probe-auth", auth),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokered_and_field_credentials_stay_out_of_what_the_guest_observes() {
    let logs = logs::capture();
    let server = probe_server().await;
    let plugin = load(SECRET_PROBE).await;
    let api = format!("{}/api", server.url());
    let auth_url = server.url();
    for auth in ["oauth2", "probe-api-token"] {
        let values = probe_config(&api, &auth_url, auth);
        let inst = instance(&plugin, "probe", &values, Limits::default()).unwrap();
        let observed = observe(&plugin, &inst, list_resources("observation")).await;
        // The guest saw the full echo of its request, its credential
        // scrubbed in every encoding...
        assert!(
            observed.contains("x-probe") && observed.contains("observing"),
            "{observed}"
        );
        assert!(observed.contains("Bearer [redacted]"), "{observed}");
        assert_no_secret(&format!("records of the {auth} probe"), &observed);
    }
    // ...while the service received the credentials the host added.
    let seen = server.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["/as/token", "/api/echo", "/api/echo"]);
    assert!(has_bearer(&seen[1], ACCESS_TOKEN) && has_bearer(&seen[2], API_TOKEN));
    let text = logs.text();
    assert!(
        text.contains("observed"),
        "the guest's log line was not captured"
    );
    assert_no_secret("the logs", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_failures_name_no_secret() {
    let logs = logs::capture();
    let server = probe_server().await;
    let plugin = load(SECRET_PROBE).await;
    let api = format!("{}/api", server.url());
    let refusing = format!("{}/refuse", server.url());
    let quoting = format!("{}/quote", server.url());
    let port = closed_port();
    let unreachable = format!("http://127.0.0.1:{port}");
    // TLS to a plain-HTTP server: the handshake fails.
    let not_tls = format!("https://127.0.0.1:{}", server.port());
    // Only a refusal of the client is a credential error; a network
    // failure says so and names the host.
    for (auth_url, kind, expect) in [
        (
            refusing.as_str(),
            "unauthenticated",
            "invalid_client".to_string(),
        ),
        (
            quoting.as_str(),
            "unauthenticated",
            "[redacted]".to_string(),
        ),
        (
            unreachable.as_str(),
            "unavailable",
            "token endpoint 127.0.0.1 unreachable".to_string(),
        ),
        (
            not_tls.as_str(),
            "unavailable",
            "token endpoint 127.0.0.1 unreachable".to_string(),
        ),
    ] {
        let values = probe_config(&api, auth_url, "oauth2");
        let inst = instance(&plugin, "probe", &values, Limits::default()).unwrap();
        let err = plugin
            .call(&inst, list_resources("observation"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CallError::Connector { kind: k, .. } if *k == kind),
            "{auth_url}: {err:?}"
        );
        assert!(
            kind != "unavailable" || !error_text(&err).contains("refused the client"),
            "{err}"
        );
        assert!(error_text(&err).contains(&expect), "{err}");
        assert_no_secret("a token endpoint error", &error_text(&err));
    }
    assert_no_secret("the logs", &logs.text());
}
