//! Each tenant's schedule, and one sync of a tenant.
//!
//! Decisions:
//! - Fairness. Syncs wait for a slot in FIFO order (`slots`), so a tenant
//!   that syncs often cannot starve the others; a failing tenant backs off
//!   exponentially (capped at its interval), so it neither hammers its API
//!   nor holds slots.
//! - Spread. Tenants started together would hit the APIs and the host in
//!   one burst: first syncs are spread over [`STARTUP_SPREAD`], later ones
//!   by up to ±10% of the interval.
//! - A wake-up by a swap syncs at once, so a new deployment shows its
//!   effect (or its failure) without waiting a whole interval.
//! - An incremental tenant's scheduled syncs are incremental, and one is a
//!   full sync whenever its full-sync interval has passed since the last.
//!   When the last full sync ended is kept beside the tenant's c1z
//!   ([`FULL_SYNC_STAMP`]), so a restart neither forgets nor postpones the
//!   next one; with no stamp yet, the run is incremental (it falls back to
//!   a full one itself when the file holds nothing to continue from) and
//!   starts the count. Its runs may last up to that interval: a full sync
//!   is then not cut at the short incremental interval.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use connector_runtime::backoff::Backoff;
use connector_runtime::incremental::{IncrementalOptions, SyncMode, run_incremental_sync};
use connector_runtime::sync::{SyncError, SyncOptions, SyncSummary, run_sync};

use crate::serve::upload;

use super::deployment::{Deployment, lock, validate};
use super::options::sync_limits_for;
use super::registry::{Service, TriggerError};
use super::tenant::{LastSync, Tenant};

/// The file beside a tenant's c1z that holds when its last full sync ended
/// (RFC 3339, UTC).
pub(super) const FULL_SYNC_STAMP: &str = "last-full-sync";

/// First retry of a failing tenant; doubles per failure up to its interval.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Syncs of many tenants started at once would hit the APIs and the host in
/// one burst: each tenant's schedule is spread by up to ±10% of its interval.
const JITTER_FRACTION: f64 = 0.1;
/// The first sync of each tenant starts within this window after start-up.
const STARTUP_SPREAD: Duration = Duration::from_secs(2);

