//! The lane of the task: a `tokio::task_local!` entered by the server side
//! (sae-governance's lane layer) around each request and read by every
//! client (sae-governance's `Client`, sae-trace's client layer) for each
//! outbound call.

use std::future::Future;

use super::Lane;
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    /// The lane of the request the current task is serving; `None` = base.
    static CURRENT_LANE: Option<Lane>;
}

/// The lane of the request this task is serving, if any: set by the lane
/// layer (or [`scope`]) for the whole request,
/// across every `.await`. `None` outside a scope and for base requests.
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
    CURRENT_LANE.try_with(Clone::clone).ok().flatten()
}

/// Runs `future` with `lane` as the current lane (every poll enters the
/// scope, so it holds across `.await`). The server layer does this for you;
/// call it yourself for work that does not start in a request.
pub fn scope<F: Future>(lane: Option<Lane>, future: F) -> TaskLocalFuture<Option<Lane>, F> {
    CURRENT_LANE.scope(lane, future)
}

/// Carries the current lane into `future`, for [`tokio::spawn`]: a spawned
/// task starts with no lane (task-locals belong to a task), so
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
pub fn carry<F: Future>(future: F) -> TaskLocalFuture<Option<Lane>, F> {
    scope(current(), future)
}

/// Runs `f` synchronously with `lane` as the current lane (for a
/// service's `call`, which may start outbound calls before returning its
/// future).
pub fn sync_scope<R>(lane: Option<Lane>, f: impl FnOnce() -> R) -> R {
    CURRENT_LANE.sync_scope(lane, f)
}
