//! [`Health`]: an endpoint's ejection and probation, in atomics.
//!
//! Two things take an endpoint out of rotation for a while:
//!
//! - a **connect failure**: skipped for a short backoff (3 s doubling to
//!   30 s by default), because nothing was sent and another endpoint takes
//!   the request at no cost;
//! - **failure accrual** (outlier detection): N responses in a row that say
//!   the instance is unhealthy eject it for `base × ejections` (capped), if
//!   the service's share of ejected endpoints allows (Envoy's
//!   consecutive-gateway-failure detection).
//!
//! When the time is up the endpoint is on **probation** (linkerd's): it is
//! routable again, but only one request at a time goes to it, a real request
//! that serves as the probe. Its success restores the endpoint; its failure
//! ejects it again, longer. A probe that is dropped without an answer frees
//! the probation slot for the next request.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// How a pick may use an endpoint at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Healthy: as many requests as load balancing gives it.
    Yes,
    /// On probation, and this request is the probe.
    Probe,
    /// Ejected, or on probation with a probe in flight.
    No,
}

/// What an ejection decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ejected {
    /// Ejected until this many ns after the balancer's epoch.
    pub(crate) until_ns: u64,
    /// Outlier ejections so far, this one included.
    pub(crate) ejections: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Health {
    /// ns since the balancer's epoch until which the endpoint is skipped;
    /// 0 = never ejected or restored. Past it, the endpoint is on probation
    /// until a probe succeeds.
    ejected_until: AtomicU64,
    /// Connect failures in a row (the connect backoff's exponent).
    connect_failures: AtomicU32,
    /// Failed responses in a row (failure accrual).
    failures: AtomicU32,
    /// Outlier ejections so far: the multiplier of the next one.
    ejections: AtomicU32,
    /// Counts toward the service's share of ejected endpoints: from an
    /// outlier ejection until a probe restores it.
    outlier_ejected: AtomicBool,
    /// A probe request is in flight.
    probing: AtomicBool,
}

impl Health {
    /// Whether a pick may consider the endpoint at `now_ns` (a probe slot
    /// free counts; [`Health::admit`] takes it).
    pub(crate) fn available(&self, now_ns: u64) -> bool {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => true,
            until if until > now_ns => false,
            _ => !self.probing.load(Ordering::Relaxed),
        }
    }

    /// Takes the endpoint for one request at `now_ns`.
    pub(crate) fn admit(&self, now_ns: u64) -> Admit {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => Admit::Yes,
            until if until > now_ns => Admit::No,
            _ => match self.probing.compare_exchange(
                false,
                true,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => Admit::Probe,
                Err(_) => Admit::No,
            },
        }
    }

    /// When the current ejection ends (ns since epoch), if ejected.
    pub(crate) fn ejected_until_ns(&self) -> Option<u64> {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => None,
            until => Some(until),
        }
    }

    /// Whether it counts toward the service's ejected share.
    pub(crate) fn is_outlier_ejected(&self) -> bool {
        self.outlier_ejected.load(Ordering::Relaxed)
    }

    /// A success: ends failure accrual and, for a probe, the ejection.
    /// Returns whether it restored the endpoint.
    pub(crate) fn succeeded(&self, probe: bool) -> bool {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if self.connect_failures.load(Ordering::Relaxed) != 0 {
            self.connect_failures.store(0, Ordering::Relaxed);
        }
        if !probe {
            return false;
        }
        self.ejected_until.store(0, Ordering::Relaxed);
        self.outlier_ejected.store(false, Ordering::Relaxed);
        self.probing.store(false, Ordering::Release);
        true
    }

    /// A probe that ended with no verdict (dropped): the next request may probe.
    pub(crate) fn probe_abandoned(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// One more failed response; returns the failures in a row.
    pub(crate) fn failed(&self) -> u32 {
        self.failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Ejects for `base × ejections`, at most `max`, from `now_ns`.
    pub(crate) fn eject_outlier(&self, now_ns: u64, base: Duration, max: Duration) -> Ejected {
        let ejections = self
            .ejections
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let length = base.saturating_mul(ejections).min(max);
        let until_ns = now_ns
            .saturating_add(length.as_nanos().min(u128::from(u64::MAX)) as u64)
            .max(1);
        self.ejected_until.store(until_ns, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.outlier_ejected.store(true, Ordering::Relaxed);
        self.probing.store(false, Ordering::Release);
        Ejected {
            until_ns,
            ejections,
        }
    }

    /// Ejects after a connect failure for `base × 2^(failures − 1)`, at most
    /// `max`. Does not shorten a longer ejection already running.
    pub(crate) fn eject_connect(&self, now_ns: u64, base: Duration, max: Duration) -> u64 {
        let failures = self.connect_failures.fetch_add(1, Ordering::Relaxed);
        let backoff = base.saturating_mul(1u32 << failures.min(16)).min(max);
        let until_ns = now_ns
            .saturating_add(backoff.as_nanos().min(u128::from(u64::MAX)) as u64)
            .max(1);
        let until_ns = self
            .ejected_until
            .fetch_max(until_ns, Ordering::Relaxed)
            .max(until_ns);
        self.probing.store(false, Ordering::Release);
        until_ns
    }
}
