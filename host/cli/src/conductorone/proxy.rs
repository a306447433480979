//! Outbound connections for the ConductorOne channel, through a corporate
//! proxy when the environment names one.
//!
//! Decision: the host reads the proxy variables one way for every client,
//! so this channel routes with the runtime's [`ProxyRoutes`] (hyper-util's
//! matcher, the one reqwest uses): `HTTPS_PROXY`, else `ALL_PROXY`, each
//! also lower-case; `NO_PROXY` with names, `.suffix` domains, `*` and CIDR
//! ranges (`10.0.0.0/8`); none under CGI. Proxy credentials in the URL are
//! percent-decoded (`%2B` is `+`, and a `+` stays a `+`), sent only as
//! `Proxy-Authorization: Basic` and never logged. The CONNECT is
//! hyper-util's [`Tunnel`]; TLS to ConductorOne runs inside it, so the proxy
//! sees only the host name.
//!
//! An `http://` proxy is the only kind that carries this channel; with
//! another kind (`https://`, `socks5://`) the host warns and connects
//! directly, as it always has.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use connector_runtime::capabilities::proxy::ProxyRoutes;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Intercept;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service as _;

#[derive(Clone, Debug)]
pub struct ProxyConnector {
    routes: ProxyRoutes,
    tcp: HttpConnector,
}

impl ProxyConnector {
    pub fn from_env() -> Self {
        Self::new(ProxyRoutes::from_env())
    }

    pub fn new(routes: ProxyRoutes) -> Self {
        let mut tcp = HttpConnector::new();
        // The target is https; TLS is tonic's, on top of this stream.
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        Self { routes, tcp }
    }

    /// The proxy a connection to `target` tunnels through, if any.
    fn proxy_for(&self, target: &Uri) -> Option<Intercept> {
        let url = url::Url::parse(&target.to_string()).ok()?;
        let via = self.routes.proxy_for(&url)?;
        if via.uri().scheme_str() == Some("http") {
            return Some(via);
        }
        tracing::warn!(
            proxy = %via.uri(),
            "only http:// proxies (CONNECT) carry the ConductorOne channel; connecting directly"
        );
        None
    }

    async fn connect(self, target: Uri) -> std::io::Result<TokioIo<TcpStream>> {
        let Some(via) = self.proxy_for(&target) else {
            let mut tcp = self.tcp;
            std::future::poll_fn(|cx| tcp.poll_ready(cx))
                .await
                .map_err(std::io::Error::other)?;
            return tcp.call(target).await.map_err(std::io::Error::other);
        };
        let mut tunnel = Tunnel::new(via.uri().clone(), self.tcp);
        if let Some(auth) = via.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let failed = |e: &dyn std::error::Error| {
            // The proxy's address without credentials (the matcher keeps
            // them apart), and the whole cause chain.
            let mut text = format!("through the proxy {}: {e}", via.uri());
            for cause in std::iter::successors(e.source(), |s| s.source()) {
                text.push_str(&format!(": {cause}"));
            }
            std::io::Error::other(text)
        };
        std::future::poll_fn(|cx| tunnel.poll_ready(cx))
            .await
            .map_err(|e| failed(&e))?;
        tunnel.call(target).await.map_err(|e| failed(&e))
    }
}

