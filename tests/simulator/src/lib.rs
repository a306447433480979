//! A faithful PingOne Platform API simulator for tests, the demo and
//! benchmarks.
//!
//! It serves PingOne's two hosts on two loopback listeners: the auth host
//! (`POST /{envId}/as/token`) and the API host (`/v1/...`), optionally over
//! TLS, with PingOne's envelopes, paging, SCIM filters, status codes and
//! error bodies, a deterministic seeded tenant, fault injection, request
//! accounting and an admin API (`/__sim/...`). Facts and the 25-point
//! checklist it implements come from the team's PingOne API reference.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = pingone_sim::start(pingone_sim::SimConfig::tiny(7), Default::default()).await?;
//! println!("token: {}  api: {}/v1", sim.token_url(), sim.api_base_url());
//! let truth = sim.ground_truth();
//! sim.shutdown().await;
//! # let _ = truth; Ok(()) }
//! ```

pub mod accounting;
pub mod activity;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod config;
pub mod cursor;
pub mod errors;
pub mod faults;
pub mod filter;
pub mod generator;
pub mod ground_truth;
pub mod listing;
pub mod lower_bound;
pub mod model;
pub mod ops;
pub mod render;
pub mod routes;
pub mod server;
pub mod store;
pub mod tls;
pub mod util;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use accounting::{FaultCounts, RouteStats, Stats};
pub use changes::{AppliedChange, ChangeKind, apply_random_changes, apply_weighted_changes};
pub use config::{
    AuditConfig, AuthMethod, ClientAccess, ClientConfig, DuplicateMembership, DuplicateUsername,
    ErrorBurst, Faults, NestingAudit, SimConfig,
};
pub use generator::builtin_role_id;
pub use ground_truth::{
    DynamicMembers, GroundTruth, Membership, Nesting, RoleAssignmentTruth, Scope, Summary,
};
pub use lower_bound::{LowerBound, lower_bound};

/// Everything the handlers share.
pub struct Shared {
    pub store: RwLock<store::Store>,
    pub tokens: auth::TokenStore,
    pub faults: faults::FaultState,
    pub stats: accounting::Accounting,
    pub config: SimConfig,
    pub codec: cursor::CursorCodec,
    /// The audit API's own rate limit (one bucket per environment).
    pub audit_limiter: activity::AuditLimiter,
    /// e.g. `http://127.0.0.1:41234` (no `/v1`).
    pub api_base: String,
    /// e.g. `http://127.0.0.1:41235`.
    pub auth_base: String,
    pub env_id: String,
    pub other_env_id: String,
}

pub type AppState = Arc<Shared>;

impl Shared {
    /// The store for reading; a handler that panicked holding the lock
    /// leaves it usable (every write validates before it mutates).
    pub fn read(&self) -> RwLockReadGuard<'_, store::Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, store::Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every activity recorded so far, visible or not, oldest first, as the
    /// API renders them.
    pub fn activities(&self) -> Vec<serde_json::Value> {
        let st = self.read();
        let env_url = st.env_url();
        let all = st.audit.all().iter();
        all.map(|a| a.to_json(&st.env_id, &env_url)).collect()
    }
}

/// How to serve. Ports 0 pick ephemeral ports; only 127.0.0.1 is bound.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServeOptions {
    pub api_port: u16,
    pub auth_port: u16,
    pub tls: bool,
}

/// What the binary writes to `--ready-file` once it listens.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReadyInfo {
    pub api_base_url: String,
    pub auth_base_url: String,
    pub token_url: String,
    pub environment_id: String,
    pub other_environment_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub auth_method: AuthMethod,
    pub admin_url: String,
    pub tls: bool,
    pub ca_pem_path: Option<String>,
    pub pid: u32,
}

/// A running simulator. Dropping it stops the listeners.
pub struct SimHandle {
    app: AppState,
    ca_pem: Option<String>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Generates the tenant for `config` and returns its ground truth, without
/// serving anything (links use a placeholder loopback base).
pub fn generate_ground_truth(config: &SimConfig) -> GroundTruth {
    generator::generate(config, "http://127.0.0.1:0").ground_truth()
}

/// Binds both listeners, generates the tenant and starts serving.
pub async fn start(config: SimConfig, opts: ServeOptions) -> anyhow::Result<SimHandle> {
    let api = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, opts.api_port)))
        .await
        .with_context(|| format!("binding the API listener on 127.0.0.1:{}", opts.api_port))?;
    let auth = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, opts.auth_port)))
        .await
        .with_context(|| format!("binding the auth listener on 127.0.0.1:{}", opts.auth_port))?;
    let (api_addr, auth_addr) = (api.local_addr()?, auth.local_addr()?);
    let tls = opts.tls.then(tls::generate).transpose()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api_base = format!("{scheme}://127.0.0.1:{}", api_addr.port());
    let auth_base = format!("{scheme}://127.0.0.1:{}", auth_addr.port());

    let gen_config = config.clone();
    let gen_base = api_base.clone();
    // Large tenants take a moment; keep the runtime's workers free.
    let store = tokio::task::spawn_blocking(move || generator::generate(&gen_config, &gen_base))
        .await
        .context("generating the tenant")?;
    let app = Arc::new(Shared {
        env_id: store.env_id.clone(),
        other_env_id: store.other_env_id.clone(),
        tokens: auth::TokenStore::default(),
        faults: faults::FaultState::new(config.faults.clone(), config.seed),
        stats: accounting::Accounting::default(),
        codec: cursor::CursorCodec::new(util::mix64(config.seed ^ 0x6375_7273_6f72)),
        audit_limiter: activity::AuditLimiter::default(),
        store: RwLock::new(store),
        config,
        api_base,
        auth_base,
    });
    let (tx, rx) = watch::channel(false);
    let server_cfg = tls.as_ref().map(|t| t.server.clone());
    let routers = [
        (api, routes::api_router(app.clone())),
        (auth, routes::auth_router(app.clone())),
    ];
    let tasks = routers
        .into_iter()
        .map(|(l, r)| tokio::spawn(server::run(l, r, server_cfg.clone(), rx.clone())))
        .collect();
    Ok(SimHandle {
        app,
        ca_pem: tls.map(|t| t.ca_pem),
        shutdown: tx,
        tasks,
    })
}

