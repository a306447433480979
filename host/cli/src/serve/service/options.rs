//! What the service and each tenant's syncs may spend.
//!
//! Decision: a tenant holds a sync slot for at most its sync deadline: by
//! default its interval (at least [`MIN_SYNC_DEADLINE`]), at most
//! `--sync-deadline`, unless its own `limits` say otherwise. An endless
//! sync (a hostile component) is cut there and its slot goes to the next
//! tenant in line; a slow but healthy one stops at a checkpoint, queues
//! again behind the others, and resumes.

use std::path::PathBuf;
use std::time::Duration;

use connector_runtime::capabilities::http::TlsOptions;
use connector_runtime::sync::SyncLimits;

use crate::serve::tenants::TenantSpec;

/// The shortest default deadline of a run in serve: a tenant syncing every
/// minute still gets runs long enough to make progress (a 5,000-user
/// PingOne sync is ~10,600 requests, ~106 s at PingOne's ~100 requests/s,
/// so it finishes in one run with 3x headroom), and a run ends at least
/// that often, so a slot changes hands.
pub const MIN_SYNC_DEADLINE: Duration = Duration::from_secs(300);

/// Service-wide settings.
pub struct ServiceOptions {
    pub state_dir: PathBuf,
    pub max_concurrent_syncs: usize,
    pub tls: TlsOptions,
    pub checkpoint_interval: Duration,
    /// What each sync may spend, unless a tenant's `limits` say otherwise.
    pub sync_limits: SyncLimits,
}

impl ServiceOptions {
    /// The c1z a tenant's syncs checkpoint into and keep.
    pub fn sync_file(&self, tenant: &str) -> PathBuf {
        self.state_dir.join("tenants").join(tenant).join("sync.c1z")
    }
}

/// What `spec`'s syncs may spend: its own `limits`, else the service's.
/// Scheduled syncs (`by_interval`) also stop at the tenant's interval (at
/// least [`MIN_SYNC_DEADLINE`]) unless the tenant sets its own deadline;
/// ConductorOne schedules a bound tenant's syncs and has no interval here.
pub fn sync_limits_for(service: &SyncLimits, spec: &TenantSpec, by_interval: bool) -> SyncLimits {
    let l = &spec.limits;
    let deadline = match l.sync_deadline {
        Some(d) => d,
        None if by_interval => service.deadline.min(spec.interval().max(MIN_SYNC_DEADLINE)),
        None => service.deadline,
    };
    SyncLimits {
        max_calls: l.sync_max_calls.unwrap_or(service.max_calls),
        max_pages_per_task: l
            .sync_max_pages_per_task
            .unwrap_or(service.max_pages_per_task),
        max_queued_tasks: l.sync_max_queued_tasks.unwrap_or(service.max_queued_tasks),
        max_queue_bytes: l
            .sync_max_queue_mb
            .map_or(service.max_queue_bytes, |mb| mb << 20),
        deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::tenants::{ComponentSource, TenantLimits};

    #[test]
    fn a_scheduled_sync_stops_at_its_interval_unless_its_tenant_says_otherwise() {
        let spec = |interval: u64, limits| TenantSpec {
            id: "t".into(),
            component: ComponentSource::Builtin {
                builtin: "pingone".into(),
            },
            config: Default::default(),
            secrets: Default::default(),
            sync_interval: Some(Duration::from_secs(interval)),
            incremental: false,
            full_sync_interval: None,
            limits,
            upload: None,
            provisioning: false,
            conductorone: None,
        };
        let service = SyncLimits::default();
        let hour = spec(3600, Default::default());
        assert_eq!(
            sync_limits_for(&service, &hour, true).deadline,
            Duration::from_secs(3600)
        );
        // ConductorOne schedules bound tenants: the service's deadline.
        assert_eq!(sync_limits_for(&service, &hour, false), service);
        // A short interval still leaves a run time to make progress.
        let often = spec(10, Default::default());
        assert_eq!(
            sync_limits_for(&service, &often, true).deadline,
            MIN_SYNC_DEADLINE
        );
        let own = spec(
            3600,
            TenantLimits {
                sync_deadline: Some(Duration::from_secs(3)),
                sync_max_queue_mb: Some(2),
                ..Default::default()
            },
        );
        let l = sync_limits_for(&service, &own, true);
        assert_eq!(l.deadline, Duration::from_secs(3));
        assert_eq!(l.max_queue_bytes, 2 << 20);
        assert_eq!(l.max_calls, service.max_calls);
    }
}
