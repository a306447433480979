//! Requests through the operator's proxy keep the egress policy.
//!
//! Threat: through a proxy the client resolves only the proxy's name and
//! asks it to `CONNECT host:port` (or forwards an absolute `http://` URL);
//! the proxy resolves the target. The resolver in `http`, which checks the
//! addresses of every name, never sees the target, so an allowlisted name
//! that an attacker re-points at 169.254.169.254 or 10.x would be reached
//! from wherever the proxy sits. Decisions:
//! - Whether a request goes through a proxy is decided here, once, from the
//!   usual variables (`HTTPS_PROXY` for https, `HTTP_PROXY` for http,
//!   `ALL_PROXY` for both, each also lowercase, minus `NO_PROXY` matches;
//!   none at all under CGI, where `HTTP_PROXY` can come from a request
//!   header), by the matcher reqwest itself uses. The client is built from
//!   this decision ([`ProxyRoutes::reqwest_proxies`]) and never reads the
//!   environment, so the check below cannot be skipped by a disagreement.
//! - Before a proxied request leaves, the host resolves the target itself
//!   and every answer must pass [`EgressPolicy::check_resolved`]. A direct
//!   connection goes only to the addresses that passed; the proxy may pick
//!   any, so one blocked answer refuses the request. Literal IPs were judged
//!   by `check_url`. A refusal is `PolicyDenied`, names the host and the
//!   range, and comes before any byte goes to the proxy.
//! - A name the host cannot resolve is refused, although the operator
//!   allowlisted its origin: split-horizon DNS, where only the proxy sees an
//!   internal answer, is the case this check exists for. An operator whose
//!   host cannot resolve external names gets an error that says so, and
//!   makes the names resolvable on the host (there is no per-origin opt-out).
//!
//! Residual risk: the proxy resolves the name again. An answer that changes
//! between the two lookups (a rebinding server with a zero TTL), or a proxy
//! with another view of DNS, can still point the tunnel elsewhere; CONNECT
//! by name cannot pin the address, and CONNECT by IP would defeat the
//! proxy's own name rules. Those rules (block metadata and private ranges at
//! the proxy too) are the second line, and TLS is verified against the name
//! end to end, so a rebound tunnel reaches only a holder of a valid
//! certificate for it.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use url::{Host, Url};

use super::egress::{Denial, EgressPolicy};

/// Longest wait for the host's own lookup of a proxied target.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves a name and port to addresses: the system resolver, or canned
/// answers in tests (so a name can "resolve" to 10.x without DNS).
pub type Lookup = Arc<
    dyn Fn(String, u16) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The proxy settings, as the usual variables carry them (empty: unset).
/// Values may hold proxy credentials, so there is no `Debug`.
#[derive(Clone, Default)]
pub struct ProxyVars {
    pub all: String,
    pub http: String,
    pub https: String,
    pub no: String,
}

impl ProxyVars {
    /// The upper-case name wins when both are set, as in reqwest.
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        if get("REQUEST_METHOD").is_some() {
            return Self::default();
        }
        let first = |names: [&str; 2]| names.iter().find_map(|n| get(n)).unwrap_or_default();
        Self {
            all: first(["ALL_PROXY", "all_proxy"]),
            http: first(["HTTP_PROXY", "http_proxy"]),
            https: first(["HTTPS_PROXY", "https_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]),
        }
    }
}

/// Which requests go through which proxy: one decision for the client and
/// for the check before sending.
#[derive(Clone)]
pub struct ProxyRoutes {
    /// With `NO_PROXY`: decides per destination.
    matcher: Arc<Matcher>,
    /// The proxy for each target scheme, `NO_PROXY` aside.
    via_http: Option<Intercept>,
    via_https: Option<Intercept>,
    lookup: Lookup,
}

impl std::fmt::Debug for ProxyRoutes {
    /// The matcher's own `Debug` leaves out credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ProxyRoutes").field(&self.matcher).finish()
    }
}

/// Why a proxied request was refused before it left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyRefusal {
    #[error("{0} (checked by the host before handing the request to the proxy)")]
    Policy(Denial),
    #[error(
        "{host} could not be resolved by the host ({error}); a request through the proxy \
         leaves only after the host has checked every address of the name, so make it \
         resolvable on the host"
    )]
    Unresolvable { host: String, error: String },
}

