//! [`RetryBudget`]: retries as a share of calls, tower's `TpsBudget`
//! semantics: over a sliding window (`budget_window`), retries may number
//! `min_per_second × window` (the reserve, for a client that has just
//! started or calls rarely) plus `budget_percent` of the calls.
//!
//! Not tower's `TpsBudget` itself: its every deposit takes a mutex and
//! reads the clock, which was most of the client's protection cost per
//! call (BENCHMARKS.md). This one counts in the breaker's atomic
//! [`Window`] at the time the call already has.

use super::window::Window;
use crate::protection::RetryPolicy;

pub(crate) struct RetryBudget {
    /// Calls deposited, retries withdrawn.
    window: Window,
    reserve: f64,
    ratio: f64,
}

impl RetryBudget {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        RetryBudget {
            window: Window::new(policy.budget_window),
            reserve: f64::from(policy.min_per_second) * policy.budget_window.as_secs_f64(),
            ratio: f64::from(policy.budget_percent) / 100.0,
        }
    }

    /// Counts a call, at `now_ns`.
    pub(crate) fn deposit(&self, now_ns: u64) {
        self.window.add(now_ns, 1, 0);
    }

    /// Takes one retry at `now_ns`; `false` when the budget is spent.
    pub(crate) fn withdraw(&self, now_ns: u64) -> bool {
        let (calls, retries) = self.window.totals(now_ns);
        // Two racing withdrawals may both pass the last token: a budget
        // overdrawn by one retry is harmless, a lock per call is not.
        if f64::from(retries) + 1.0 > self.reserve + self.ratio * f64::from(calls) {
            return false;
        }
        self.window.add(now_ns, 0, 1);
        true
    }
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("reserve", &self.reserve)
            .field("ratio", &self.ratio)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const S: u64 = 1_000_000_000;

    fn budget(percent: f32, min_per_second: u32, window: Duration) -> RetryBudget {
        RetryBudget::new(&RetryPolicy {
            attempts: 2,
            budget_percent: percent,
            min_per_second,
            budget_window: window,
        })
    }

    #[test]
    fn the_reserve_allows_retries_without_calls_and_then_runs_out() {
        let budget = budget(0.0, 2, Duration::from_secs(1));
        assert!(budget.withdraw(0));
        assert!(budget.withdraw(S / 2));
        assert!(!budget.withdraw(S / 2 + 1), "2 a second over 1 s");
        // A window later the reserve is whole again.
        assert!(budget.withdraw(2 * S));
    }

    #[test]
    fn calls_earn_their_share_of_retries() {
        let budget = budget(20.0, 0, Duration::from_secs(10));
        for i in 0..10 {
            budget.deposit(i * S / 10);
        }
        assert!(budget.withdraw(S), "20 % of 10 calls");
        assert!(budget.withdraw(S));
        assert!(!budget.withdraw(S), "the third is over 20 %");
        for i in 0..5 {
            budget.deposit(2 * S + i);
        }
        assert!(budget.withdraw(2 * S + 10), "15 calls earn a third");
        // Past the window the old calls no longer count.
        assert!(!budget.withdraw(13 * S));
    }
}
