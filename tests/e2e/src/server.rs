//! A loopback HTTP server for tests: the "tiny fake SaaS".
//!
//! It serves canned JSON by path, answers with redirects, or computes a
//! reply from the request (to echo what it received back to the guest), and
//! it records every request so tests can check what actually left the host.
//! It binds 127.0.0.1 only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, e.g. `/dir/users.json?page=2`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole request as JSON, every header included (`Authorization`
    /// too): what a careless or hostile service echoes back.
    pub fn echo(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        serde_json::json!({
            "method": self.method,
            "target": self.target,
            "headers": headers,
            "body": String::from_utf8_lossy(&self.body),
        })
    }

    /// [`Self::echo`], and its text again in the encodings a service might
    /// use: base64 (both alphabets), hex and URL-encoded.
    pub fn echo_encoded(&self) -> serde_json::Value {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let echo = self.echo();
        let text = echo.to_string();
        let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
        let urlencoded: String = text
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        serde_json::json!({
            "echo": echo,
            "base64": STANDARD.encode(&text),
            "base64url": URL_SAFE.encode(&text),
            "hex": hex,
            "urlencoded": urlencoded,
        })
    }
}

type Compute = dyn Fn(&Seen) -> (u16, serde_json::Value) + Send + Sync;

/// How the server answers one path.
#[derive(Clone)]
pub enum Reply {
    Json(u16, serde_json::Value),
    Redirect(u16, String),
    Computed(Arc<Compute>),
}

impl Reply {
    pub fn ok(body: serde_json::Value) -> Self {
        Reply::Json(200, body)
    }

    pub fn computed(f: impl Fn(&Seen) -> (u16, serde_json::Value) + Send + Sync + 'static) -> Self {
        Reply::Computed(Arc::new(f))
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running server; it stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts on an ephemeral loopback port. Needs a tokio runtime.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the test server");
        let addr = listener.local_addr().expect("test server address");
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers `target` (a path, or a path with its query) with `reply`.
    pub fn route(&self, target: &str, reply: Reply) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(target.to_string(), reply);
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |pq| pq.as_str().to_string());
    let seen = Seen {
        method: method.to_string(),
        target: target.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    shared.seen.lock().unwrap().push(seen.clone());
    let reply = {
        let routes = shared.routes.lock().unwrap();
        routes
            .get(&target)
            .or_else(|| routes.get(uri.path()))
            .cloned()
    };
    let (status, json) = match reply {
        None => (
            404,
            serde_json::json!({"error": "not found", "target": target}),
        ),
        Some(Reply::Json(status, json)) => (status, json),
        Some(Reply::Computed(f)) => f(&seen),
        Some(Reply::Redirect(status, location)) => {
            let status = StatusCode::from_u16(status).expect("a redirect status");
            return (status, [(header::LOCATION, location)]).into_response();
        }
    };
    let status = StatusCode::from_u16(status).expect("a valid status");
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json.to_string(),
    )
        .into_response()
}
