//! How long a request being served waits on its own outbound calls, so the
//! adaptive limit judges a service by its own latency.
//!
//! Every tier of a call chain sees the latency of the tier below it. If
//! each tier's limit followed its whole latency, an overloaded leaf would
//! make every tier above it shed at once, each against the same queue, and
//! the top tier (with the most in flight) would throttle the chain below
//! what the leaf can serve; one slow instance would make its callers shed
//! traffic their retries would have saved. So a timed request runs in a
//! [`scope`] that the clients it calls report to ([`Waiting::begin`]), and
//! its latency sample leaves out the time at least one call was pending.
//! The leaf, whose latency is its own, is the one that sheds; its
//! rejections are cheap and travel up as rejections.
//!
//! Only the requests the adaptive limit times carry a scope: the others,
//! and every client call outside a server, pay one failed task-local read.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static WAITING: Arc<Downstream>;
}

std::thread_local! {
    /// Timed requests being polled on this thread: a client call first
    /// reads this plain cell, so the task-local is looked up only while a
    /// timed request is polled (a failed task-local lookup costs a
    /// `RefCell` borrow; this costs a load).
    static POLLING: Cell<u32> = const { Cell::new(0) };
}

/// The outbound calls of one timed request: how many are pending, since
/// when, and how long some call was pending in all. Atomics, because an
/// `Arc` must be `Sync`; only the request's own task touches them.
#[derive(Debug)]
pub(crate) struct Downstream {
    started: Instant,
    pending: AtomicU32,
    /// Nanoseconds after `started` when the pending calls went from 0 to 1.
    since: AtomicU64,
    waited: AtomicU64,
}

impl Downstream {
    /// A request admitted at `started`.
    pub(crate) fn new(started: Instant) -> Arc<Self> {
        Arc::new(Downstream {
            started,
            pending: AtomicU32::new(0),
            since: AtomicU64::new(0),
            waited: AtomicU64::new(0),
        })
    }

    /// When the request was admitted.
    pub(crate) fn started(&self) -> Instant {
        self.started
    }

    /// How long at least one outbound call was pending, up to now.
    pub(crate) fn waited(&self) -> Duration {
        Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }

    fn offset(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn enter(&self) {
        if self.pending.fetch_add(1, Ordering::Relaxed) == 0 {
            self.since.store(self.offset(), Ordering::Relaxed);
        }
    }

    fn leave(&self) {
        if self.pending.fetch_sub(1, Ordering::Relaxed) == 1 {
            let since = self.since.load(Ordering::Relaxed);
            self.waited
                .fetch_add(self.offset().saturating_sub(since), Ordering::Relaxed);
        }
    }
}

/// Polls `poll` with `downstream` as the scope the clients report to.
pub(crate) fn scope<R>(downstream: &Arc<Downstream>, poll: impl FnOnce() -> R) -> R {
    struct Polling;
    impl Drop for Polling {
        fn drop(&mut self) {
            POLLING.with(|polling| polling.set(polling.get() - 1));
        }
    }
    POLLING.with(|polling| polling.set(polling.get() + 1));
    let _polling = Polling;
    WAITING.sync_scope(Arc::clone(downstream), poll)
}

/// One outbound call, pending from [`Waiting::begin`] until dropped.
#[derive(Debug)]
pub struct Waiting(Option<Arc<Downstream>>);

impl Waiting {
    /// An outbound call starts in the caller's task; counted when that task
    /// serves a timed request.
    pub fn begin() -> Self {
        if POLLING.with(Cell::get) == 0 {
            return Waiting(None);
        }
        Waiting(
            WAITING
                .try_with(|downstream| {
                    downstream.enter();
                    Arc::clone(downstream)
                })
                .ok(),
        )
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(downstream) = &self.0 {
            downstream.leave();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn overlapping_calls_count_once_and_calls_outside_a_scope_not_at_all() {
        let ms = Duration::from_millis;
        drop(Waiting::begin()); // no scope: nothing to report to
        let downstream = Downstream::new(Instant::now());
        let (first, second) = scope(&downstream, || (Waiting::begin(), Waiting::begin()));
        tokio::time::advance(ms(30)).await;
        drop(first);
        tokio::time::advance(ms(20)).await;
        drop(second); // pending 0..50 ms: 50 ms, not 80
        tokio::time::advance(ms(10)).await;
        let third = scope(&downstream, Waiting::begin);
        tokio::time::advance(ms(5)).await;
        drop(third);
        assert_eq!(downstream.waited(), ms(55));
        assert_eq!(downstream.started().elapsed(), ms(65));
    }
}
