//! [`EtcdOptions`]: lease TTL and time bounds of an [`EtcdRegistry`](super::EtcdRegistry).

use std::time::Duration;

/// Settings of an [`EtcdRegistry`](super::EtcdRegistry).
///
/// ```
/// use std::time::Duration;
/// use sae_registry::etcd::EtcdOptions;
///
/// let options = EtcdOptions::default().ttl(Duration::from_secs(5));
/// assert_eq!(options.ttl, Duration::from_secs(5));
/// assert_eq!(options.request_timeout, EtcdOptions::DEFAULT_REQUEST_TIMEOUT);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Lease TTL: a provider that stops renewing disappears this long after
    /// its last renewal. etcd counts whole seconds, so it is rounded up.
    pub ttl: Duration,
    /// How long the first call waits for some endpoint to answer.
    pub connect_timeout: Duration,
    /// How long one operation (register, deregister, list) keeps retrying
    /// through leader elections and dead members before it fails.
    pub request_timeout: Duration,
}

impl EtcdOptions {
    /// The default lease TTL: the same as the memory registry's, and well
    /// above etcd's minimum (1.5 election timeouts).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
    /// The default connect bound.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default per-operation bound: longer than an etcd leader election
    /// (about 1 s by default), short enough to fit a deploy's grace period.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

    /// These options with lease TTL `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// These options with connect bound `bound`.
    pub fn connect_timeout(mut self, bound: Duration) -> Self {
        self.connect_timeout = bound;
        self
    }

    /// These options with per-operation bound `bound`.
    pub fn request_timeout(mut self, bound: Duration) -> Self {
        self.request_timeout = bound;
        self
    }

    /// The TTL in whole seconds, rounded up, at least 1.
    pub(super) fn ttl_secs(&self) -> i64 {
        let whole = self.ttl.as_secs() + u64::from(self.ttl.subsec_nanos() > 0);
        i64::try_from(whole.max(1)).unwrap_or(i64::MAX)
    }
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            ttl: Self::DEFAULT_TTL,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}
