//! Hostile components end in their specific typed error, and the host
//! survives: after each one, a well-behaved call on the same `Runtime`
//! succeeds.
//!
//! Threats covered: CPU hog, memory bomb, stack exhaustion, panic, upload
//! and log flooding, egress to a host the operator never allowed, the cloud
//! metadata service, loopback through an IPv4-mapped IPv6 address, a
//! redirect to a host that is not allowed, a forged `Authorization` header,
//! and a component importing an interface outside the contract.
//!
//! The network cases cannot send a packet even if the policy were broken:
//! every denied destination is a loopback port where nothing listens, a
//! `.localhost` name, or the metadata address, and as root the suite also
//! re-runs them inside `unshare -n`, where a request that got past the
//! policy would fail as a connection error instead of `PolicyDenied`.

use std::time::{Duration, Instant};

use connector_runtime::{CallError, CallReport, LoadError, Output, WarmInstances};
use e2e_tests::components::{self, ROGUE_IMPORT};
use e2e_tests::server::{Reply, TestServer};
use e2e_tests::{adversary, shared_runtime};
use e2e_tests::{
    closed_port, fast_limits, in_empty_netns, instance, list_resources, rerun_in_empty_netns,
};

/// The message the adversary's `panic` mode panics with.
const PANIC_MESSAGE: &str = "adversary panic: gave up on purpose";
const NETNS_TEST: &str = "network_denials_hold_without_a_network";

/// One sync call of the adversary in `mode`.
async fn run(mode: &str, extra: &[(&str, &str)]) -> Result<(Output, CallReport), CallError> {
    let plugin = adversary().await;
    let mut values = vec![("mode", mode)];
    values.extend_from_slice(extra);
    let inst = instance(&plugin, mode, &values, fast_limits()).expect("adversary config");
    plugin.call(&inst, list_resources("user")).await
}

/// The next operation on the same runtime succeeds.
async fn assert_host_survives() {
    let (output, report) = run("well-behaved", &[])
        .await
        .expect("a well-behaved call after a hostile one");
    assert!(matches!(output, Output::Page(_)), "{output:?}");
    assert_eq!(report.upload.resources.len(), 2);
}

