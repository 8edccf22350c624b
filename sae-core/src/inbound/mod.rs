//! What the request a task is serving said about itself at arrival: its
//! lane, its deadline, and whether it is itself a retry.
//!
//! The server side decides it once per request and runs the handler inside
//! [`scope`] (a `tokio::task_local!`, entered on every poll, so it holds
//! across `.await`); every client reads it for each outbound call: the lane
//! routes the call and travels on, the deadline bounds the call and travels
//! on as the remaining budget, and a retried request is not retried again
//! downstream (a retry storm multiplies at every hop otherwise).
//!
//! A task spawned from a handler starts with nothing: carry it over with
//! [`carry`] (or [`crate::lane::carry`], the same).

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;

use crate::Lane;

tokio::task_local! {
    static INBOUND: Inbound;
}

/// What the request being served said about itself; see the [module docs](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbound {
    /// The lane; `None` is the base lane.
    pub lane: Option<Lane>,
    /// When the caller stops waiting, if it said.
    pub deadline: Option<Instant>,
    /// Whether the request is a retry of one that failed elsewhere.
    pub retried: bool,
}

impl Inbound {
    /// The time left until the deadline, at `now`: `None` without a
    /// deadline, zero once it has passed.
    pub fn remaining(&self, now: Instant) -> Option<std::time::Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }
}

/// The inbound context of the request this task is serving, if any.
///
/// ```
/// use sae_core::inbound::{self, Inbound};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(inbound::current(), None);
/// let retried = Inbound { retried: true, ..Inbound::default() };
/// let seen = inbound::scope(retried.clone(), async { inbound::current() }).await;
/// assert_eq!(seen, Some(retried));
/// # }
/// ```
pub fn current() -> Option<Inbound> {
    INBOUND.try_with(Clone::clone).ok()
}

/// Reads the inbound context without cloning it; `None` outside a scope.
pub fn with<R>(f: impl FnOnce(&Inbound) -> R) -> Option<R> {
    INBOUND.try_with(f).ok()
}

/// Runs `future` with `inbound` as the task's inbound context (every poll
/// enters the scope). The server layer does this for you.
pub fn scope<F: Future>(inbound: Inbound, future: F) -> TaskLocalFuture<Inbound, F> {
    INBOUND.scope(inbound, future)
}

/// Runs `f` synchronously with `inbound` as the task's inbound context (for a
/// service's `call`, which may start outbound calls before returning its
/// future).
pub fn sync_scope<R>(inbound: Inbound, f: impl FnOnce() -> R) -> R {
    INBOUND.sync_scope(inbound, f)
}

/// Carries the current inbound context into `future`, for
/// [`tokio::spawn`]: a spawned task starts with none.
///
/// ```
/// # use sae_core::inbound;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tokio::spawn(inbound::carry(async move { /* outbound calls keep lane and deadline */ }));
/// # }
/// ```
pub fn carry<F: Future>(future: F) -> TaskLocalFuture<Inbound, F> {
    scope(current().unwrap_or_default(), future)
}
