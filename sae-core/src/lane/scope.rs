//! The lane of the task: the lane of its [inbound context](crate::inbound),
//! entered by the server side (sae-governance's lane layer) around each
//! request and read by every client (sae-governance's `Client`, sae-trace's
//! client layer) for each outbound call.

use std::future::Future;

use tokio::task::futures::TaskLocalFuture;

use super::Lane;
use crate::inbound::{self, Inbound};

/// The lane of the request this task is serving, if any: set by the lane
/// layer (or [`scope`]) for the whole request, across every `.await`.
/// `None` outside a scope and for base requests.
///
/// ```
/// use sae_core::Lane;
/// use sae_core::lane;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sae_core::Error> {
/// assert_eq!(lane::current(), None);
/// let gray = Lane::new("gray")?;
/// let seen = lane::scope(Some(gray.clone()), async {
///     tokio::task::yield_now().await; // survives .await
///     lane::current()
/// })
/// .await;
/// assert_eq!(seen, Some(gray));
/// # Ok(())
/// # }
/// ```
pub fn current() -> Option<Lane> {
    inbound::with(|inbound| inbound.lane.clone()).flatten()
}

/// Runs `future` with `lane` as the current lane (every poll enters the
/// scope, so it holds across `.await`); the rest of the inbound context is
/// the current one's. The server layer does this for you; call it yourself
/// for work that does not start in a request.
pub fn scope<F: Future>(lane: Option<Lane>, future: F) -> TaskLocalFuture<Inbound, F> {
    let inbound = Inbound {
        lane,
        ..inbound::current().unwrap_or_default()
    };
    inbound::scope(inbound, future)
}

/// Carries the current lane (and the rest of the inbound context) into
/// `future`, for [`tokio::spawn`]: a spawned task starts with no lane
/// (task-locals belong to a task), so
///
/// ```
/// # use sae_core::lane;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// tokio::spawn(lane::carry(async move { /* outbound calls keep the lane */ }));
/// # }
/// ```
///
/// is the one-liner that keeps the request's lane in background work.
pub fn carry<F: Future>(future: F) -> TaskLocalFuture<Inbound, F> {
    inbound::carry(future)
}
