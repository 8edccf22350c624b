//! [`Protection`]: a client's view of the protection rules: the resolved
//! policy of its service per lane, the retry budget, the breakers.
//!
//! Resolved once per rule generation, not per call: a call loads one
//! snapshot (an `ArcSwap` load), compares its generation with the rules'
//! (an atomic load), and for a lane looks its policy up under a read lock.
//! A swap of the rules builds new breakers and a new budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::RwLock;
use sae_core::{Lane, ServiceName};
use tower::retry::budget::{Budget, TpsBudget};

use super::breaker::Breaker;
use crate::protection::{CallPolicy, ProtectionRules};

/// The policy of calls in one lane, with its breaker.
#[derive(Debug)]
pub(crate) struct LanePolicy {
    pub(crate) policy: CallPolicy,
    pub(crate) breaker: Option<Breaker>,
}

pub(crate) struct Protection {
    rules: ProtectionRules,
    service: ServiceName,
    /// Used when the rules set no timeout for the service.
    default_timeout: Option<Duration>,
    current: ArcSwap<Resolved>,
}

struct Resolved {
    generation: u64,
    base: Arc<LanePolicy>,
    lanes: RwLock<HashMap<Lane, Arc<LanePolicy>>>,
    /// One budget per client (tower's `TpsBudget`), from the base policy.
    budget: Option<TpsBudget>,
}

impl Protection {
    pub(crate) fn new(
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
        }
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
        ));
        Arc::clone(resolved.lanes.write().entry(lane.clone()).or_insert(policy))
    }

    /// Counts a call toward the retry budget.
    pub(crate) fn deposit(&self) {
        if let Some(budget) = &self.resolved().budget {
            budget.deposit();
        }
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        self.resolved()
            .budget
            .as_ref()
            .is_some_and(|budget| budget.withdraw())
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
        let base = lane_policy(rules, service, None, default_timeout);
        let budget = base.policy.retry.as_ref().map(|retry| {
            TpsBudget::new(
                retry.budget_window,
                retry.min_per_second,
                retry.budget_percent / 100.0,
            )
        });
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
) -> LanePolicy {
    let mut policy = rules.load().call_policy(service, lane);
    if policy.timeout.is_none() {
        policy.timeout = default_timeout;
    }
    let breaker = policy.breaker.clone().map(Breaker::new);
    LanePolicy { policy, breaker }
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protection")
            .field("service", &self.service)
            .field("generation", &self.current.load().generation)
            .finish_non_exhaustive()
    }
}
