//! The demo's figures per step, its bounds, and how they are printed.

use serde_json::{Value, json};

/// Largest gap between the share of users that reached gray and the rule.
pub const SHARE_TOLERANCE_PP: f64 = 1.0;
/// Longest time from a write until every edge instance applied it.
pub const APPLY_BOUND_MS: f64 = 1_000.0;

/// One step of the rollout, measured.
pub struct Step {
    pub name: String,
    /// The share of users the rule sends to v2 (gray, or base after the promotion).
    pub expected_v2_pct: f64,
    /// The share of users a sweep found answered by v2.
    pub v2_pct: f64,
    /// The revision written (or deleted at), if the step changed the rules.
    pub revision: Option<u64>,
    /// From the write until every edge instance ran it.
    pub apply_ms: Option<f64>,
    /// Users that were in gray at the previous step and were not any more.
    pub left_gray: u64,
    /// Failed requests during the step (its sweep and the steady load).
    pub failed: u64,
    /// Requests sent during the step.
    pub requests: u64,
}

impl Step {
    pub fn checks(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "share",
                (self.v2_pct - self.expected_v2_pct).abs() <= SHARE_TOLERANCE_PP,
            ),
            ("sticky", self.left_gray == 0),
            ("failed", self.failed == 0),
            ("apply", self.apply_ms.is_none_or(|ms| ms <= APPLY_BOUND_MS)),
        ]
    }

    pub fn ok(&self) -> bool {
        self.checks().iter().all(|(_, ok)| *ok)
    }

    fn to_json(&self) -> Value {
        json!({
            "step": self.name,
            "expected_v2_pct": self.expected_v2_pct,
            "v2_pct": round(self.v2_pct, 2),
            "revision": self.revision,
            "apply_ms": self.apply_ms.map(|ms| round(ms, 1)),
            "left_gray": self.left_gray,
            "failed": self.failed,
            "requests": self.requests,
            "ok": self
                .checks()
                .into_iter()
                .map(|(check, ok)| (check.to_owned(), Value::Bool(ok)))
                .collect::<serde_json::Map<_, _>>(),
        })
    }
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// Prints the table of steps.
pub fn print_table(steps: &[Step], users: u32) {
    println!(
        "{:<31} {:>9} {:>9} {:>9} {:>10} {:>9} {:>8} {:>9}  ok",
        "step", "rule v2", "got v2", "revision", "apply ms", "left gray", "failed", "requests"
    );
    for step in steps {
        println!(
            "{:<31} {:>8.1}% {:>8.2}% {:>9} {:>10} {:>9} {:>8} {:>9}  {}",
            step.name,
            step.expected_v2_pct,
            step.v2_pct,
            step.revision.map_or_else(|| "-".into(), |r| r.to_string()),
            step.apply_ms
                .map_or_else(|| "-".into(), |ms| format!("{ms:.1}")),
            step.left_gray,
            step.failed,
            step.requests,
            if step.ok() { "yes" } else { "NO" },
        );
    }
    println!(
        "(got v2: share of {users} distinct users answered by v2, bound ±{SHARE_TOLERANCE_PP} pp; apply: from the write until every edge instance ran it, bound {APPLY_BOUND_MS} ms)"
    );
}

/// The whole run as one JSON line.
pub fn to_json(steps: &[Step], registry: &str, users: u32) -> Value {
    json!({
        "config": { "registry": registry, "users": users },
        "steps": steps.iter().map(Step::to_json).collect::<Vec<_>>(),
        "failed": steps.iter().map(|step| step.failed).sum::<u64>(),
        "ok": steps.iter().all(Step::ok),
    })
}
