//! The provider lifecycle: Starting → Serving → Draining → Stopped.
//!
//! The registrar moves the phase forward; the server layers read it (the
//! offline-notice layer stamps responses once it is [`Phase::Draining`]);
//! readiness probes report it. It is the one place where the provider side's
//! pieces meet, so it lives in `sae-core`.

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

use crate::Error;

/// A phase of a provider's life. Phases are ordered; a lifecycle only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Starting: not yet registered, not ready.
    Starting,
    /// Registered and serving.
    Serving,
    /// Deregistered (or deregistering); still serving, stamping the offline notice.
    Draining,
    /// Finished: the server has shut down.
    Stopped,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Starting,
            1 => Phase::Serving,
            2 => Phase::Draining,
            _ => Phase::Stopped,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Starting => "Starting",
            Phase::Serving => "Serving",
            Phase::Draining => "Draining",
            Phase::Stopped => "Stopped",
        })
    }
}

/// A shared, observable lifecycle. Cloning is cheap; every clone sees the
/// same phase.
///
/// ```
/// use sae_core::{Lifecycle, Phase};
///
/// let lifecycle = Lifecycle::new();
/// assert_eq!(lifecycle.phase(), Phase::Starting);
/// lifecycle.advance(Phase::Serving)?;
/// lifecycle.advance(Phase::Draining)?;
/// assert!(lifecycle.is_draining());
/// assert!(lifecycle.advance(Phase::Serving).is_err()); // never backwards
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    tx: watch::Sender<Phase>,
    // Mirror of the watch value for the request path: one relaxed atomic load
    // instead of the watch channel's read lock.
    fast: AtomicU8,
}

impl Lifecycle {
    /// A lifecycle in [`Phase::Starting`].
    pub fn new() -> Self {
        let (tx, _) = watch::channel(Phase::Starting);
        Lifecycle {
            inner: Arc::new(Inner {
                tx,
                fast: AtomicU8::new(Phase::Starting as u8),
            }),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.fast.load(Ordering::Acquire))
    }

    /// True once the phase is [`Phase::Draining`] or later. Cheap enough for every request.
    pub fn is_draining(&self) -> bool {
        self.inner.fast.load(Ordering::Acquire) >= Phase::Draining as u8
    }

    /// Moves to `to`. Moving to the current phase is a no-op that returns
    /// `Ok(false)`; skipping phases forward is allowed (a provider told to stop
    /// while starting goes straight to Draining).
    ///
    /// # Errors
    ///
    /// [`Error::BackwardTransition`] when `to` is before the current phase;
    /// the phase is unchanged.
    pub fn advance(&self, to: Phase) -> Result<bool, Error> {
        let mut outcome = Ok(false);
        self.inner.tx.send_if_modified(|current| {
            if to < *current {
                outcome = Err(Error::BackwardTransition { from: *current, to });
                false
            } else if to == *current {
                false
            } else {
                *current = to;
                self.inner.fast.store(to as u8, Ordering::Release);
                outcome = Ok(true);
                true
            }
        });
        outcome
    }

    /// A receiver that observes every phase change.
    pub fn subscribe(&self) -> watch::Receiver<Phase> {
        self.inner.tx.subscribe()
    }

    /// Resolves once the phase is `phase` or later.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|current| *current >= phase).await;
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Lifecycle").field(&self.phase()).finish()
    }
}
