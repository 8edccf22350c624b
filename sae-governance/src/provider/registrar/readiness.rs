//! [`ReadinessCheck`]: the user's "am I ready to take traffic?" probe.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use sae_core::BoxFuture;

/// An async readiness probe, called repeatedly until it answers `true`.
/// Cloning is cheap (an `Arc`); built by
/// [`ProviderBuilder::readiness`](crate::provider::ProviderBuilder::readiness).
#[derive(Clone)]
pub(crate) struct ReadinessCheck {
    probe: Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>,
}

impl ReadinessCheck {
    /// Wraps a probe. It may wait (for a warm cache, a database pool) before
    /// answering; answering `false` means "ask again later".
    pub(crate) fn new<F, Fut>(probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        ReadinessCheck {
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    /// Runs the probe once.
    pub(crate) async fn check(&self) -> bool {
        (self.probe)().await
    }
}

impl fmt::Debug for ReadinessCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadinessCheck").finish_non_exhaustive()
    }
}
