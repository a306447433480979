//! The sync slots every tenant shares.
//!
//! Decision: at most `max_concurrent_syncs` syncs run at once, and a slot
//! goes to whoever asked first (tokio's semaphore is FIFO), so a tenant
//! that syncs often cannot starve the others. A tenant holds at most one
//! slot (its sync lock comes first) and never for longer than its sync
//! deadline. A drain closes the slots, so no queued sync starts, and waits
//! for the running ones to stop.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, Semaphore, SemaphorePermit};

pub(super) struct SyncSlots {
    permits: Semaphore,
    running: AtomicU64,
    idle: Notify,
}

/// A running sync, counted until it is dropped.
pub(super) struct Counted<'a>(&'a SyncSlots);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl SyncSlots {
    pub(super) fn new(slots: usize) -> Self {
        Self {
            permits: Semaphore::new(slots.max(1)),
            running: AtomicU64::new(0),
            idle: Notify::new(),
        }
    }

    /// Waits for a slot, in order of asking; `None` once the slots closed.
    pub(super) async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    /// Counts a sync as running until the guard drops.
    pub(super) fn count_running(&self) -> Counted<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        Counted(self)
    }

    pub(super) fn running(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
    }

    /// No sync gets a slot from now on.
    pub(super) fn close(&self) {
        self.permits.close();
    }

    /// Waits until no sync runs or `deadline` passes; whether none runs.
    pub(super) async fn wait_idle(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.running() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn slots_go_in_order_and_a_drain_waits_for_running_syncs() {
        let slots = std::sync::Arc::new(SyncSlots::new(1));
        let first = slots.acquire().await.expect("a free slot");
        let counted = slots.count_running();
        // A second sync waits for the slot.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slots.acquire())
                .await
                .is_err()
        );
        let soon = tokio::time::Instant::now() + Duration::from_millis(20);
        assert!(!slots.wait_idle(soon).await, "a sync still runs");
        drop(counted);
        drop(first);
        let later = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(slots.wait_idle(later).await);
        slots.close();
        assert!(
            slots.acquire().await.is_none(),
            "closed slots start nothing"
        );
    }
}
