//! The protection rules of the two modes, as a team would write them, and
//! the edge's latency budget they are tuned for.

use std::time::Duration;

use sae::governance::protection::{ProtectionRules, RuleFormat};

use crate::fleet::Names;
use crate::scenario::Mode;

/// The edge's latency budget: what its callers expect (an answer later than
/// this counts as over budget).
pub const BUDGET: Duration = Duration::from_millis(500);

/// When the outside world gives up on a request and closes its connection
/// (the load generator's own timeout): later than the budget, so the
/// figures show how far past it a request goes.
pub const GIVE_UP: Duration = Duration::from_secs(2);

/// The breaker rule's numbers, repeated here for the demo's verdicts (the
/// YAML below is what the services run).
pub const BREAKER_MIN_REQUESTS: u64 = 60;
/// The breaker's `recovery_timeout`.
pub const BREAKER_RECOVERY: Duration = Duration::from_secs(2);

/// `sae`: the built-in protection plus these rules. One set for the three
/// services: a consumer-side rule applies where its target is called, the
/// provider side (the default adaptive limit) in every service.
pub const SAE_RULES: &str = r#"# sae: the defaults (outlier detection: 5 failures in a row eject an instance;
# retries of what is safe to repeat, within 20 % of calls + 10/s; a circuit
# breaker on every call; an adaptive concurrency limit on every provider)
# plus these rules.
rules:
  # edge -> orders: the whole call fits the edge's 500 ms budget.
  - name: orders-deadline
    targets: [{ service: orders }]
    strategy: { kind: timeout, timeout: 450ms }
  # The chain's breaker, at its top, with a fallback the edge answers at
  # once while orders (or what it needs) is down. Each edge instance calls
  # orders R = 50 times a second (100 req/s over two edges). With a window
  # W = 2 s it holds R*W = 100 calls >= min_request_amount, so the ratio
  # counts from the first failure on; with the trigger ratio p = 0.5 it opens
  # after about p*R*W = 50 failures (55 when the window spans an 11th
  # bucket) <= min_request_amount = 60: within 60 calls of an outage.
  - name: orders-breaker
    targets: [{ service: orders }]
    strategy:
      kind: circuit_breaker
      strategy: error_ratio
      trigger_ratio: 0.5
      stat_duration: 2s
      min_request_amount: 60
      recovery_timeout: 2s
    fallback:
      status: 200
      headers: { x-fallback: "1" }
      body: '{"order": "accepted", "stock": "unknown"}'
  # orders -> inventory: a hanging instance costs one attempt, then the
  # retry goes to another instance. Inventory answers in ~20 ms, and within
  # ~220 ms while its adaptive limit learns an overload (at most 20 in
  # flight on 2 workers of 20 ms); an attempt timeout under that would
  # count a busy instance's answers as failures and eject it. The whole
  # call is bounded by what is left of the edge's deadline, which sae
  # passes on (x-sae-timeout).
  - name: inventory-attempt
    targets: [{ service: inventory }]
    strategy: { kind: timeout, per_try_timeout: 300ms }
  # One breaker per chain: a second one here, in orders, would add its own
  # recovery timeout to the edge's when inventory comes back.
  - name: inventory-no-breaker
    targets: [{ service: inventory }]
    strategy: { kind: disabled, disables: circuit_breaker }
"#;

/// `baseline`: every protection that is on by default turned off, and no
/// timeouts: today's behaviour (balancing over peak-EWMA, a request never
/// written still goes elsewhere).
pub const BASELINE_RULES: &str = r#"# baseline: protection off, today's behaviour.
rules:
  - strategy: { kind: disabled, disables: retry }
  - strategy: { kind: disabled, disables: outlier_detection }
  - strategy: { kind: disabled, disables: circuit_breaker }
  - strategy: { kind: disabled, disables: adaptive_concurrency }
"#;

/// The rules of `mode` for the services named `names` (the YAML names them
/// `orders` and `inventory`; a run's services carry a suffix of their own).
pub fn for_mode(mode: Mode, names: &Names) -> Result<ProtectionRules, sae::core::Error> {
    let text = match mode {
        Mode::Baseline => BASELINE_RULES,
        Mode::Sae => SAE_RULES,
    };
    let text = text
        .replace(
            "{ service: orders }",
            &format!("{{ service: {} }}", names.orders),
        )
        .replace(
            "{ service: inventory }",
            &format!("{{ service: {} }}", names.inventory),
        );
    ProtectionRules::parse(&text, RuleFormat::Yaml)
}

/// Both rule sets, for `--rules` and `--help`.
pub fn describe() -> String {
    format!(
        "The edge's latency budget: {BUDGET:?}; the outside gives up after {GIVE_UP:?}.\n\n--- mode sae ---\n{SAE_RULES}\n--- mode baseline ---\n{BASELINE_RULES}"
    )
}
