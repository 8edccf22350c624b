//! Isolation: a fixed concurrency limit per rule, with a bounded queue.
//!
//! Written here rather than taken from tower: tower's `ConcurrencyLimit`
//! makes a request wait for a slot without bound (in `poll_ready`, so the
//! connection stops reading too), and `LoadShed` rejects at once with no
//! queue at all. A rule here admits `max_concurrency` requests, lets
//! `queue` more wait up to `queue_timeout`, and rejects the rest at once.
//!
//! The slots are a tokio [`Semaphore`]: a free slot is taken with one
//! compare-and-swap, and the semaphore hands a returned slot to the
//! request that has waited longest (FIFO). The rejection path only reads
//! two atomics (the free slots, the queue length): no lock, no allocation,
//! no wait, so a flood is turned away at the cost of its responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::Semaphore;

use crate::protection::ConcurrencyRule;

/// One concurrency rule: its slots and its queue.
#[derive(Debug)]
pub(super) struct Isolation {
    pub(super) rule: ConcurrencyRule,
    slots: Semaphore,
    queued: AtomicU32,
}

/// A slot of an [`Isolation`], returned when dropped.
#[derive(Debug)]
pub(super) struct Slot(Arc<Isolation>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.add_permits(1);
    }
}

/// A place in an [`Isolation`]'s queue, given up when dropped.
#[derive(Debug)]
pub(super) struct Ticket(Arc<Isolation>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Isolation {
    pub(super) fn new(rule: ConcurrencyRule) -> Self {
        Isolation {
            slots: Semaphore::new(rule.max_concurrency as usize),
            queued: AtomicU32::new(0),
            rule,
        }
    }

    /// A free slot, if there is one; never waits.
    pub(super) fn try_enter(self: &Arc<Self>) -> Option<Slot> {
        let permit = self.slots.try_acquire().ok()?;
        // The slot's own guard returns it, so it can live in an `Arc`.
        permit.forget();
        Some(Slot(self.clone()))
    }

    /// A place in the queue, if it has room; never waits.
    pub(super) fn join_queue(self: &Arc<Self>) -> Option<Ticket> {
        let mut queued = self.queued.load(Ordering::Acquire);
        loop {
            // A full queue costs a read, not a write.
            if queued >= self.rule.queue {
                return None;
            }
            match self.queued.compare_exchange_weak(
                queued,
                queued + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Ticket(self.clone())),
                Err(now) => queued = now,
            }
        }
    }

    /// Waits in the queue for a slot, up to the rule's queue timeout;
    /// `None` when the time ran out.
    pub(super) async fn wait(self: Arc<Self>, ticket: Ticket) -> Option<Slot> {
        let acquired =
            match tokio::time::timeout(self.rule.queue_timeout, self.slots.acquire()).await {
                Ok(Ok(permit)) => {
                    permit.forget();
                    true
                }
                // Timed out (the semaphore is never closed).
                _ => false,
            };
        drop(ticket);
        acquired.then(|| Slot(self))
    }
}