impl Service {
    /// The tenant's schedule: sync, wait (interval ± jitter, or backoff
    /// after a failure), repeat, until the tenant is removed or we drain.
    pub(super) async fn schedule(self: Arc<Self>, tenant: Arc<Tenant>) {
        let mut wait = STARTUP_SPREAD.mul_f64(rand::random::<f64>());
        loop {
            lock(&tenant.status).next_sync_in_seconds = Some(wait.as_secs());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tenant.wake.notified() => {}
            }
            if self.draining.load(Ordering::Relaxed) || tenant.removed.load(Ordering::Relaxed) {
                return;
            }
            // ConductorOne schedules a bound tenant's syncs itself.
            if tenant.current().spec.conductorone.is_some() {
                wait = tenant.current().spec.interval();
                continue;
            }
            let interval = tenant.current().spec.interval();
            let jitter = 1.0 + JITTER_FRACTION * (2.0 * rand::random::<f64>() - 1.0);
            // A wake-up by a swap syncs at once: the new deployment shows
            // its effect (or its failure) without waiting a whole interval.
            let _ = self.sync_now(&tenant).await;
            let failures = lock(&tenant.status).consecutive_failures;
            wait = if failures == 0 {
                interval.mul_f64(jitter)
            } else {
                Backoff::new(FIRST_BACKOFF, interval).delay(failures)
            };
        }
    }

    /// Starts a sync of `id` in the background (the admin API's trigger).
    pub fn trigger(self: &Arc<Self>, id: &str) -> Result<(), TriggerError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(TriggerError::Draining);
        }
        let tenant = self.tenant(id).ok_or(TriggerError::UnknownTenant)?;
        if tenant.is_running() {
            return Err(TriggerError::AlreadyRunning);
        }
        let me = self.clone();
        tokio::spawn(async move {
            let _ = me.sync_now(&tenant).await;
        });
        Ok(())
    }

    /// One sync of `tenant`, if it is not already syncing.
    pub async fn sync_now(&self, tenant: &Arc<Tenant>) -> Result<(), TriggerError> {
        let Ok(_running) = tenant.running.try_lock() else {
            return Err(TriggerError::AlreadyRunning);
        };
        lock(&tenant.status).state = "waiting";
        let slot = self.slots.acquire().await;
        if slot.is_none() || self.draining.load(Ordering::Relaxed) {
            lock(&tenant.status).state = "idle";
            return Err(TriggerError::Draining);
        }
        let d = tenant.current();
        lock(&tenant.status).state = "syncing";
        let started = std::time::Instant::now();
        let result = self.run_one_sync(tenant, &d).await;
        let micros = started.elapsed().as_micros() as u64;
        let counters = &tenant.counters;
        counters
            .sync_micros_sum
            .fetch_add(micros, Ordering::Relaxed);
        tenant.memory_high_water.fetch_max(
            d.instance.metrics.memory_high_water.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut s = lock(&tenant.status);
        s.state = "idle";
        match result {
            Ok(last) => {
                counters.syncs_ok.fetch_add(1, Ordering::Relaxed);
                s.last_sync = Some(last);
                s.last_error = None;
                s.consecutive_failures = 0;
            }
            Err(None) => {
                counters.syncs_interrupted.fetch_add(1, Ordering::Relaxed);
            }
            Err(Some(e)) => {
                counters.syncs_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %tenant.id, "sync failed: {e}");
                s.last_error = Some(e);
                s.consecutive_failures += 1;
            }
        }
        Ok(())
    }

    /// One scheduled sync of an incremental tenant: a full one when its
    /// full-sync interval has passed, else incremental.
    async fn run_incremental(
        &self,
        tenant: &Tenant,
        d: &Deployment,
        file: &std::path::Path,
        mut options: SyncOptions,
    ) -> Result<SyncSummary, SyncError> {
        let every = d.spec.full_interval();
        let stamp = file.with_file_name(FULL_SYNC_STAMP);
        let last_full = read_stamp(&stamp);
        let incremental = IncrementalOptions {
            force_full: full_sync_due(last_full, every, SystemTime::now()),
            ..IncrementalOptions::default()
        };
        if d.spec.limits.sync_deadline.is_none() {
            options.limits.deadline = self.options.sync_limits.deadline.min(every);
        }
        let s = run_incremental_sync(&d.plugin, &d.instance, file, &options, &incremental).await?;
        tracing::info!(
            tenant = %tenant.id,
            mode = ?s.mode,
            fallback = s.fallback.as_deref().unwrap_or(""),
            resources_reread = s.resources_reread,
            principals_reread = s.principals_reread,
            resource_grants_reread = s.resource_grants_reread,
            batched = s.batched,
            "sync finished"
        );
        if s.mode == SyncMode::Full || last_full.is_none() {
            // A stamp that cannot be written only makes the next full sync
            // come later or sooner; the sync itself succeeded.
            if let Err(e) = write_stamp(&stamp, SystemTime::now()) {
                tracing::warn!(tenant = %tenant.id, "{}: {e}", stamp.display());
            }
        }
        Ok(s.sync)
    }

    /// `Err(None)`: stopped by a drain at a checkpoint.
    async fn run_one_sync(
        &self,
        tenant: &Tenant,
        d: &Deployment,
    ) -> Result<LastSync, Option<String>> {
        let fail = |e: String| Some(tenant.redact(d, &e));
        validate(d)
            .await
            .map_err(|e| fail(format!("validate: {e}")))?;
        let file = self.options.sync_file(&tenant.id);
        let dir = file.parent().unwrap_or(&self.options.state_dir);
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let options = SyncOptions {
            concurrency: d.spec.limits.sync_concurrency.unwrap_or(8),
            checkpoint_interval: self.options.checkpoint_interval,
            stop: Some(self.stop.clone()),
            limits: sync_limits_for(&self.options.sync_limits, &d.spec, true),
            ..SyncOptions::default()
        };
        let result = if d.spec.incremental {
            self.run_incremental(tenant, d, &file, options).await
        } else {
            run_sync(&d.plugin, &d.instance, &file, &options).await
        };
        let summary = match result {
            Ok(s) => s,
            Err(SyncError::Interrupted) => return Err(None),
            Err(e) => return Err(fail(format!("sync: {e}"))),
        };
        let published_to = match &d.spec.upload {
            Some(target) => upload::publish(target, &tenant.id, &file, &self.upload_client)
                .await
                .map_err(|e| fail(format!("upload: {}", crate::errors::Chain(&e))))?,
            None => file.display().to_string(),
        };
        Ok(LastSync {
            finished_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            seconds: summary.seconds,
            sync_id: summary.sync_id,
            resumed: summary.resumed,
            resources: summary.resources.iter().map(|(_, n)| n).sum(),
            entitlements: summary.entitlements,
            grants: summary.grants,
            requests: summary.requests,
            component_sha256: d.digest().to_string(),
            published_to,
        })
    }
}