impl SimHandle {
    /// `http(s)://127.0.0.1:PORT`; the API lives under `/v1`.
    pub fn api_base_url(&self) -> &str {
        &self.app.api_base
    }

    /// `http(s)://127.0.0.1:PORT`; the token endpoint is `{auth}/{envId}/as/token`.
    pub fn auth_base_url(&self) -> &str {
        &self.app.auth_base
    }

    pub fn token_url(&self) -> String {
        format!("{}/{}/as/token", self.app.auth_base, self.app.env_id)
    }

    pub fn environment_id(&self) -> &str {
        &self.app.env_id
    }

    /// A second environment of the organization that holds no data.
    pub fn other_environment_id(&self) -> &str {
        &self.app.other_env_id
    }

    pub fn organization_id(&self) -> String {
        self.app.read().org_id.clone()
    }

    /// The CA certificate (PEM) in TLS mode.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The first registered client's id.
    pub fn client_id(&self) -> &str {
        self.app.config.clients.first().map_or("", |c| &c.client_id)
    }

    pub fn client_secret(&self) -> &str {
        self.app
            .config
            .clients
            .first()
            .map_or("", |c| &c.client_secret)
    }

    pub fn config(&self) -> &SimConfig {
        &self.app.config
    }

    pub fn stats(&self) -> Stats {
        self.app.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.app.stats.reset();
    }

    /// The tenant as it is now.
    pub fn ground_truth(&self) -> GroundTruth {
        self.app.read().ground_truth()
    }

    pub fn summary(&self) -> Summary {
        self.app.read().summary()
    }

    /// Replaces the faults (same as `PUT /__sim/faults`).
    pub fn set_faults(&self, f: Faults) {
        self.app.faults.set(f);
    }

    /// Applies `steps` random changes chosen by `seed` (same as
    /// `POST /__sim/changes`); each records its activities.
    pub fn apply_random_changes(&self, seed: u64, steps: usize) -> Vec<AppliedChange> {
        let mut st = self.app.write();
        changes::apply_random_changes(&mut st, seed, steps)
    }

    /// Like [`SimHandle::apply_random_changes`], with kinds drawn by
    /// `weights` ([`changes::apply_weighted_changes`]).
    pub fn apply_weighted_changes(
        &self,
        seed: u64,
        steps: usize,
        weights: &[(ChangeKind, u32)],
    ) -> Vec<AppliedChange> {
        let mut st = self.app.write();
        changes::apply_weighted_changes(&mut st, seed, steps, weights)
    }

    /// Every activity recorded so far, visible or not, oldest first, as the
    /// API renders them (same as `GET /__sim/activities`).
    pub fn activities(&self) -> Vec<serde_json::Value> {
        self.app.activities()
    }

    pub fn audit_config(&self) -> AuditConfig {
        let st = self.app.read();
        st.audit.config.clone()
    }

    /// Replaces the audit configuration (same as `PUT /__sim/audit`);
    /// activities already recorded keep their visibility times.
    pub fn set_audit_config(&self, config: AuditConfig) {
        let mut st = self.app.write();
        st.audit.set_config(config);
    }

    /// Expires every issued token now (same as `POST /__sim/tokens/expire`).
    pub fn expire_tokens(&self) {
        self.app.tokens.expire_all();
    }

    pub fn ready_info(&self, ca_pem_path: Option<String>) -> ReadyInfo {
        let c = self.app.config.clients.first().cloned().unwrap_or_default();
        ReadyInfo {
            api_base_url: self.app.api_base.clone(),
            auth_base_url: self.app.auth_base.clone(),
            token_url: self.token_url(),
            environment_id: self.app.env_id.clone(),
            other_environment_id: self.app.other_env_id.clone(),
            client_id: c.client_id,
            client_secret: c.client_secret,
            auth_method: c.auth_method,
            admin_url: format!("{}/__sim", self.app.api_base),
            tls: self.ca_pem.is_some(),
            ca_pem_path,
            pid: std::process::id(),
        }
    }

    /// Stops accepting, closes connections and waits for the listeners.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