impl tower_service::Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::Engine as _;
    use connector_runtime::capabilities::proxy::ProxyVars;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn connector(all: &str, https: &str, no: &str) -> ProxyConnector {
        ProxyConnector::new(ProxyRoutes::new(&ProxyVars {
            all: all.into(),
            https: https.into(),
            no: no.into(),
            ..ProxyVars::default()
        }))
    }

    fn via(c: &ProxyConnector, target: &str) -> Option<String> {
        c.proxy_for(&target.parse().unwrap())
            .map(|i| i.uri().to_string())
    }

    /// A CONNECT proxy on loopback: records each request head, answers
    /// `answer`, and then echoes what comes through the tunnel (standing in
    /// for ConductorOne). It never connects anywhere itself.
    async fn recording_proxy(answer: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read_u8().await {
                            Ok(b) => head.push(b),
                            Err(_) => return,
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

    async fn ping(io: TokioIo<TcpStream>) -> [u8; 4] {
        let mut stream = io.into_inner();
        stream.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).await.unwrap();
        back
    }

    fn basic_credentials(head: &str) -> String {
        let value = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("proxy-authorization: Basic ")
                    .or_else(|| l.strip_prefix("Proxy-Authorization: Basic "))
            })
            .unwrap_or_else(|| panic!("no Basic credentials in {head:?}"));
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn https_proxy_then_all_proxy_and_no_proxy_rules() {
        let all = connector("http://all.corp:8080", "", "");
        assert_eq!(
            via(&all, "https://acme.conductor.one:443").as_deref(),
            Some("http://all.corp:8080/")
        );
        let both = connector("http://all.corp:8080", "http://https.corp:3128", "");
        assert_eq!(
            via(&both, "https://acme.conductor.one").as_deref(),
            Some("http://https.corp:3128/")
        );
        let rules = connector(
            "http://proxy.corp:3128",
            "",
            "localhost, .internal.example, 127.0.0.0/8, 10.1.0.0/16",
        );
        for direct in [
            "https://localhost:8443",
            "https://a.internal.example",
            "https://127.0.0.1:8443",
            "https://127.200.0.9",
            "https://10.1.2.3",
        ] {
            assert_eq!(via(&rules, direct), None, "{direct}");
        }
        for proxied in [
            "https://acme.conductor.one",
            "https://notinternal.example",
            "https://10.2.0.1",
            "https://128.0.0.1",
        ] {
            assert!(via(&rules, proxied).is_some(), "{proxied}");
        }
        assert_eq!(via(&connector("http://p:1", "", "*"), "https://a.b"), None);
        assert_eq!(via(&connector("", "", ""), "https://a.b"), None);
        // A bare host:port means http; other schemes do not carry the channel.
        assert!(via(&connector("", "proxy:8080", ""), "https://a.b").is_some());
        assert_eq!(via(&connector("socks5://p:1", "", ""), "https://a.b"), None);
        assert_eq!(via(&connector("", "https://p:1", ""), "https://a.b"), None);
        // Credentials never show in a route or in Debug.
        let c = connector("", "http://user:s3cret@proxy.corp:3128", "");
        assert_eq!(
            via(&c, "https://a.b").as_deref(),
            Some("http://proxy.corp:3128/")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn connect_tunnels_through_the_proxy_with_its_credentials() {
        let (proxy, seen) = recording_proxy(ESTABLISHED).await;
        let c = connector("", &format!("http://u:pw@{proxy}"), "");
        let io = c
            .connect("https://tenant.example:8443".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(&ping(io).await, b"ping");
        let heads = seen.lock().unwrap().clone();
        assert_eq!(heads.len(), 1, "{heads:?}");
        assert!(
            heads[0].starts_with("CONNECT tenant.example:8443 HTTP/1.1\r\n"),
            "{heads:?}"
        );
        assert_eq!(basic_credentials(&heads[0]), "u:pw");
    }

    #[tokio::test]
    async fn all_proxy_carries_the_channel_too() {
        let (proxy, seen) = recording_proxy(ESTABLISHED).await;
        let c = connector(&format!("http://{proxy}"), "", "");
        let io = c
            .connect("https://tenant.example".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(&ping(io).await, b"ping");
        let heads = seen.lock().unwrap().clone();
        assert!(
            heads[0].starts_with("CONNECT tenant.example:443 HTTP/1.1\r\n"),
            "{heads:?}"
        );
    }

    #[tokio::test]
    async fn plus_signs_in_credentials_stay_plus_signs() {
        let (proxy, seen) = recording_proxy(ESTABLISHED).await;
        // `+` literal and `%2B` both mean `+`; neither is a space.
        let c = connector("", &format!("http://us+er:p%2Bss+w%40rd@{proxy}"), "");
        let io = c
            .connect("https://tenant.example".parse().unwrap())
            .await
            .unwrap();
        drop(io);
        let heads = seen.lock().unwrap().clone();
        assert_eq!(basic_credentials(&heads[0]), "us+er:p+ss+w@rd");
    }

    #[tokio::test]
    async fn a_no_proxy_range_connects_directly() {
        let (proxy, seen) = recording_proxy(ESTABLISHED).await;
        // The "ConductorOne" here is a loopback echo server.
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = server.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let c = connector(&format!("http://{proxy}"), "", "127.0.0.0/8");
        let io = c
            .connect(format!("https://127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        assert_eq!(&ping(io).await, b"ping");
        assert!(
            seen.lock().unwrap().is_empty(),
            "{:?}",
            seen.lock().unwrap()
        );
    }

    #[tokio::test]
    async fn a_refused_connect_says_so_and_names_the_proxy() {
        let (proxy, _) =
            recording_proxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let c = connector("", &format!("http://user:s3cret@{proxy}"), "");
        let e = c
            .connect("https://tenant.example".parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy authorization required"), "{e}");
        assert!(e.contains(&proxy), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let (proxy, _) = recording_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
        let e = connector("", &format!("http://{proxy}"), "")
            .connect("https://tenant.example".parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("unsuccessful"), "{e}");
    }
}
