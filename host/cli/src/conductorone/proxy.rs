//! Outbound connections for the ConductorOne channel, through a corporate
//! proxy when the environment names one.
//!
//! Decision: the usual variables, as Go's gRPC and curl read them:
//! `HTTPS_PROXY` (or `https_proxy`) names an `http://` proxy that is asked
//! to `CONNECT host:port`; TLS to ConductorOne then runs inside the tunnel,
//! so the proxy sees only the host name. `NO_PROXY` lists hosts (exact, or
//! a `.suffix`/`suffix` domain match) or `*` that connect directly. Proxy
//! credentials in the URL are sent as `Proxy-Authorization: Basic` and are
//! never logged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Longest CONNECT response head we read before giving up on the proxy.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

#[derive(Clone, Debug, Default)]
pub struct ProxyConnector {
    proxy: Option<Proxy>,
    no_proxy: Vec<String>,
}

#[derive(Clone)]
struct Proxy {
    /// `host:port` of the proxy.
    authority: String,
    /// `Basic <base64>` when the URL carries credentials.
    authorization: Option<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.authority)
    }
}

impl ProxyConnector {
    pub fn from_env() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        Self::new(
            var(&["HTTPS_PROXY", "https_proxy"]).as_deref(),
            var(&["NO_PROXY", "no_proxy"]).as_deref(),
        )
    }

    pub fn new(https_proxy: Option<&str>, no_proxy: Option<&str>) -> Self {
        let proxy = https_proxy.and_then(|raw| {
            // A bare `host:port` means http (it would parse as scheme `host`).
            let raw = raw.trim();
            let url = if raw.contains("://") {
                url::Url::parse(raw)
            } else {
                url::Url::parse(&format!("http://{raw}"))
            };
            let Ok(url) = url else {
                tracing::warn!("HTTPS_PROXY is not a URL; connecting directly");
                return None;
            };
            if url.scheme() != "http" {
                tracing::warn!(
                    "HTTPS_PROXY uses scheme {:?}; only http:// proxies (CONNECT) are supported, connecting directly",
                    url.scheme()
                );
                return None;
            }
            let host = url.host_str()?;
            let authority = format!("{host}:{}", url.port().unwrap_or(80));
            let authorization = (!url.username().is_empty()).then(|| {
                let user = percent_decode(url.username());
                let pass = percent_decode(url.password().unwrap_or(""));
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
                )
            });
            Some(Proxy {
                authority,
                authorization,
            })
        });
        let no_proxy = no_proxy
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Self { proxy, no_proxy }
    }

    /// Whether a connection to `host` goes through the proxy.
    pub fn uses_proxy(&self, host: &str) -> bool {
        if self.proxy.is_none() {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        !self.no_proxy.iter().any(|rule| {
            let rule = rule.split(':').next().unwrap_or(rule);
            rule == "*"
                || host == rule.trim_start_matches('.')
                || host.ends_with(&format!(".{}", rule.trim_start_matches('.')))
        })
    }

    async fn connect(self, uri: Uri) -> std::io::Result<TokioIo<TcpStream>> {
        let host = uri
            .host()
            .ok_or_else(|| std::io::Error::other("the ConductorOne URI has no host"))?;
        let port = uri.port_u16().unwrap_or(443);
        let target = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let stream = match (&self.proxy, self.uses_proxy(host)) {
            (Some(proxy), true) => tunnel(proxy, &target).await?,
            _ => TcpStream::connect(&target).await?,
        };
        stream.set_nodelay(true)?;
        Ok(TokioIo::new(stream))
    }
}

async fn tunnel(proxy: &Proxy, target: &str) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(&proxy.authority).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("connecting to the HTTPS_PROXY: {e}"))
    })?;
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &proxy.authorization {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    // Read the response head byte by byte: nothing after it may be consumed,
    // as the TLS handshake follows on the same stream.
    let mut response = Vec::new();
    while !response.ends_with(b"\r\n\r\n") {
        if response.len() >= MAX_CONNECT_RESPONSE {
            return Err(std::io::Error::other(
                "the proxy's CONNECT response is too long",
            ));
        }
        let byte = stream.read_u8().await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("the proxy closed the CONNECT: {e}"))
        })?;
        response.push(byte);
    }
    let status_line = String::from_utf8_lossy(&response);
    let status_line = status_line.lines().next().unwrap_or("");
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(std::io::Error::other(format!(
            "the proxy refused CONNECT {target}: {status_line}"
        )));
    }
    Ok(stream)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
    use super::*;

    #[test]
    fn no_proxy_rules_match_hosts_and_domains() {
        let c = ProxyConnector::new(
            Some("http://user:p%40ss@proxy.corp:3128"),
            Some("localhost, .internal.example,svc.local:8443"),
        );
        assert!(c.uses_proxy("acme.conductor.one"));
        assert!(!c.uses_proxy("localhost"));
        assert!(!c.uses_proxy("a.internal.example"));
        assert!(!c.uses_proxy("internal.example"));
        assert!(!c.uses_proxy("x.svc.local"));
        assert!(c.uses_proxy("notinternal.example"));
        let p = c.proxy.as_ref().unwrap();
        assert_eq!(p.authority, "proxy.corp:3128");
        let expected = base64::engine::general_purpose::STANDARD.encode("user:p@ss");
        assert_eq!(
            p.authorization.as_deref(),
            Some(format!("Basic {expected}").as_str())
        );
        assert!(!format!("{c:?}").contains("p%40ss"));
        assert!(!ProxyConnector::new(Some("http://proxy:1"), Some("*")).uses_proxy("a.b"));
        assert!(!ProxyConnector::new(None, None).uses_proxy("a.b"));
        // Only http:// proxies are supported; others connect directly.
        assert!(!ProxyConnector::new(Some("socks5://p:1"), None).uses_proxy("a.b"));
        // A bare host:port means http.
        assert!(ProxyConnector::new(Some("proxy:8080"), None).uses_proxy("a.b"));
    }

    #[tokio::test]
    async fn connect_tunnels_through_the_proxy() {
        // A one-shot CONNECT proxy on loopback that checks the request and
        // then echoes bytes back, standing in for the tunnelled server.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(s.read_u8().await.unwrap());
            }
            let head = String::from_utf8(head).unwrap();
            s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            head
        });
        let c = ProxyConnector::new(Some(&format!("http://u:pw@{addr}")), None);
        let uri: Uri = "https://tenant.example:8443".parse().unwrap();
        let io = c.connect(uri).await.unwrap();
        let mut stream = io.into_inner();
        stream.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        let head = proxy.await.unwrap();
        assert!(
            head.starts_with("CONNECT tenant.example:8443 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.contains("Proxy-Authorization: Basic "), "{head}");
    }

    #[tokio::test]
    async fn a_refused_connect_names_the_proxy_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(s.read_u8().await.unwrap());
            }
            s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                .await
                .unwrap();
        });
        let c = ProxyConnector::new(Some(&format!("http://{addr}")), None);
        let e = c
            .connect("https://tenant.example".parse().unwrap())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("407"), "{e}");
    }
}
