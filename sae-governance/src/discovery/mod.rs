//! Discovery: feeds a [`Balancer`] from a [`Registry`] in a background task,
//! so changes are applied even when no request is in flight (linkerd runs its
//! balancer pool the same way; a balancer updated only on `poll_ready` would
//! route the first request after a quiet period to a long-gone instance).
//!
//! Two modes:
//! - [`DiscoveryMode::Watch`] (default): [`Registry::watch`] events applied as
//!   they come. When the stream ends or fails, it is re-opened with backoff
//!   (100 ms doubling to 5 s); the last-known set keeps routing meanwhile,
//!   and the fresh stream's first snapshot reconciles whatever was missed.
//! - [`DiscoveryMode::Poll`]: [`Registry::list`] every period, applied as a
//!   snapshot: a client with a cached instance list, as Spring Cloud
//!   LoadBalancer has (the `rolling_deploy` demo's `--refresh`).
//!
//! Push-empty protection and eviction tombstones live in the balancer, so
//! both modes get them.

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sae_core::{Registry, ServiceName, WatchEvent};
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use crate::balance::Balancer;

/// How a client learns about instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// Follow [`Registry::watch`] (push).
    #[default]
    Watch,
    /// [`Registry::list`] at this period (a cached client).
    Poll(Duration),
}

const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The running discovery task; dropping the handle stops it.
#[derive(Debug)]
pub(crate) struct DiscoveryHandle {
    task: AbortHandle,
}

impl Drop for DiscoveryHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns the task that feeds `balancer` from `registry`.
///
/// # Panics
///
/// Outside a Tokio runtime (like [`tokio::spawn`]).
pub(crate) fn spawn<T: Send + Sync + 'static>(
    registry: Arc<dyn Registry>,
    balancer: Balancer<T>,
    mode: DiscoveryMode,
) -> DiscoveryHandle {
    let task = match mode {
        DiscoveryMode::Watch => tokio::spawn(watch_loop(registry, balancer)),
        DiscoveryMode::Poll(period) => tokio::spawn(poll_loop(registry, balancer, period)),
    };
    DiscoveryHandle {
        task: task.abort_handle(),
    }
}

async fn watch_loop<T: Send + Sync + 'static>(registry: Arc<dyn Registry>, balancer: Balancer<T>) {
    let service: ServiceName = balancer.service().clone();
    let mut retry = RETRY_FIRST;
    loop {
        match registry.watch(&service).await {
            Ok(mut events) => {
                while let Some(event) = events.next().await {
                    retry = RETRY_FIRST;
                    balancer.apply(event);
                }
                tracing::warn!(%service, backend = registry.backend(), retry_in = ?retry, "registry watch ended; keeping the last-known instances");
            }
            Err(error) => {
                tracing::warn!(%service, backend = registry.backend(), %error, retry_in = ?retry, "registry watch failed; keeping the last-known instances");
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

async fn poll_loop<T: Send + Sync + 'static>(
    registry: Arc<dyn Registry>,
    balancer: Balancer<T>,
    period: Duration,
) {
    let service: ServiceName = balancer.service().clone();
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match registry.list(&service).await {
            Ok(snapshot) => balancer.apply(WatchEvent::Snapshot(snapshot)),
            Err(error) => {
                tracing::warn!(%service, backend = registry.backend(), %error, "registry list failed; keeping the last-known instances");
            }
        }
    }
}
