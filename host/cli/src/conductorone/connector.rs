//! What a ConductorOne task runs against, and how the task loop is stopped.
//!
//! Decision: the task loop (`mod.rs`) and each task (`tasks`) share these
//! types, so they sit apart from both; a task reads the deployment when it
//! starts, so a hot swap in `serve` affects only tasks that start after it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use connector_runtime::{InstanceCtx, Plugin};
use tokio::sync::Notify;

/// A loaded component and its configured instance.
#[derive(Clone)]
pub struct Target {
    pub plugin: Arc<Plugin>,
    pub instance: Arc<InstanceCtx>,
}

/// The connector the tasks run against.
pub struct Connector {
    /// The deployment each task runs on, read when the task starts (in
    /// `serve`, a hot swap replaces it; tasks already running keep theirs).
    pub current: Box<dyn Fn() -> Target + Send + Sync>,
    pub provisioning: bool,
    /// The checkpointed c1z every sync task writes and uploads.
    pub sync_file: PathBuf,
    pub sync_concurrency: usize,
    pub checkpoint_interval: Duration,
    /// What each sync task may spend (calls, pages, queue, deadline).
    pub sync_limits: connector_runtime::sync::SyncLimits,
    /// Held for the whole of a sync: one at a time per c1z. Under `serve`
    /// it is the tenant's own lock, shared with its admin-triggered syncs.
    pub sync_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Connector {
    pub fn target(&self) -> Target {
        (self.current)()
    }
}

/// Stops the service: polling ends, running syncs stop at a checkpoint.
#[derive(Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Shutdown {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    pub(super) async fn sleep(&self, d: Duration) {
        self.interruptible(tokio::time::sleep(d)).await;
    }

    /// Runs `work` unless shutdown comes first (`None`): a GetTask or Hello
    /// waiting on a slow ConductorOne must not hold a drain for its whole
    /// deadline. What was cut off is re-issued by ConductorOne, as after a
    /// dropped connection.
    pub(super) async fn interruptible<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        let notified = self.notify.notified();
        if self.is_set() {
            return None;
        }
        tokio::select! {
            out = work => Some(out),
            _ = notified => None,
        }
    }
}
