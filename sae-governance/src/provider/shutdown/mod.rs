//! Shutdown triggers: SIGTERM, SIGINT, a programmatic [`ShutdownHandle`],
//! and the admin preStop endpoint.
//!
//! Every trigger ends in the same place, [`ShutdownHandle::trigger`]; the
//! first one wins and later ones are ignored, so a Kubernetes preStop call
//! followed by SIGTERM runs the sequence once. The handle also reports when
//! the notice window is over ([`ShutdownHandle::notice_window_closed`]):
//! the preStop endpoint answers only then, so Kubernetes sends SIGTERM only
//! after consumers have had their chance to see the offline notice.

mod signals;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

pub(crate) use signals::listen_for_signals;

/// What started the shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Trigger {
    /// SIGTERM (what Kubernetes and systemd send).
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// The admin preStop endpoint.
    PreStop,
    /// [`ShutdownHandle::shutdown`].
    Handle,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Terminate => "SIGTERM",
            Trigger::Interrupt => "SIGINT",
            Trigger::PreStop => "preStop",
            Trigger::Handle => "shutdown handle",
        })
    }
}

/// Starts the shutdown of a provider from anywhere. Cloning is cheap; every
/// clone controls the same provider.
///
/// ```
/// use sae_governance::provider::{ShutdownHandle, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = ShutdownHandle::new();
/// let waiter = handle.clone();
/// handle.shutdown();
/// assert_eq!(waiter.triggered().await, Trigger::Handle);
/// # }
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

struct Inner {
    trigger: watch::Sender<Option<Trigger>>,
    notice_over: watch::Sender<bool>,
}

impl ShutdownHandle {
    /// A handle nobody has triggered yet.
    pub fn new() -> Self {
        ShutdownHandle {
            inner: Arc::new(Inner {
                trigger: watch::Sender::new(None),
                notice_over: watch::Sender::new(false),
            }),
        }
    }

    /// Starts the shutdown sequence (as [`Trigger::Handle`]).
    pub fn shutdown(&self) {
        self.trigger(Trigger::Handle);
    }

    /// Starts the shutdown sequence, naming its cause. Returns `false` when it
    /// was already started (by this or another trigger).
    pub fn trigger(&self, trigger: Trigger) -> bool {
        self.inner.trigger.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(trigger);
            true
        })
    }

    /// The trigger that started the shutdown, if any has.
    pub fn triggered_by(&self) -> Option<Trigger> {
        *self.inner.trigger.borrow()
    }

    /// Resolves with the first trigger, at once if one already fired.
    pub async fn triggered(&self) -> Trigger {
        let mut rx = self.inner.trigger.subscribe();
        // The sender lives in `self`, so the channel cannot close.
        match rx.wait_for(Option::is_some).await {
            Ok(trigger) => trigger.unwrap_or(Trigger::Handle),
            Err(_) => Trigger::Handle,
        }
    }

    /// Marks the notice window over: the server stops accepting next.
    /// Called by the shutdown sequence.
    pub(crate) fn close_notice_window(&self) {
        self.inner.notice_over.send_replace(true);
    }

    /// Resolves once the notice window is over.
    pub async fn notice_window_closed(&self) {
        let mut rx = self.inner.notice_over.subscribe();
        let _ = rx.wait_for(|over| *over).await;
    }
}

impl Default for ShutdownHandle {
    fn default() -> Self {
        ShutdownHandle::new()
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("triggered_by", &self.triggered_by())
            .field("notice_window_closed", &*self.inner.notice_over.borrow())
            .finish()
    }
}
