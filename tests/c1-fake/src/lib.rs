//! A fake ConductorOne for end-to-end tests of a Baton service-mode
//! client: one TLS listener on 127.0.0.1 serving both the token endpoint
//! (`POST /auth/v1/token`) and the gRPC `BatonService`, with a scripted task
//! queue, strict request validation, records for assertions and fault
//! injection (see the reference notes on service mode, §6).
//!
//! ```no_run
//! # async fn demo() {
//! use baton_api::v1::task::{TaskType, SyncFullTask};
//! let c1 = c1_fake::FakeC1::start().await;
//! // Point the client at it: BATON_CLIENT_ID = c1.client_id(),
//! // BATON_CLIENT_SECRET = c1.client_secret(), BATON_C1_API_HOST =
//! // c1.api_host(), and make it trust c1.ca_pem().
//! let id = c1.enqueue(TaskType::SyncFull(SyncFullTask::default()));
//! let finish = c1.wait_finished(&id, std::time::Duration::from_secs(30)).await;
//! assert!(finish.is_some());
//! assert_eq!(c1.violations(), Vec::<String>::new());
//! # }
//! ```
//!
//! Decisions:
//! - `FakeC1` is a cheap clone of an `Arc`; every setter and getter locks
//!   one mutex briefly (see `state.rs`), and every change bumps a watch
//!   counter so `wait_*` helpers sleep until something happens instead of
//!   polling.
//! - The fake runs on the caller's tokio runtime. A test that blocks its
//!   thread (a synchronous `std::process::Command::output`) stalls the fake
//!   too on a current-thread runtime: use a multi-thread runtime or
//!   `tokio::process`.
//! - Getters return copies, so assertions never hold the lock.

mod grpc;
mod server;
mod state;
mod token;
mod validate;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_api::v1::{FinishTaskRequest, HelloRequest, task::TaskType};
use tokio::net::TcpListener;
use tokio::sync::watch;

use token::TOKEN_PATH;

/// The test client's ID: client name `test-client`, API host `localhost`.
pub const CLIENT_ID: &str = "test-client@localhost/pcc";
/// What every gRPC user agent must start with: the client name and a space.
const USER_AGENT_PREFIX: &str = "test-client ";

/// Shared by the API handle, the listener and the handlers.
pub(crate) struct Inner {
    creds: token::Credentials,
    ca_pem: String,
    addr: SocketAddr,
    state: Mutex<state::State>,
    changed: watch::Sender<u64>,
    conns: server::Connections,
}

