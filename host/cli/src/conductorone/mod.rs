//! ConductorOne service mode: with `--client-id`/`--client-secret`
//! (`BATON_CLIENT_ID`/`BATON_CLIENT_SECRET`) the host connects to
//! ConductorOne, takes its tasks (sync, grant, revoke, create account,
//! delete) and reports their results, as a Baton connector does.
//!
//! The wire contract is Baton's SDK: the same credentials, messages,
//! status codes, retry choices, chunk sizes and clamps. Where we differ,
//! it is invisible on the wire or strictly safer:
//! - one long-lived TLS channel instead of a connection per call;
//! - heartbeats stop before FinishTask, so none follows it;
//! - a server `UNAUTHENTICATED` drops the cached token at once;
//! - a sync checkpoints into a kept c1z, so a sync that was cancelled or cut
//!   short by a restart resumes on the next sync task instead of restarting;
//! - a generated password is only ever returned encrypted, and a task that
//!   gives no usable key is refused before the account is created;
//! - a task id already running is never started a second time.
//!
//! Layout: `credentials` (client id, secret, assertion, token cache),
//! `proxy` (proxy tunnelling), `client` (the gRPC calls), `hello`
//! (what the host says about itself), `connector` (what tasks run against,
//! and the stop signal), `tasks` (one task to its FinishTask),
//! `encryption` (generated passwords), and here the task loop.

mod client;
mod connector;
pub mod credentials;
pub mod encryption;
mod hello;
mod password;
pub use hello::host_id;
mod proxy;
mod tasks;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use connector_runtime::backoff::Backoff;
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tonic::Code;

pub use client::BatonClient;
pub use connector::{Connector, Shutdown, Target};
use credentials::{ClientId, ClientSecret, TokenSource};

/// Startup Hello backoff: 1 s doubling to 5 min, no attempt limit (Baton's
/// steps; jittered, so hosts restarted together do not retry together).
const HELLO_FIRST_BACKOFF: Duration = Duration::from_secs(1);
const HELLO_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Poll errors wait n² seconds, at most a minute; `next_poll` is clamped to
/// five minutes (Baton).
const POLL_ERROR_CAP: Duration = Duration::from_secs(60);
const NEXT_POLL_MAX: Duration = Duration::from_secs(300);

/// How the host reaches ConductorOne.
pub struct Settings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `BATON_C1_API_HOST`: replaces the client id's host for the token and
    /// gRPC connections (not for the assertion's audience).
    pub api_host: Option<String>,
    pub host_id: String,
    /// Tasks run at once (Baton: `--task-concurrency`, default 3).
    pub task_concurrency: usize,
    pub extra_roots_pem: Vec<Vec<u8>>,
}

/// Connects to ConductorOne and serves tasks until `shutdown`, then lets
/// running tasks finish for up to `grace`.
pub async fn serve(
    settings: Settings,
    connector: Arc<Connector>,
    shutdown: Shutdown,
    grace: Duration,
) -> anyhow::Result<()> {
    let id = ClientId::parse(&settings.client_id)?;
    let secret = ClientSecret::parse(&settings.client_secret)?;
    let host = settings
        .api_host
        .clone()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| id.api_host.clone());
    let tokens = Arc::new(TokenSource::new(
        id.clone(),
        secret,
        &host,
        &settings.extra_roots_pem,
    )?);
    let client = BatonClient::new(
        &host,
        tokens,
        settings.host_id.clone(),
        &settings.extra_roots_pem,
    )?;
    tracing::info!(client = %id.name, host = %host, host_id = %settings.host_id, "ConductorOne service mode");

    if !startup_hello(&client, &connector, &shutdown).await? {
        // Nothing ran yet: an operator's stop is a clean exit.
        tracing::info!("stopped before ConductorOne answered");
        return Ok(());
    }
    tracing::info!("connected to ConductorOne; waiting for tasks");

    let concurrency = settings.task_concurrency.clamp(1, 100);
    let slots = Arc::new(Semaphore::new(concurrency));
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut errors: u32 = 0;
    let mut wait = Duration::ZERO;
    loop {
        shutdown.sleep(wait).await;
        // A slot is taken before asking, so no task is fetched that cannot start.
        let acquired = shutdown.interruptible(slots.clone().acquire_owned());
        let Some(permit) = acquired.await else {
            break;
        };
        let permit = permit.context("task slots closed")?;
        let Some(asked) = shutdown.interruptible(client.get_task()).await else {
            break;
        };
        let response = match asked {
            Ok(r) => r,
            Err(e) => {
                drop(permit);
                errors += 1;
                wait = Duration::from_secs(u64::from(errors).pow(2)).min(POLL_ERROR_CAP);
                tracing::warn!(
                    retry_in = ?wait,
                    "asking ConductorOne for a task failed: {:?}: {}",
                    e.code(),
                    e.message()
                );
                continue;
            }
        };
        errors = 0;
        wait = response
            .next_poll
            .map(|d| Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32))
            .unwrap_or_default()
            .min(NEXT_POLL_MAX);
        let Some(task) = response.task else {
            continue;
        };
        if matches!(task.task_type, Some(baton_api::v1::task::TaskType::None(_))) {
            continue;
        }
        let Some(claim) = RunningTask::claim(&running, &task.id) else {
            tracing::warn!(task = %task.id, "task is already running here; not starting it twice");
            continue;
        };
        let kind = task.task_type.as_ref().map_or("unknown", |t| t.name());
        tracing::info!(task = %task.id, kind, "task received");
        let (client, connector, stop) = (client.clone(), connector.clone(), shutdown.clone());
        tokio::spawn(async move {
            let outcome = tasks::run(&task, &connector, &client, stop).await;
            if let tasks::Outcome::Failure(f) = &outcome {
                tracing::warn!(task = %task.id, code = f.code, "task failed: {}", f.message);
            }
            if let Some(req) = outcome.finish_request(&client.host_id, &task.id) {
                match client.finish_task(req).await {
                    Ok(_) => tracing::info!(task = %task.id, "task finished"),
                    // Baton does not retry FinishTask either: ConductorOne
                    // times the task out and issues it again.
                    Err(e) => {
                        tracing::warn!(task = %task.id, "FinishTask failed: {:?}: {}", e.code(), e.message())
                    }
                }
            }
            drop(claim);
            drop(permit);
        });
    }
    // Drain: every slot back means every task has sent its FinishTask.
    match tokio::time::timeout(grace, slots.acquire_many(concurrency as u32)).await {
        Ok(_) => tracing::info!("drained: clean"),
        Err(_) => tracing::warn!("drain grace elapsed with tasks still running"),
    }
    Ok(())
}

