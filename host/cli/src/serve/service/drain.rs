//! Drain on SIGTERM, and the state directory.
//!
//! Decision: on drain no new sync or ConductorOne task starts; running
//! syncs stop at their next call boundary, commit and checkpoint, and
//! resume on the next start. The drain waits for them up to its grace.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::serve::tenants::UploadTarget;

use super::registry::Service;

impl Service {
    /// Stops new work, lets running syncs reach a checkpoint, and waits for
    /// them up to `grace`. Returns whether everything stopped in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        // ConductorOne-bound tenants: no new tasks; their syncs stop at a
        // checkpoint and report CANCELLED.
        let bound_stopped = self.conductorone.stop_all();
        self.draining.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        self.slots.close();
        for t in self.tenants() {
            t.wake.notify_one();
        }
        let clean = tokio::time::timeout_at(deadline, bound_stopped)
            .await
            .is_ok();
        if !clean {
            tracing::warn!("ConductorOne task loops did not stop within the drain grace");
        }
        let idle = self.slots.wait_idle(deadline).await;
        clean && idle
    }

    pub fn running_syncs(&self) -> u64 {
        self.slots.running()
    }
}

/// The state directory must be writable before anything is scheduled.
pub fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("tenants"))
        .map_err(|e| anyhow::anyhow!("state directory {}: {e}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("state directory {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Where single-tenant mode publishes: `<output>/default.c1z`.
pub fn default_upload(output_dir: &Path) -> UploadTarget {
    UploadTarget::Directory {
        directory: output_dir.to_path_buf(),
    }
}