fn denial(result: Result<(Output, CallReport), CallError>) -> String {
    match result {
        Err(CallError::PolicyDenied(rule)) => rule,
        other => panic!("expected PolicyDenied, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_exhausts_its_cpu_budget() {
    let started = Instant::now();
    let result = run("loop", &[]).await;
    assert!(
        matches!(result, Err(CallError::CpuExhausted(d)) if d == Duration::from_millis(200)),
        "{result:?}"
    );
    // Stopped near its 200 ms budget, not after the 20 s wall-clock limit.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bomb_hits_the_memory_limit() {
    let result = run("memory", &[]).await;
    assert!(
        matches!(result, Err(CallError::MemoryExceeded(n)) if n == 32 << 20),
        "{result:?}"
    );
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_recursion_overflows_the_stack() {
    let result = run("recursion", &[]).await;
    assert!(
        matches!(result, Err(CallError::StackOverflow)),
        "{result:?}"
    );
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_reported_with_its_message() {
    let result = run("panic", &[]).await;
    match result {
        Err(CallError::GuestPanic(message)) => {
            assert!(message.contains(PANIC_MESSAGE), "{message}")
        }
        other => panic!("expected GuestPanic, got {other:?}"),
    }
    assert_host_survives().await;
}

/// The pages of one sync run reuse an instance that ended cleanly, and one
/// that trapped is dropped, never handed to the next page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trapped_warm_instance_is_never_reused() {
    use std::sync::atomic::Ordering::Relaxed;
    let plugin = adversary().await;
    let mode = "panic-on-group";
    let inst = instance(&plugin, mode, &[("mode", mode)], fast_limits()).unwrap();
    let warm = WarmInstances::new();
    let instantiations = || inst.metrics.instantiations.load(Relaxed);

    for _ in 0..3 {
        let (_, report) = plugin
            .call_warm(&inst, list_resources("user"), &warm)
            .await
            .expect("a user page");
        assert_eq!(report.upload.resources.len(), 2);
    }
    assert_eq!(instantiations(), 1, "three clean pages, one instance");
    assert_eq!(warm.idle(), 1);

    // The group page runs on the warm instance and traps: it is dropped.
    match plugin
        .call_warm(&inst, list_resources("group"), &warm)
        .await
    {
        Err(CallError::GuestPanic(message)) => {
            assert!(message.contains(PANIC_MESSAGE), "{message}")
        }
        other => panic!("expected GuestPanic, got {other:?}"),
    }
    assert_eq!(warm.idle(), 0, "a trapped instance went back to the pool");

    // The next page gets a fresh instance, whose stderr holds no earlier panic.
    let (_, report) = plugin
        .call_warm(&inst, list_resources("user"), &warm)
        .await
        .expect("a user page after the trap");
    assert_eq!(report.upload.resources.len(), 2);
    assert_eq!(instantiations(), 2);
    assert_eq!(inst.metrics.calls.load(Relaxed), 5);

    // Another tenant's instance context never gets this pool's instance.
    let other = instance(&plugin, "other", &[("mode", "well-behaved")], fast_limits()).unwrap();
    plugin
        .call_warm(&other, list_resources("user"), &warm)
        .await
        .expect("the other tenant's page");
    assert_eq!(other.metrics.instantiations.load(Relaxed), 1);
    assert_eq!(instantiations(), 2);
}

/// `put-resources-with` (contract 0.1.2): the host keeps the entitlements
/// with their resources and notes what those resources skip; an
/// entitlement of a resource it was not put with ends the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_put_with_resources_must_be_theirs() {
    use connector_runtime::bindings::upload::SkipTasks;
    let (_, report) = run("listed", &[]).await.expect("a valid listing");
    let upload = &report.upload;
    assert_eq!(upload.resources.len(), 2);
    let owners: Vec<&str> = upload
        .entitlements
        .iter()
        .map(|e| e.resource.resource.as_str())
        .collect();
    assert_eq!(owners, ["u0", "u1"]);
    let both = SkipTasks::LIST_ENTITLEMENTS | SkipTasks::LIST_GRANTS;
    assert_eq!(upload.skip_of(0), both);
    assert_eq!(upload.skip_of(1), both);
    assert_eq!(upload.skip_of(2), SkipTasks::empty());

    match run("stray-entitlement", &[]).await {
        Err(CallError::InvalidRecord(m)) => {
            assert!(
                m.contains(
                    "entitlement user:u7:member was put with resources it does not belong to"
                ),
                "{m}"
            )
        }
        other => panic!("expected InvalidRecord, got {other:?}"),
    }

    // Empty puts carry no records and leave nothing behind.
    let (_, report) = run("empty-listings", &[]).await.expect("empty puts");
    assert_eq!(report.upload.skipped.len(), 1);
    assert_eq!(report.upload.resources.len(), 2);
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_upload_hits_the_record_cap() {
    let result = run("huge-upload", &[]).await;
    match result {
        Err(CallError::LimitExceeded(m)) => assert!(m.contains("over the cap of 5000"), "{m}"),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

/// Grant sets count one record per grant they stand for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_grant_sets_hit_the_record_cap() {
    let result = run("huge-grant-sets", &[]).await;
    match result {
        Err(CallError::LimitExceeded(m)) => {
            assert!(
                m.contains("uploaded 6000 records, over the cap of 5000"),
                "{m}"
            )
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_list_longer_than_the_header_cap_ends_the_call() {
    let result = run("long-keep-list", &[]).await;
    match result {
        Err(CallError::LimitExceeded(m)) => assert!(
            m.contains("keep-headers lists 100000 names, over the cap of 100"),
            "{m}"
        ),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_spam_hits_the_log_cap() {
    let result = run("log-spam", &[]).await;
    match result {
        Err(CallError::LimitExceeded(m)) => assert!(m.contains("log volume"), "{m}"),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert_host_survives().await;
}

/// A network case that runs both normally and inside `unshare -n`.
struct NetworkCase {
    mode: &'static str,
    extra: Vec<(&'static str, String)>,
    /// Phrases of the rule the denial must name.
    rule: Vec<String>,
}

impl NetworkCase {
    async fn check(&self) {
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let named = denial(run(self.mode, &extra).await);
        for phrase in &self.rule {
            assert!(named.contains(phrase.as_str()), "{}: {named}", self.mode);
        }
    }
}

fn network_cases() -> [NetworkCase; 3] {
    let port = closed_port();
    [
        NetworkCase {
            mode: "egress",
            extra: vec![(
                "target-url",
                format!("https://exfil.localhost:{port}/collect"),
            )],
            rule: vec![
                format!("exfil.localhost:{port}"),
                "not in this connector's egress allowlist".into(),
            ],
        },
        NetworkCase {
            mode: "metadata-ip",
            extra: vec![],
            rule: vec!["cloud metadata".into()],
        },
        NetworkCase {
            mode: "mapped-loopback",
            extra: vec![("port", port.to_string())],
            rule: vec!["::ffff:127.0.0.1".into(), "loopback 127.0.0.0/8".into()],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_a_host_not_allowed_is_denied() {
    let [egress, _, _] = network_cases();
    egress.check().await;
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_to_cloud_metadata_is_denied() {
    let [_, metadata, _] = network_cases();
    metadata.check().await;
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_loopback_is_denied_when_loopback_is_not_configured() {
    let [_, _, mapped] = network_cases();
    mapped.check().await;
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_is_returned_unfollowed_and_its_target_denied() {
    let server = TestServer::start().await;
    let port = closed_port();
    server.route(
        "/start",
        Reply::Redirect(302, format!("https://exfil.localhost:{port}/stolen")),
    );
    let allowed = format!("{}/start", server.url());
    let rule = denial(run("redirect", &[("allowed-url", &allowed)]).await);
    assert!(
        rule.contains("exfil.localhost") && rule.contains("egress allowlist"),
        "{rule}"
    );
    // The host handed the 302 back instead of following it.
    let seen: Vec<String> = server.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(seen, ["/start"]);
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_set_authorization_is_denied() {
    let server = TestServer::start().await;
    let allowed = format!("{}/forge", server.url());
    let rule = denial(run("set-authorization", &[("allowed-url", &allowed)]).await);
    assert!(rule.contains("authorization"), "{rule}");
    assert!(server.seen().is_empty(), "the forged request left the host");
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_with_a_foreign_import_is_refused() {
    let bytes = components::component_bytes(ROGUE_IMPORT);
    match shared_runtime().load(&bytes).await {
        Err(LoadError::ForbiddenImport(name)) => {
            assert!(name.starts_with("evil:pkg/exfil"), "{name}")
        }
        Err(other) => panic!("expected ForbiddenImport, got {other}"),
        Ok(_) => panic!("a component importing evil:pkg/exfil was loaded"),
    }
    assert_host_survives().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_denials_hold_without_a_network() {
    if in_empty_netns() {
        // Inside the empty network namespace: a request that got past the
        // policy would end as a connection error, not as PolicyDenied.
        for case in network_cases() {
            case.check().await;
            println!("netns: {} denied by policy", case.mode);
        }
        assert_host_survives().await;
        return;
    }
    let Some(stdout) = rerun_in_empty_netns(NETNS_TEST) else {
        return;
    };
    for mode in ["egress", "metadata-ip", "mapped-loopback"] {
        assert!(
            stdout.contains(&format!("netns: {mode} denied by policy")),
            "{stdout}"
        );
    }
}