/// When the last full sync ended, from `stamp`; `None` when there is no
/// stamp or it does not parse (the run then starts the count again).
fn read_stamp(stamp: &std::path::Path) -> Option<SystemTime> {
    let text = std::fs::read_to_string(stamp).ok()?;
    match humantime::parse_rfc3339(text.trim()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("{}: not a time ({e}); counting anew", stamp.display());
            None
        }
    }
}

/// Writes `at` to `stamp` through a temporary file and a rename, so a crash
/// leaves the old stamp or the new one.
fn write_stamp(stamp: &std::path::Path, at: SystemTime) -> std::io::Result<()> {
    let tmp = stamp.with_extension("tmp");
    std::fs::write(&tmp, humantime::format_rfc3339_seconds(at).to_string())?;
    std::fs::rename(&tmp, stamp)
}

/// The reason to run the scheduled full sync now, if it is due: `every` has
/// passed since `last_full`, or `last_full` lies in the future (the clock
/// went back; a full sync resets the count).
fn full_sync_due(
    last_full: Option<SystemTime>,
    every: Duration,
    now: SystemTime,
) -> Option<String> {
    let due = match now.duration_since(last_full?) {
        Ok(age) => age >= every,
        Err(_) => true,
    };
    due.then(|| {
        format!(
            "the scheduled full sync (every {})",
            humantime::format_duration(every)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_full_sync_is_due_once_its_interval_has_passed_since_the_last() {
        let now = SystemTime::now();
        assert_eq!(full_sync_due(None, DAY, now), None, "no stamp: count anew");
        assert_eq!(full_sync_due(Some(now - DAY / 2), DAY, now), None);
        let due = full_sync_due(Some(now - DAY), DAY, now).expect("a day old");
        assert_eq!(due, "the scheduled full sync (every 1day)");
        assert!(
            full_sync_due(Some(now + DAY), DAY, now).is_some(),
            "a stamp in the future (the clock went back) resets the count"
        );
    }

    #[test]
    fn the_stamp_survives_a_restart_and_a_bad_one_counts_anew() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join(FULL_SYNC_STAMP);
        assert_eq!(read_stamp(&stamp), None);
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        write_stamp(&stamp, then).unwrap();
        // What a restarted service reads back: the same second.
        assert_eq!(read_stamp(&stamp), Some(then));
        assert!(full_sync_due(read_stamp(&stamp), DAY, then + 2 * DAY).is_some());
        std::fs::write(&stamp, "yesterday").unwrap();
        assert_eq!(read_stamp(&stamp), None);
    }
}
