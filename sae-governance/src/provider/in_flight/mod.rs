//! In-flight tracking: how many requests are being answered, and when the
//! last one arrived.
//!
//! # Why
//!
//! The shutdown sequence needs two facts about traffic:
//!
//! - **when the last request arrived**, for the notice window: after
//!   deregistering, the provider keeps accepting (and stamping the offline
//!   notice) until no request has arrived for a quiet period, bounded by a
//!   maximum ([`InFlight::wait_quiet`]). Consumers that still route here get
//!   one noticed response each and go away; once arrivals stop, nobody needs
//!   the notice any more and the server can close.
//! - **how many requests are still running**, for the drain wait and the
//!   report ([`InFlight::count`], [`InFlight::idle`]).
//!
//! # What "in flight" means here
//!
//! A request counts from the call of the service until its response future
//! completes (the response head is ready) or is dropped. It does not wait for
//! the response body to end. That is deliberate: the drain already waits for
//! bodies, because hyper's graceful shutdown waits for every connection to
//! finish, and a connection finishes only after its last body is written. A
//! long gRPC stream or a download would otherwise hold the count up for
//! minutes and make "requests in flight" mean "connections open". Counting
//! the head also keeps the response body type unchanged, so the layer fits
//! any axum or tonic stack.
//!
//! # Cost
//!
//! Per request: one `Arc` clone, one atomic add and one atomic subtract, one
//! atomic store of the arrival time (one clock read). No lock, no allocation.

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

pub use future::ResponseFuture;
pub use layer::InFlightLayer;
pub use service::TrackInFlight;

/// A shared tracker of requests in flight and of the last arrival. Cloning is
/// cheap; every clone (and every [`InFlightLayer`] made from it) counts into
/// the same numbers.
#[derive(Clone, Debug)]
pub struct InFlight {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    count: AtomicUsize,
    // Nanoseconds after `epoch` of the last arrival, plus one; 0 = never.
    last_arrival: AtomicU64,
    epoch: Instant,
    idle: Notify,
}

impl Shared {
    fn arrive(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        let since = self.epoch.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        self.last_arrival.store(since + 1, Ordering::Release);
    }

    fn depart(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl InFlight {
    /// A tracker with nothing in flight.
    pub fn new() -> Self {
        InFlight {
            shared: Arc::new(Shared {
                count: AtomicUsize::new(0),
                last_arrival: AtomicU64::new(0),
                epoch: Instant::now(),
                idle: Notify::new(),
            }),
        }
    }

    /// The layer that counts into this tracker.
    pub fn layer(&self) -> InFlightLayer {
        InFlightLayer::new(self.clone())
    }

    /// Requests whose response is not ready yet.
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::Acquire)
    }

    /// When the last request arrived, if any did.
    pub fn last_arrival(&self) -> Option<Instant> {
        match self.shared.last_arrival.load(Ordering::Acquire) {
            0 => None,
            since => Some(self.shared.epoch + Duration::from_nanos(since - 1)),
        }
    }

    /// Resolves when no request is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a departure in between is not missed.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The notice window: resolves once no request has arrived for `quiet`,
    /// counted from the later of the call and the last arrival, or after
    /// `max` at the latest. Returns how long it waited.
    ///
    /// Counting from the call as well means the window lasts at least `quiet`
    /// (when `max` allows): consumers that have not yet seen the registry
    /// change get that long to send a request and receive the notice.
    pub async fn wait_quiet(&self, quiet: Duration, max: Duration) -> Duration {
        let started = Instant::now();
        let bound = started + max;
        loop {
            let last = self
                .last_arrival()
                .map_or(started, |last| last.max(started));
            let until = (last + quiet).min(bound);
            if Instant::now() >= until {
                return started.elapsed();
            }
            sleep_until(until).await;
        }
    }
}

impl Default for InFlight {
    fn default() -> Self {
        InFlight::new()
    }
}