impl Inner {
    /// Runs `f` on the state under the lock and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut state::State) -> R) -> R {
        let result = f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.notify();
        result
    }

    fn read<R>(&self, f: impl FnOnce(&state::State) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Wakes every waiter.
    pub(crate) fn notify(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A running fake ConductorOne. Clones share one server.
#[derive(Clone)]
pub struct FakeC1 {
    inner: Arc<Inner>,
}

impl FakeC1 {
    /// Generates a test CA, a server certificate for 127.0.0.1/localhost and
    /// the client's Ed25519 key, and starts listening on 127.0.0.1 with an
    /// ephemeral port. Panics if any of that fails (a test setup error).
    pub async fn start() -> FakeC1 {
        // The client under test must trust this CA explicitly, as it would
        // any non-public endpoint. ALPN offers `h2` (gRPC) and `http/1.1`
        // (a plain HTTPS client of the token endpoint on the same port).
        let tls = pingone_sim::tls::generate_named("c1-fake test CA", &[b"h2", b"http/1.1"])
            .expect("generate the test TLS material");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let inner = Arc::new(Inner {
            creds: token::Credentials::generate(CLIENT_ID),
            ca_pem: tls.ca_pem,
            addr,
            state: Mutex::new(state::State::new()),
            changed: watch::Sender::new(0),
            conns: server::Connections::default(),
        });
        tokio::spawn(server::accept_loop(
            listener,
            tokio_rustls::TlsAcceptor::from(tls.server),
            inner.clone(),
        ));
        FakeC1 { inner }
    }

    /// `f` of the record of `task_id`, or the empty value for a task the
    /// fake does not know.
    fn task<R: Default>(&self, task_id: &str, f: impl FnOnce(&state::TaskRecord) -> R) -> R {
        self.inner
            .read(|s| s.tasks.get(task_id).map(f).unwrap_or_default())
    }

    // ----- Where and who -----

    /// The listening address (127.0.0.1 and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `127.0.0.1:<port>`: the value for `BATON_C1_API_HOST`.
    pub fn api_host(&self) -> String {
        format!("127.0.0.1:{}", self.inner.addr.port())
    }

    /// `https://127.0.0.1:<port>`: a gRPC endpoint URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.api_host())
    }

    /// `https://127.0.0.1:<port>/auth/v1/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.url())
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.inner.ca_pem.clone()
    }

    /// [`CLIENT_ID`].
    pub fn client_id(&self) -> String {
        self.inner.creds.client_id.clone()
    }

    /// `secret-token:conductorone.com:v1:<base64url JWK>` holding the
    /// client's Ed25519 key (`kty`, `crv`, `x`, `d`; no `kid`).
    pub fn client_secret(&self) -> String {
        self.inner.creds.client_secret.clone()
    }

    // ----- Token endpoint -----

    /// The next `n` valid token requests are answered 401.
    pub fn fail_tokens(&self, n: usize) {
        self.inner.update(|s| s.fail_tokens = n);
    }

    /// Requests to the token endpoint, whatever their outcome.
    pub fn token_fetches(&self) -> usize {
        self.inner.read(|s| s.token_fetches)
    }

    /// Why token requests were rejected (client bugs; injected failures are
    /// not listed).
    pub fn token_rejections(&self) -> Vec<String> {
        self.inner.read(|s| s.token_rejections.clone())
    }

    /// Marks every token issued so far as expired; later calls carrying one
    /// get UNAUTHENTICATED.
    pub fn expire_all_tokens(&self) {
        self.inner.update(|s| {
            let now = Instant::now();
            for expiry in s.tokens.values_mut() {
                *expiry = now;
            }
        });
    }

    /// Issues a token without the HTTP exchange (for tests that drive the
    /// gRPC side themselves). Not counted in `token_fetches`.
    pub fn mint_token(&self) -> String {
        self.inner.update(|s| s.mint_token())
    }

    /// Every access token minted so far (to check none leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner.read(|s| s.tokens.keys().cloned().collect())
    }

    /// gRPC calls refused for a missing, unknown or expired token.
    pub fn unauthenticated_calls(&self) -> usize {
        self.inner.read(|s| s.unauthenticated_calls)
    }

    /// Distinct gRPC `user-agent` values, in order of first use (`""` for
    /// none). One not starting with `test-client ` is also a violation.
    pub fn user_agents(&self) -> Vec<String> {
        self.inner.read(|s| s.user_agents.clone())
    }

    // ----- Records common to every RPC -----

    /// Client misbehaviour seen so far; tests assert it is empty.
    pub fn violations(&self) -> Vec<String> {
        self.inner.read(|s| s.violations.clone())
    }

    /// The ordered log of handled events: `token` (issued), `token:rejected`,
    /// `token:failed`, `unauthenticated:<Rpc>`, `hello`
    /// (startup Hello), `hello:<id>` (answer to a hello task), `get_task`,
    /// `task:<id>` (right after the `get_task` that handed it out),
    /// `heartbeat:<id>`, `upload:<id>` (a verified upload), `finish:<id>`.
    /// Calls answered with an error are not logged (see [`FakeC1::calls`]).
    pub fn events(&self) -> Vec<String> {
        self.inner.read(|s| s.events.clone())
    }

    /// Arrival times of every authenticated call to `method` (a
    /// `baton_api::method` path), including those answered with a
    /// validation error.
    pub fn calls(&self, method: &str) -> Vec<Instant> {
        self.inner.read(|s| {
            s.calls
                .iter()
                .filter(|(m, _)| m == method)
                .map(|(_, t)| *t)
                .collect()
        })
    }

    // ----- Hello -----

    /// Every accepted Hello, startup and task Hellos alike.
    pub fn hellos(&self) -> Vec<HelloRequest> {
        self.inner.read(|s| s.hellos.clone())
    }

    // ----- Task queue (GetTask) -----

    /// Queues a task of `task_type` with a fresh 27-character ID; returns
    /// the ID.
    pub fn enqueue(&self, task_type: TaskType) -> String {
        self.inner.update(|s| {
            let id = s.record_task(task_type);
            s.queue.push_back(id.clone());
            id
        })
    }

    /// Hands `task_id` out again on the next GetTask, as ConductorOne does
    /// when it re-delivers a task it believes lost. Returns false if the
    /// fake does not know the task.
    pub fn reissue(&self, task_id: &str) -> bool {
        self.inner.update(|s| {
            if !s.tasks.contains_key(task_id) {
                return false;
            }
            s.queue.push_front(task_id.to_string());
            true
        })
    }

    /// `next_poll` in every GetTask reply (default 100 ms).
    pub fn set_next_poll(&self, d: Duration) {
        self.inner.update(|s| s.next_poll = d);
    }

    // ----- Heartbeat -----

    /// Heartbeats handled for `task_id`.
    pub fn heartbeats(&self, task_id: &str) -> usize {
        self.task(task_id, |t| t.heartbeats)
    }

    /// `next_heartbeat` in every Heartbeat reply (default 1 s).
    pub fn set_next_heartbeat(&self, d: Duration) {
        self.inner.update(|s| s.next_heartbeat = d);
    }

    /// From now on every Heartbeat for `task_id` answers `cancelled = true`.
    /// Returns false if the fake does not know the task.
    pub fn cancel_task(&self, task_id: &str) -> bool {
        self.inner.update(|s| match s.tasks.get_mut(task_id) {
            Some(t) => {
                t.cancelled = true;
                true
            }
            None => false,
        })
    }

    // ----- UploadAsset -----

    /// Verified uploads for `task_id`, in order (a sync's c1z, then maybe
    /// its debug log).
    pub fn uploads(&self, task_id: &str) -> Vec<Vec<u8>> {
        self.task(task_id, |t| t.uploads.clone())
    }

    /// The data message sizes of each verified upload for `task_id`.
    pub fn upload_chunk_sizes(&self, task_id: &str) -> Vec<Vec<usize>> {
        self.task(task_id, |t| t.chunk_sizes.clone())
    }

    /// From now on an upload that begins is never read further, as over a
    /// stalled link: the host's stream waits until its deadline or until
    /// it gives up.
    pub fn stall_uploads(&self, on: bool) {
        self.inner.update(|s| s.stall_uploads = on);
    }

    /// Task ids whose upload began (metadata accepted), in order.
    pub fn uploads_begun(&self) -> Vec<String> {
        self.inner.read(|s| s.uploads_begun.clone())
    }

    // ----- FinishTask -----

    /// Every FinishTask received for `task_id` (more than one is a
    /// violation).
    pub fn finishes(&self, task_id: &str) -> Vec<FinishTaskRequest> {
        self.task(task_id, |t| t.finishes.clone())
    }

    /// Waits up to `timeout` for the first FinishTask of `task_id`.
    pub async fn wait_finished(
        &self,
        task_id: &str,
        timeout: Duration,
    ) -> Option<FinishTaskRequest> {
        let mut found = None;
        self.wait_until(timeout, |c1| {
            found = c1.finishes(task_id).into_iter().next();
            found.is_some()
        })
        .await;
        found
    }

    /// Waits up to `timeout` until `done(self)` holds, re-checking after
    /// every change to the fake's state (no fixed-interval polling).
    /// Returns whether it held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&FakeC1) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.inner.changed.subscribe();
        loop {
            changes.borrow_and_update();
            if done(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => return done(self),
            }
        }
    }

    // ----- Connections -----

    /// Closes every open connection abruptly.
    pub fn drop_connections(&self) {
        self.inner.conns.drop_all();
    }

    /// With `true`, new connections are accepted and closed at once.
    pub fn set_refuse_connections(&self, refuse: bool) {
        self.inner.conns.refuse.store(refuse, Ordering::SeqCst);
    }

    /// TCP connections accepted so far, refused ones included.
    pub fn connections_accepted(&self) -> usize {
        self.inner.conns.accepted.load(Ordering::SeqCst)
    }
}
