//! With a proxy configured, a hostile component's requests keep the egress
//! policy: the host refuses them before any byte reaches the proxy.
//!
//! Threat: through a proxy the host connects only to the proxy and asks it
//! to `CONNECT host:port` (or forwards an absolute `http://` URL); the
//! proxy, not the host, resolves and reaches the target. A host that handed
//! every request to the proxy would let a component reach a host the
//! operator never allowed, the cloud metadata service, or loopback, from
//! wherever the proxy sits; and an allowed name that resolves into a
//! blocked range would never meet the host's resolver check at all.
//!
//! Method: a recording proxy on 127.0.0.1 logs the request line of every
//! connection it accepts, answers `403 Forbidden` and closes; it never
//! connects anywhere, so a broken policy cannot send a packet past it. The
//! adversary component runs with routes that send every request through
//! that proxy (built explicitly, not from the process's proxy variables,
//! which other tests in the binary would read too). Each hostile request
//! must end in `PolicyDenied` naming its rule, with no request counted and
//! nothing recorded by the proxy. A host not allowed, the metadata address
//! and mapped loopback are refused by the URL check; an allowed name that
//! resolves to loopback (a hosts-file alias, where the machine has one)
//! stands for a rebound name, which only the host's own lookup before the
//! CONNECT can refuse. For contrast, an allowed loopback origin
//! does reach the proxy as `CONNECT localhost:<port>`, which shows the
//! proxy was in the path and reachable. As root the denials are re-run
//! inside `unshare -n` (loopback brought up when `ip` is available), where
//! nothing could leave the machine even if the policy were broken.
//!
//! Every denied destination is a loopback port where nothing listens, a
//! `.localhost` name, the metadata address (never contacted: the proxy
//! does not relay), or a hosts-file name of loopback on a closed port.