impl ProxyRoutes {
    /// Routes from the usual environment variables: the one place they
    /// are read.
    pub fn from_env() -> Self {
        Self::new(&ProxyVars::from_vars(|k| std::env::var(k).ok()))
    }

    pub fn new(vars: &ProxyVars) -> Self {
        let builder = || {
            Matcher::builder()
                .all(vars.all.as_str())
                .http(vars.http.as_str())
                .https(vars.https.as_str())
        };
        let open = builder().build();
        let probe = |scheme: &str| {
            let uri: http::Uri = format!("{scheme}://target/").parse().ok()?;
            open.intercept(&uri)
        };
        Self {
            matcher: Arc::new(builder().no(vars.no.as_str()).build()),
            via_http: probe("http"),
            via_https: probe("https"),
            lookup: Arc::new(|host, port| {
                Box::pin(async move {
                    Ok(tokio::net::lookup_host((host.as_str(), port))
                        .await?
                        .map(|a| a.ip())
                        .collect())
                })
            }),
        }
    }

    /// Test seam: answers for the host's own lookup of proxied targets.
    #[cfg(test)]
    pub(crate) fn with_lookup(mut self, lookup: Lookup) -> Self {
        self.lookup = lookup;
        self
    }

    /// The proxy that carries a request to `url`, if any.
    pub fn proxy_for(&self, url: &Url) -> Option<Intercept> {
        let uri: http::Uri = url.as_str().parse().ok()?;
        self.matcher.intercept(&uri)
    }

    /// Hosts of the configured proxies: the resolver lets their names
    /// through, since they are the operator's configuration, not a target.
    pub fn proxy_hosts(&self) -> Vec<String> {
        [&self.via_http, &self.via_https]
            .into_iter()
            .flatten()
            .filter_map(|i| i.uri().host())
            .map(|h| h.trim_matches(['[', ']']).to_string())
            .collect()
    }

    /// The client's proxy rules: exactly [`Self::proxy_for`], one rule per
    /// target scheme so each carries its own proxy's credentials.
    pub fn reqwest_proxies(&self) -> Vec<reqwest::Proxy> {
        let mut out = Vec::new();
        for (scheme, via) in [("https", &self.via_https), ("http", &self.via_http)] {
            let Some(via) = via else { continue };
            let routes = self.clone();
            let mut proxy = reqwest::Proxy::custom(move |url| {
                if url.scheme() != scheme {
                    return None;
                }
                routes.proxy_for(url).map(|i| i.uri().to_string())
            });
            if let Some(auth) = via.basic_auth() {
                proxy = proxy.custom_http_auth(auth.clone());
            }
            out.push(proxy);
        }
        out
    }

    /// Vets the target of a request that will go through a proxy; a direct
    /// request passes (the resolver checks it) as does a URL that does not
    /// parse (`check_url` refuses it).
    pub async fn vet_target(&self, policy: &EgressPolicy, raw: &str) -> Result<(), ProxyRefusal> {
        let Ok(url) = Url::parse(raw) else {
            return Ok(());
        };
        if self.proxy_for(&url).is_none() {
            return Ok(());
        }
        let target = policy.check_url(raw).map_err(ProxyRefusal::Policy)?;
        if !matches!(target.url.host(), Some(Host::Domain(_))) {
            return Ok(());
        }
        let answer = tokio::time::timeout(
            LOOKUP_TIMEOUT,
            (self.lookup)(target.host.clone(), target.port),
        )
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "lookup timed out")));
        judge_proxied(policy, &target.host, answer)
    }
}

