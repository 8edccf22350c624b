//! [`Protection`]: a client's view of the protection rules: the resolved
//! policy of its service per lane, the retry budget, the breakers.
//!
//! Resolved once per rule generation, not per call: a call loads one
//! snapshot (an `ArcSwap` load), compares its generation with the rules'
//! (an atomic load), and for a lane looks its policy up under a read lock;
//! the policy it takes holds the breaker and the retry budget, so nothing
//! is looked up again during the call. A swap of the rules builds new
//! breakers and a new budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::RwLock;
use sae_core::{Lane, ServiceName};
use tokio::time::Instant;

use super::breaker::Breaker;
use super::budget::RetryBudget;
use crate::protection::{CallPolicy, ProtectionRules};

/// The policy of calls in one lane, with its breaker and the client's
/// retry budget.
#[derive(Debug)]
pub struct LanePolicy {
    pub(crate) policy: CallPolicy,
    pub(crate) breaker: Option<Breaker>,
    budget: Option<Arc<RetryBudget>>,
}

impl LanePolicy {
    /// Counts a call toward the retry budget, at `now_ns`.
    pub(crate) fn deposit(&self, now_ns: u64) {
        if let Some(budget) = &self.budget {
            budget.deposit(now_ns);
        }
    }

    /// Takes one retry from the budget at `now_ns`; `false` when it is spent.
    pub(crate) fn withdraw(&self, now_ns: u64) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|budget| budget.withdraw(now_ns))
    }
}

/// A client's view of the protection rules: the policy per lane, swapped when the rules change.
pub struct Protection {
    rules: ProtectionRules,
    service: ServiceName,
    /// Used when the rules set no timeout for the service.
    default_timeout: Option<Duration>,
    current: ArcSwap<Resolved>,
    /// The zero of the breakers' clocks.
    epoch: Instant,
}

struct Resolved {
    generation: u64,
    base: Arc<LanePolicy>,
    lanes: RwLock<HashMap<Lane, Arc<LanePolicy>>>,
    /// One budget per client, from the base policy, shared by the
    /// policies of every lane.
    budget: Option<Arc<RetryBudget>>,
}

impl Protection {
    /// The protection of calls to `service` under `rules`, with
    /// `default_timeout` where the rules give none.
    pub fn new(
        rules: ProtectionRules,
        service: ServiceName,
        default_timeout: Option<Duration>,
    ) -> Self {
        let resolved = Resolved::new(&rules, &service, default_timeout);
        Protection {
            rules,
            service,
            default_timeout,
            current: ArcSwap::from_pointee(resolved),
            epoch: Instant::now(),
        }
    }

    /// The called service.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }

    /// `at` as nanoseconds after the epoch of the breakers' and the retry
    /// budget's clocks.
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The current resolution, rebuilt first when the rules changed.
    fn resolved(&self) -> arc_swap::Guard<Arc<Resolved>> {
        let current = self.current.load();
        if current.generation == self.rules.generation() {
            return current;
        }
        drop(current);
        self.current.store(Arc::new(Resolved::new(
            &self.rules,
            &self.service,
            self.default_timeout,
        )));
        self.current.load()
    }

    /// The policy (and breaker) of a call in `lane`.
    pub(crate) fn lane(&self, lane: Option<&Lane>) -> Arc<LanePolicy> {
        let resolved = self.resolved();
        let Some(lane) = lane else {
            return Arc::clone(&resolved.base);
        };
        if let Some(policy) = resolved.lanes.read().get(lane) {
            return Arc::clone(policy);
        }
        let policy = Arc::new(lane_policy(
            &self.rules,
            &self.service,
            Some(lane),
            self.default_timeout,
            resolved.budget.clone(),
        ));
        Arc::clone(resolved.lanes.write().entry(lane.clone()).or_insert(policy))
    }
}

impl Resolved {
    fn new(
        rules: &ProtectionRules,
        service: &ServiceName,
        default_timeout: Option<Duration>,
    ) -> Self {
        // Read the generation first: a swap racing with this build makes
        // the next call build again rather than keep a stale resolution.
        let generation = rules.generation();
        let base = rules.load().call_policy(service, None);
        let budget = base
            .retry
            .as_ref()
            .map(|retry| Arc::new(RetryBudget::new(retry)));
        let base = lane_policy(rules, service, None, default_timeout, budget.clone());
        Resolved {
            generation,
            base: Arc::new(base),
            lanes: RwLock::new(HashMap::new()),
            budget,
        }
    }
}

fn lane_policy(
    rules: &ProtectionRules,
    service: &ServiceName,
    lane: Option<&Lane>,
    default_timeout: Option<Duration>,
    budget: Option<Arc<RetryBudget>>,
) -> LanePolicy {
    let mut policy = rules.load().call_policy(service, lane);
    if policy.timeout.is_none() {
        policy.timeout = default_timeout;
    }
    let breaker = policy.breaker.clone().map(Breaker::new);
    LanePolicy {
        policy,
        breaker,
        budget,
    }
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("service", &self.service)
            .field("generation", &self.current.load().generation)
            .finish_non_exhaustive()
    }
}