use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::capabilities::proxy::{ProxyRoutes, ProxyVars};
use connector_runtime::{CallError, InstanceCtx};
use e2e_tests::adversary;
use e2e_tests::{
    closed_port, fast_limits, in_empty_netns, instance_with, list_resources, rerun_in_empty_netns,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NETNS_TEST: &str = "proxy_denials_hold_without_a_network";
/// The adversary's `metadata-ip` target.
const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

/// A CONNECT proxy that records and refuses: see the module doc.
struct RecordingProxy {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the recording proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    // A connection that sent nothing is recorded too: reaching
                    // the proxy at all is what a denial must prevent.
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    log.lock().unwrap().push(line);
                    let _ = conn
                        .write_all(
                            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request, http and https alike, goes through this proxy.
    fn routes(&self) -> ProxyRoutes {
        ProxyRoutes::new(&ProxyVars {
            all: self.url.clone(),
            ..ProxyVars::default()
        })
    }

    fn tls(&self) -> TlsOptions {
        TlsOptions {
            proxy: Some(self.routes()),
            ..TlsOptions::default()
        }
    }
}

/// One sync call of the adversary in `mode` through `proxy`; the instance
/// comes back too, for its request counters.
async fn run_through(
    proxy: &RecordingProxy,
    mode: &str,
    extra: &[(&str, &str)],
) -> (Result<(), CallError>, Arc<InstanceCtx>) {
    let plugin = adversary().await;
    let mut values = vec![("mode", mode)];
    values.extend_from_slice(extra);
    let inst = instance_with(&plugin, mode, &values, fast_limits(), &proxy.tls())
        .expect("adversary config");
    let result = plugin.call(&inst, list_resources("user")).await;
    (result.map(|_| ()), inst)
}

/// A hostile request and the rule its denial must name.
struct DeniedCase {
    name: &'static str,
    mode: &'static str,
    extra: Vec<(&'static str, String)>,
    /// The URL the component requests first.
    target: String,
    /// Phrases of the rule the denial must name.
    rule: Vec<String>,
}

impl DeniedCase {
    async fn check(&self, proxy: &RecordingProxy) {
        // Were the target allowed, it would go through the proxy: the
        // denial is not just a direct request's resolver check.
        let url = reqwest::Url::parse(&self.target).unwrap();
        assert!(
            proxy.routes().proxy_for(&url).is_some(),
            "{} would not be proxied",
            self.target
        );
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (result, inst) = run_through(proxy, self.mode, &extra).await;
        let rule = match result {
            Err(CallError::PolicyDenied(rule)) => rule,
            other => panic!("{}: expected PolicyDenied, got {other:?}", self.name),
        };
        for phrase in &self.rule {
            assert!(rule.contains(phrase.as_str()), "{}: {rule}", self.name);
        }
        let stats = &inst.http.as_ref().expect("an HTTP capability").stats;
        assert_eq!(stats.denied.load(Relaxed), 1, "{}", self.name);
        assert_eq!(stats.requests.load(Relaxed), 0, "{}", self.name);
        assert!(
            proxy.seen().is_empty(),
            "{}: the proxy was reached: {:?}",
            self.name,
            proxy.seen()
        );
    }
}

/// A name from the hosts file that resolves only to loopback, is not a
/// loopback origin by name (`localhost`, `*.localhost`), and so must not
/// reach loopback even when the operator allowed it. `None` if there is none.
async fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    for line in hosts.lines() {
        let mut fields = line.split('#').next()?.split_whitespace();
        let Some(Ok(addr)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if !addr.is_loopback() {
            continue;
        }
        for name in fields {
            let name = name.to_ascii_lowercase();
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !plain || name == "localhost" || name.ends_with(".localhost") {
                continue;
            }
            // The host's own lookup must agree: every answer loopback.
            let Ok(answers) = tokio::net::lookup_host((name.as_str(), 443)).await else {
                continue;
            };
            let answers: Vec<IpAddr> = answers.map(|a| a.ip()).collect();
            if !answers.is_empty() && answers.iter().all(IpAddr::is_loopback) {
                return Some(name);
            }
        }
    }
    None
}

async fn denied_cases() -> Vec<DeniedCase> {
    let port = closed_port();
    let exfil = format!("https://exfil.localhost:{port}/collect");
    let mapped = format!("http://[::ffff:127.0.0.1]:{port}/");
    let mut cases = vec![
        DeniedCase {
            name: "egress",
            mode: "egress",
            extra: vec![("target-url", exfil.clone())],
            target: exfil,
            rule: vec![
                format!("exfil.localhost:{port}"),
                "not in this connector's egress allowlist".into(),
            ],
        },
        DeniedCase {
            name: "metadata-ip",
            mode: "metadata-ip",
            extra: vec![],
            target: METADATA_URL.into(),
            rule: vec!["169.254.169.254".into(), "cloud metadata".into()],
        },
        DeniedCase {
            name: "mapped-loopback",
            mode: "mapped-loopback",
            extra: vec![("port", port.to_string())],
            target: mapped,
            rule: vec!["::ffff:127.0.0.1".into(), "loopback 127.0.0.0/8".into()],
        },
    ];
    // The case the proxy check exists for: an origin the operator allowed
    // whose name resolves into a blocked range. Only the host's own lookup
    // before the CONNECT can see it; the `redirect` mode requests
    // `allowed-url` first.
    match loopback_alias().await {
        Some(name) => {
            let allowed = format!("https://{name}:{port}/");
            cases.push(DeniedCase {
                name: "allowed-name-into-loopback",
                mode: "redirect",
                extra: vec![("allowed-url", allowed.clone())],
                target: allowed,
                rule: vec![
                    format!("of {name} is in a blocked range (loopback"),
                    "before handing the request to the proxy".into(),
                ],
            });
        }
        None => eprintln!(
            "note: no hosts-file name resolves only to loopback here, so the \
             allowed-name-into-a-blocked-range case is skipped"
        ),
    }
    cases
}

async fn check_denials(proxy: &RecordingProxy) -> Vec<&'static str> {
    let mut checked = Vec::new();
    for case in denied_cases().await {
        case.check(proxy).await;
        checked.push(case.name);
    }
    checked
}

/// An allowed loopback origin is handed to the proxy, which refuses it:
/// the proxy was in the path. Returns the lines the proxy recorded.
async fn allowed_request_reaches(proxy: &RecordingProxy) -> (Result<(), CallError>, Vec<String>) {
    let port = closed_port();
    let allowed = format!("https://localhost:{port}/");
    let (result, _) = run_through(proxy, "redirect", &[("allowed-url", &allowed)]).await;
    let expected = format!("CONNECT localhost:{port} HTTP/1.1");
    let seen = proxy.seen();
    assert!(
        seen.iter().all(|l| *l == expected),
        "the proxy saw more than the allowed CONNECT: {seen:?}"
    );
    (result, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_never_reach_the_proxy() {
    let proxy = RecordingProxy::start().await;
    let checked = check_denials(&proxy).await;
    assert!(checked.len() >= 3, "{checked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_request_does_reach_the_proxy() {
    let proxy = RecordingProxy::start().await;
    let (result, seen) = allowed_request_reaches(&proxy).await;
    assert!(
        !seen.is_empty(),
        "the allowed request never reached the proxy"
    );
    // The proxy's 403 to the CONNECT is a connection failure, not a denial.
    match result {
        Err(CallError::Connector { kind, message, .. }) => {
            assert_eq!(kind, "unavailable", "{message}");
            assert!(message.starts_with("connection:"), "{message}");
        }
        other => panic!("expected the connection to fail at the proxy, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_denials_hold_without_a_network() {
    if in_empty_netns() {
        // Inside the namespace: nothing leaves the machine whatever happens.
        let proxy = RecordingProxy::start().await;
        for name in check_denials(&proxy).await {
            println!("netns: {name} denied by policy");
        }
        // With loopback up, the allowed request shows the proxy was reachable,
        // so "nothing recorded" above meant something.
        let (_, seen) = allowed_request_reaches(&proxy).await;
        if seen.is_empty() {
            println!("netns: loopback is down, proxy reachability not shown");
        } else {
            println!("netns: proxy reachable");
        }
        return;
    }
    let Some(stdout) = rerun_in_empty_netns(NETNS_TEST) else {
        return;
    };
    let mut names = vec!["egress", "metadata-ip", "mapped-loopback"];
    if loopback_alias().await.is_some() {
        names.push("allowed-name-into-loopback");
    }
    for name in names {
        assert!(
            stdout.contains(&format!("netns: {name} denied by policy")),
            "{stdout}"
        );
    }
    if !stdout.contains("netns: proxy reachable") {
        eprintln!("note: loopback stayed down inside the namespace:\n{stdout}");
    }
}