/// The decision on a proxied target, given the host's own lookup: every
/// address must pass, since the proxy, not the host, picks one.
pub fn judge_proxied(
    policy: &EgressPolicy,
    host: &str,
    answer: io::Result<Vec<IpAddr>>,
) -> Result<(), ProxyRefusal> {
    let addrs = answer.map_err(|e| ProxyRefusal::Unresolvable {
        host: host.to_string(),
        error: e.to_string(),
    })?;
    // The allowlist and an empty answer first; then each address alone,
    // since `check_resolved` keeps the ones that pass.
    policy
        .check_resolved(host, &addrs)
        .map_err(ProxyRefusal::Policy)?;
    for addr in addrs {
        policy
            .check_resolved(host, &[addr])
            .map_err(ProxyRefusal::Policy)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::bindings::http::{HttpError, Method, Request};
    use crate::capabilities::http::{AuthUse, HttpCapability, HttpCredentials, TlsOptions};
    use crate::limits::Limits;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn vars(all: &str, http: &str, https: &str, no: &str) -> ProxyVars {
        ProxyVars {
            all: all.into(),
            http: http.into(),
            https: https.into(),
            no: no.into(),
        }
    }

    impl ProxyRoutes {
        /// No proxy at all.
        fn none() -> Self {
            Self::new(&ProxyVars::default())
        }
    }

    fn via(routes: &ProxyRoutes, target: &str) -> Option<String> {
        routes.proxy_for(&url(target)).map(|i| i.uri().to_string())
    }

    #[test]
    fn each_scheme_takes_its_own_variable_then_all_proxy() {
        let https_only = ProxyRoutes::new(&vars("", "", "http://proxy.corp:3128", ""));
        assert_eq!(
            via(&https_only, "https://api.pingone.com/v1").as_deref(),
            Some("http://proxy.corp:3128/")
        );
        assert_eq!(via(&https_only, "http://localhost:8080/"), None);

        let all = ProxyRoutes::new(&vars(
            "http://all.corp:8080",
            "http://plain.corp:80",
            "",
            "",
        ));
        assert_eq!(
            via(&all, "https://api.pingone.com/").as_deref(),
            Some("http://all.corp:8080/")
        );
        assert_eq!(
            via(&all, "http://localhost:8080/").as_deref(),
            Some("http://plain.corp:80/")
        );

        let none = ProxyRoutes::none();
        assert_eq!(via(&none, "https://api.pingone.com/"), None);
        assert!(none.reqwest_proxies().is_empty());
        assert!(none.proxy_hosts().is_empty());
        // A value that is no proxy URL is ignored, as reqwest does.
        let junk = ProxyRoutes::new(&vars("", "", "ftp://x", ""));
        assert_eq!(via(&junk, "https://api.pingone.com/"), None);
    }

    #[test]
    fn no_proxy_matches_names_suffixes_networks_and_star() {
        let routes = ProxyRoutes::new(&vars(
            "http://proxy.corp:3128",
            "",
            "",
            "localhost, .internal.corp, pingone.eu, 10.0.0.0/8",
        ));
        for direct in [
            "https://localhost:9000/",
            "https://a.internal.corp/",
            "https://api.pingone.eu/",
            "https://pingone.eu/",
            "https://10.1.2.3/",
        ] {
            assert_eq!(via(&routes, direct), None, "{direct}");
        }
        for proxied in [
            "https://api.pingone.com/",
            "https://notpingone.eu/",
            "https://11.1.2.3/",
        ] {
            assert!(via(&routes, proxied).is_some(), "{proxied}");
        }
        let star = ProxyRoutes::new(&vars("http://proxy.corp:3128", "", "", "*"));
        assert_eq!(via(&star, "https://api.pingone.com/"), None);
        // The proxy's name is still known to the resolver.
        assert_eq!(star.proxy_hosts(), ["proxy.corp", "proxy.corp"]);
    }

    #[test]
    fn variables_are_read_as_reqwest_reads_them() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            ProxyVars::from_vars(|k| map.get(k).cloned())
        };
        let v = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
            ("no_proxy", "localhost"),
            ("all_proxy", "http://all:3"),
        ]);
        assert_eq!(
            (
                v.https.as_str(),
                v.no.as_str(),
                v.all.as_str(),
                v.http.as_str()
            ),
            ("http://upper:1", "localhost", "http://all:3", "")
        );
        // Under CGI a request header can set HTTP_PROXY: no proxy at all.
        let cgi = env(&[("REQUEST_METHOD", "GET"), ("HTTPS_PROXY", "http://x:1")]);
        assert!(cgi.https.is_empty());
    }

    #[test]
    fn proxy_credentials_stay_out_of_routes_and_debug() {
        let routes = ProxyRoutes::new(&vars("", "", "http://user:s3cret@proxy.corp:3128", ""));
        let hit = routes.proxy_for(&url("https://api.pingone.com/")).unwrap();
        assert_eq!(hit.uri().to_string(), "http://proxy.corp:3128/");
        assert!(hit.basic_auth().is_some());
        assert!(!format!("{routes:?}").contains("s3cret"));
        assert_eq!(routes.proxy_hosts(), ["proxy.corp"]);
        let v6 = ProxyRoutes::new(&vars("http://[::1]:3128", "", "", ""));
        assert_eq!(v6.proxy_hosts(), ["::1", "::1"]);
    }

    fn pingone() -> EgressPolicy {
        EgressPolicy::from_urls(["https://api.pingone.com"]).unwrap()
    }

    #[test]
    fn every_answer_of_a_proxied_name_must_pass() {
        let p = pingone();
        let host = "api.pingone.com";
        assert_eq!(judge_proxied(&p, host, Ok(vec![ip("104.18.1.1")])), Ok(()));
        for (bad, range) in [
            ("169.254.169.254", "cloud metadata"),
            ("10.0.0.7", "private 10.0.0.0/8"),
            ("127.0.0.1", "loopback 127.0.0.0/8"),
            ("::ffff:192.168.1.1", "private 192.168.0.0/16"),
        ] {
            // Alone, or beside a public answer the proxy might not pick.
            for answer in [vec![ip(bad)], vec![ip("104.18.1.1"), ip(bad)]] {
                match judge_proxied(&p, host, Ok(answer.clone())) {
                    Err(ProxyRefusal::Policy(Denial::BlockedAddress {
                        range: r, host: h, ..
                    })) => {
                        assert_eq!((r, h.as_str()), (range, host), "{answer:?}")
                    }
                    other => panic!("{answer:?}: {other:?}"),
                }
            }
        }
        assert_eq!(
            judge_proxied(&p, host, Ok(vec![])),
            Err(ProxyRefusal::Policy(Denial::NoAddress(host.into())))
        );
        let err = judge_proxied(&p, host, Err(io::Error::other("no such host"))).unwrap_err();
        assert!(matches!(err, ProxyRefusal::Unresolvable { .. }), "{err:?}");
        assert!(err.to_string().contains("api.pingone.com"), "{err}");
        assert!(matches!(
            judge_proxied(&p, "evil.example", Ok(vec![ip("104.18.1.1")])),
            Err(ProxyRefusal::Policy(Denial::HostNotAllowed(_)))
        ));
        // A configured loopback origin reaches loopback, and only that.
        let local = EgressPolicy::from_urls(["https://localhost:9000"]).unwrap();
        assert_eq!(
            judge_proxied(&local, "localhost", Ok(vec![ip("127.0.0.1")])),
            Ok(())
        );
        assert!(judge_proxied(&local, "localhost", Ok(vec![ip("10.0.0.1")])).is_err());
    }

    #[tokio::test]
    async fn direct_requests_and_literals_need_no_lookup() {
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = asked.clone();
        let failing: Lookup = Arc::new(move |_, _| {
            flag.store(true, Ordering::SeqCst);
            Box::pin(async { Err(io::Error::other("no lookup expected")) })
        });
        let p =
            EgressPolicy::from_urls(["https://api.pingone.com", "https://[2606:4700::1]"]).unwrap();
        let direct = ProxyRoutes::none().with_lookup(failing.clone());
        assert_eq!(
            direct.vet_target(&p, "https://api.pingone.com/v1").await,
            Ok(())
        );
        let proxied =
            ProxyRoutes::new(&vars("http://127.0.0.1:9", "", "", "")).with_lookup(failing);
        assert_eq!(
            proxied.vet_target(&p, "https://[2606:4700::1]/").await,
            Ok(())
        );
        assert!(matches!(
            proxied.vet_target(&p, "https://evil.example/").await,
            Err(ProxyRefusal::Policy(Denial::HostNotAllowed(_)))
        ));
        assert!(!asked.load(Ordering::SeqCst));
    }

    /// A CONNECT proxy on loopback that records each request line and closes:
    /// it never connects anywhere, so a broken check cannot send a packet
    /// past it.
    async fn recording_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    log.lock().unwrap().push(line);
                    let _ = conn
                        .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                        .await;
                });
            }
        });
        (addr, seen)
    }

    /// Answers every name with `addrs`, never asking DNS.
    fn canned(addrs: &[&str]) -> Lookup {
        let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
        Arc::new(move |_, _| {
            let addrs = addrs.clone();
            Box::pin(async move { Ok(addrs) })
        })
    }

    fn through(
        proxy: &str,
        allowed: &[&str],
        routes: impl FnOnce(ProxyRoutes) -> ProxyRoutes,
    ) -> HttpCapability {
        let tls = TlsOptions {
            proxy: Some(routes(ProxyRoutes::new(&vars(proxy, "", "", "")))),
            ..TlsOptions::default()
        };
        let policy = EgressPolicy::from_urls(allowed.iter().copied()).unwrap();
        HttpCapability::new(policy, &tls, &Limits::default(), HttpCredentials::default()).unwrap()
    }

    fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: vec![],
            body: None,
            idempotent: true,
        }
    }

    #[tokio::test]
    async fn an_allowed_name_rebound_to_a_blocked_range_never_reaches_the_proxy() {
        let (proxy, seen) = recording_proxy().await;
        for (answer, range) in [
            (&["10.0.0.7"][..], "private 10.0.0.0/8"),
            (&["169.254.169.254"][..], "cloud metadata"),
            (&["127.0.0.1"][..], "loopback 127.0.0.0/8"),
            (&["104.18.1.1", "172.16.0.9"][..], "private 172.16.0.0/12"),
        ] {
            let http = through(&proxy, &["https://api.example.test"], |r| {
                r.with_lookup(canned(answer))
            });
            let got = http
                .send(&get("https://api.example.test/v1/users"), &AuthUse::None)
                .await;
            match got {
                Err(HttpError::PolicyDenied(msg)) => {
                    assert!(msg.contains("api.example.test"), "{msg}");
                    assert!(msg.contains(range), "{msg}");
                }
                other => panic!("{answer:?}: {other:?}"),
            }
            assert_eq!(http.stats.denied.load(Ordering::Relaxed), 1);
            assert_eq!(http.stats.requests.load(Ordering::Relaxed), 0);
        }
        // A name the host cannot resolve is refused, not left to the proxy.
        let unresolvable: Lookup =
            Arc::new(|_, _| Box::pin(async { Err(io::Error::other("no such host")) }));
        let http = through(&proxy, &["https://api.example.test"], |r| {
            r.with_lookup(unresolvable)
        });
        let got = http
            .send(&get("https://api.example.test/v1/users"), &AuthUse::None)
            .await;
        assert!(
            matches!(&got, Err(HttpError::PolicyDenied(m)) if m.contains("could not be resolved")),
            "{got:?}"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    }

    #[tokio::test]
    async fn a_host_off_the_allowlist_never_reaches_the_proxy() {
        let (proxy, seen) = recording_proxy().await;
        let http = through(&proxy, &["https://api.example.test"], |r| {
            r.with_lookup(canned(&["104.18.1.1"]))
        });
        for target in [
            "https://evil.example.test/",
            "https://api.example.test:8443/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/",
        ] {
            let got = http.send(&get(target), &AuthUse::None).await;
            assert!(
                matches!(got, Err(HttpError::PolicyDenied(_))),
                "{target}: {got:?}"
            );
        }
        assert_eq!(http.stats.requests.load(Ordering::Relaxed), 0);
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    }

    #[tokio::test]
    async fn an_allowed_target_is_handed_to_the_proxy() {
        let (proxy, seen) = recording_proxy().await;
        // A loopback origin, resolved by the system resolver: the proxy
        // records the CONNECT and refuses it, so nothing goes further.
        let http = through(&proxy, &["https://localhost:8443"], |r| r);
        let got = http
            .send(&get("https://localhost:8443/v1"), &AuthUse::None)
            .await;
        assert!(matches!(got, Err(HttpError::Connection(_))), "{got:?}");
        let seen = seen.lock().unwrap().clone();
        assert!(!seen.is_empty());
        assert!(
            seen.iter().all(|l| l == "CONNECT localhost:8443 HTTP/1.1"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn no_proxy_targets_go_direct_past_the_proxy() {
        let (proxy, seen) = recording_proxy().await;
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = server.accept().await {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        let tls = TlsOptions {
            proxy: Some(ProxyRoutes::new(&vars(&proxy, "", "", "localhost"))),
            ..TlsOptions::default()
        };
        let base = format!("http://localhost:{port}");
        let policy = EgressPolicy::from_urls([base.as_str()]).unwrap();
        let http =
            HttpCapability::new(policy, &tls, &Limits::default(), HttpCredentials::default())
                .unwrap();
        let got = http
            .send(&get(&format!("{base}/x")), &AuthUse::None)
            .await
            .unwrap();
        assert_eq!(got.body, b"ok");
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    }
}
