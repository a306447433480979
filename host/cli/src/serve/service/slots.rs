//! The sync slots every tenant shares.
//!
//! Decision: at most `max_concurrent_syncs` syncs run at once, and a slot
//! goes to whoever asked first (tokio's semaphore is FIFO), so a tenant
//! that syncs often cannot starve the others. A tenant holds at most one
//! slot (its sync lock comes first) and never for longer than its sync
//! deadline. A drain closes the slots, so no queued sync starts, and waits
//! for the running ones to stop.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The slots; a sync runs while it holds one.
pub(super) struct SyncSlots {
    permits: Semaphore,
    size: usize,
}

impl SyncSlots {
    pub(super) fn new(slots: usize) -> Self {
        let size = slots.max(1);
        Self {
            permits: Semaphore::new(size),
            size,
        }
    }

    /// Waits for a slot, in order of asking; `None` once the slots closed.
    pub(super) async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    pub(super) fn running(&self) -> u64 {
        (self.size - self.permits.available_permits()) as u64
    }

    /// No sync gets a slot from now on.
    pub(super) fn close(&self) {
        self.permits.close();
    }

    /// Waits until no sync runs or `deadline` passes; whether none runs.
    pub(super) async fn wait_idle(&self, deadline: Instant) -> bool {
        while self.running() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_go_in_order_and_a_drain_waits_for_running_syncs() {
        let slots = std::sync::Arc::new(SyncSlots::new(1));
        let first = slots.acquire().await.expect("a free slot");
        assert_eq!(slots.running(), 1);
        // A second sync waits for the slot.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slots.acquire())
                .await
                .is_err()
        );
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!slots.wait_idle(soon).await, "a sync still runs");
        drop(first);
        let later = Instant::now() + Duration::from_secs(5);
        assert!(slots.wait_idle(later).await);
        // A drain closes the slots first, then waits for the running sync.
        let running = slots.acquire().await.expect("a free slot");
        slots.close();
        assert!(
            slots.acquire().await.is_none(),
            "closed slots start nothing"
        );
        assert_eq!(slots.running(), 1);
        drop(running);
        assert_eq!(slots.running(), 0);
        assert!(slots.wait_idle(later).await);
    }
}