/// A task's place in the set of tasks running here. It is given up however
/// the task ends, a panic included: a task ConductorOne re-issues after a
/// crash of its runner must not be refused as "already running" for good.
struct RunningTask {
    running: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl RunningTask {
    /// Claims `id`, unless a task with that id already runs here.
    fn claim(running: &Arc<Mutex<HashSet<String>>>, id: &str) -> Option<Self> {
        let fresh = running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string());
        fresh.then(|| Self {
            running: running.clone(),
            id: id.to_string(),
        })
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Codes after which a startup Hello is not retried (Baton's list).
fn hello_is_fatal(code: Code) -> bool {
    matches!(
        code,
        Code::Unauthenticated
            | Code::PermissionDenied
            | Code::InvalidArgument
            | Code::Unimplemented
            | Code::FailedPrecondition
            | Code::NotFound
    )
}

/// Says hello until ConductorOne answers (`true`) or the host is stopped
/// first (`false`); refused credentials are an error.
async fn startup_hello(
    client: &BatonClient,
    connector: &Connector,
    shutdown: &Shutdown,
) -> anyhow::Result<bool> {
    let backoff = Backoff::new(HELLO_FIRST_BACKOFF, HELLO_MAX_BACKOFF);
    let mut failures = 0;
    loop {
        let plugin = connector.target().plugin;
        let req = hello::request(
            &client.host_id,
            "",
            &plugin.metadata,
            &plugin.targetable_types(),
        );
        let Some(answer) = shutdown.interruptible(client.hello(req)).await else {
            return Ok(false);
        };
        match answer {
            Ok(_) => return Ok(true),
            Err(e) if hello_is_fatal(e.code()) => bail!(
                "ConductorOne refused the connector ({:?}): {}; check BATON_CLIENT_ID and BATON_CLIENT_SECRET",
                e.code(),
                e.message()
            ),
            Err(e) => {
                failures += 1;
                let wait = backoff.delay(failures);
                tracing::warn!(retry_in = ?wait, "hello to ConductorOne failed: {:?}: {}", e.code(), e.message());
                shutdown.sleep(wait).await;
                if shutdown.is_set() {
                    return Ok(false);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_cuts_off_a_call_that_would_wait_for_its_deadline() {
        let shutdown = Shutdown::default();
        assert_eq!(shutdown.interruptible(async { 7 }).await, Some(7));
        let stop = shutdown.clone();
        let waiting = tokio::spawn(async move {
            // A GetTask that ConductorOne never answers.
            stop.interruptible(std::future::pending::<()>()).await
        });
        tokio::task::yield_now().await;
        shutdown.trigger();
        assert_eq!(waiting.await.unwrap(), None);
        // After shutdown, nothing new starts.
        assert_eq!(shutdown.interruptible(async { 7 }).await, None);
    }

    #[tokio::test]
    async fn a_task_that_panics_gives_up_its_claim() {
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let claim = RunningTask::claim(&running, "t1").expect("first claim");
        assert!(
            RunningTask::claim(&running, "t1").is_none(),
            "claimed twice"
        );
        let panicked = tokio::spawn(async move {
            let _claim = claim;
            panic!("the task's runner crashed");
        })
        .await;
        assert!(panicked.unwrap_err().is_panic());
        // ConductorOne re-issues the task: it may start again.
        assert!(RunningTask::claim(&running, "t1").is_some());
        assert!(running.lock().unwrap().is_empty());
    }
}
