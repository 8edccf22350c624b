//! Each scenario's own figures, and the bounds on them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fleet::EDGES;
use crate::load::{Outcome, Record};
use crate::measure::{ms, ms3, pct, percentile, round1, sorted};
use crate::rules::{BREAKER_MIN_REQUESTS, BREAKER_RECOVERY, BUDGET};
use crate::scenario::{Mode, Scenario, capacity};

/// Most memory a run's process may use before it counts as running out of it.
const RSS_LIMIT_MB: f64 = 1024.0;
/// The fallback's answer time the issue asks for.
const FALLBACK_BOUND: Duration = Duration::from_millis(1);

/// The raw material of a run.
pub struct Measured {
    pub scenario: Scenario,
    pub mode: Mode,
    pub records: Vec<Record>,
    /// When the fault began and ended, after the load's start.
    pub fault_began: Duration,
    pub fault_ended: Duration,
    /// Requests inventory served to completion during the fault.
    pub inventory_served: u64,
    /// The process's largest resident set during the run, MB.
    pub rss_max: f64,
    /// The edge's own answer time of each fallback (arrival to response).
    pub fallback_times: Vec<Duration>,
    pub stop_problems: usize,
}

impl Measured {
    /// The requests sent during the fault.
    pub fn during(&self) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(|r| r.sent >= self.fault_began && r.sent < self.fault_ended)
    }
}

/// One bound of the issue: whether it holds, and what was measured.
#[derive(Clone, Debug)]
pub struct Bound {
    pub name: String,
    pub ok: bool,
    pub says: String,
}

fn bound(name: &str, ok: bool, says: String) -> Bound {
    Bound {
        name: name.to_owned(),
        ok,
        says,
    }
}

/// Adds the scenario's own figures to `figures` and returns its bounds and
/// a line of details for the table.
pub fn judge(m: &Measured, figures: &mut Value) -> (Vec<Bound>, String) {
    let f = |key: &str| figures[key].as_f64().unwrap_or_default();
    match m.scenario {
        Scenario::Sick => {
            let failed = f("failed_pct");
            let says = format!("failed {failed:.2}% (<= 0.5%)");
            (
                vec![bound("failed_pct", failed <= 0.5, says)],
                String::new(),
            )
        }
        Scenario::Hang => {
            let over = f("over_budget_pct");
            let says = format!("over the {BUDGET:?} budget {over:.2}% (<= 0.5%)");
            (
                vec![bound("over_budget_pct", over <= 0.5, says)],
                String::new(),
            )
        }
        Scenario::Overload => overload(m, figures),
        Scenario::Outage => outage(m, figures),
    }
}

/// Scenario 3: goodput against inventory's capacity, p99, memory.
fn overload(m: &Measured, figures: &mut Value) -> (Vec<Bound>, String) {
    let seconds = (m.fault_ended - m.fault_began).as_secs_f64();
    // Goodput: answers from the chain (not fallbacks) that arrived during the fault.
    let answered = m
        .records
        .iter()
        .filter(|r| r.outcome == Outcome::Ok)
        .filter(|r| (m.fault_began..m.fault_ended).contains(&(r.sent + r.latency)))
        .count();
    let goodput = answered as f64 / seconds;
    let capacity = capacity();
    let share = goodput / capacity;
    let served = m.inventory_served as f64 / seconds;
    let timed_out = m
        .during()
        .filter(|r| r.outcome == Outcome::TimedOut)
        .count();
    figures["goodput_rps"] = json!(round1(goodput));
    figures["capacity_rps"] = json!(capacity);
    figures["goodput_share"] = json!((share * 1000.0).round() / 1000.0);
    figures["inventory_served_rps"] = json!(round1(served));
    figures["timed_out_pct"] = json!(pct(timed_out as u64, m.during().count() as u64));
    let p99 = figures["p99_ms"].as_f64().unwrap_or_default();
    // The successes' own p99 too: the refusals are fast and would flatter it.
    let ok_p99 = figures["ok_p99_ms"].as_f64().unwrap_or_default();
    let limit = ms(2 * BUDGET);
    let detail = format!(
        "goodput {goodput:.0}/s = {:.1}% of capacity {capacity:.0}/s (inventory served {served:.0}/s); successes' p99 {ok_p99:.1} ms; answers {}",
        share * 100.0,
        figures["outcomes"]
    );
    let bounds = vec![
        bound(
            "goodput",
            share >= 0.9,
            format!("goodput {:.1}% of capacity (>= 90%)", share * 100.0),
        ),
        bound(
            "p99",
            p99.max(ok_p99) <= limit,
            format!("p99 {p99:.1} ms, of successes {ok_p99:.1} ms (<= {limit} ms)"),
        ),
        bound(
            "memory",
            m.rss_max < RSS_LIMIT_MB,
            format!("peak RSS {:.0} MB (< {RSS_LIMIT_MB} MB)", m.rss_max),
        ),
    ];
    (bounds, detail)
}

/// Scenario 4: the breaker opens within `min_request_amount` calls of the
/// outage, the edge answers with the fallback in under 1 ms meanwhile, and
/// traffic is back within `recovery_timeout` + one probe of the recovery.
fn outage(m: &Measured, figures: &mut Value) -> (Vec<Bound>, String) {
    let mut opened_after = Vec::new();
    let mut recovery = Vec::new();
    let mut recovery_bound = Vec::new();
    let mut late_fallbacks = 0;
    for edge in 0..EDGES {
        // Each edge instance has its breaker: judge each on its own calls.
        let calls: Vec<&Record> = m
            .records
            .iter()
            .filter(|r| r.edge == edge && r.sent >= m.fault_began)
            .collect();
        opened_after.push(
            calls
                .iter()
                .position(|r| r.outcome == Outcome::Fallback)
                .map(|i| i as u64 + 1),
        );
        let after: Vec<&&Record> = calls.iter().filter(|r| r.sent >= m.fault_ended).collect();
        let first_ok = after.iter().position(|r| r.outcome == Outcome::Ok);
        let back_at = first_ok.map(|i| after[i].sent + after[i].latency);
        recovery.push(back_at.map(|at| at - m.fault_ended));
        // One probe: the first call after the timeout (at most one gap
        // between this edge's calls later) and its round trip.
        let gap = match after.as_slice() {
            [first, second, ..] => second.sent - first.sent,
            _ => Duration::ZERO,
        };
        recovery_bound.push(first_ok.map(|i| BREAKER_RECOVERY + gap + after[i].latency));
        // Calls sent while the probe was out are refused (half-open); from
        // its answer on, none may be.
        if let Some(back_at) = back_at {
            late_fallbacks += after
                .iter()
                .filter(|r| r.sent >= back_at && r.outcome == Outcome::Fallback)
                .count();
        }
    }
    let outside = sorted(
        m.during()
            .filter(|r| r.outcome == Outcome::Fallback)
            .map(|r| r.latency),
    );
    let outside_p99 = (!outside.is_empty()).then(|| percentile(&outside, 99.0));
    let at_edge = sorted(m.fallback_times.iter().copied());
    let edge_p99 = (!at_edge.is_empty()).then(|| percentile(&at_edge, 99.0));
    let recovery_ms = |v: &[Option<Duration>]| v.iter().map(|d| d.map(ms)).collect::<Vec<_>>();
    figures["fallbacks"] = json!(outside.len());
    figures["breaker_opened_after"] = json!(opened_after);
    figures["fallback_edge_p99_ms"] = json!(edge_p99.map(ms3));
    figures["fallback_edge_max_ms"] = json!(at_edge.last().copied().map(ms3));
    figures["fallback_outside_p99_ms"] = json!(outside_p99.map(ms3));
    figures["fallback_outside_max_ms"] = json!(outside.last().copied().map(ms3));
    figures["recovery_ms"] = json!(recovery_ms(&recovery));
    figures["recovery_bound_ms"] = json!(recovery_ms(&recovery_bound));
    figures["fallbacks_after_recovery"] = json!(late_fallbacks);

    let opened = opened_after
        .iter()
        .all(|n| n.is_some_and(|n| n <= BREAKER_MIN_REQUESTS));
    // The edge's own answer time, from the request's arrival to its
    // response; the outside's round trip adds the load generator's own
    // scheduling and loopback, and is shown beside it.
    let fast = edge_p99.is_some_and(|p| p < FALLBACK_BOUND);
    let back = late_fallbacks == 0
        && recovery
            .iter()
            .zip(&recovery_bound)
            .all(|(r, b)| matches!((r, b), (Some(r), Some(b)) if r <= b));
    let counts = join(&opened_after, |n| n.to_string());
    let back_ms = join(&recovery, |d| format!("{:.0}", ms(*d)));
    let bound_ms = join(&recovery_bound, |d| format!("{:.0}", ms(*d)));
    let show = |p: Option<Duration>| p.map_or("-".to_owned(), |p| format!("{:.3}", ms3(p)));
    let detail = format!(
        "breaker opened after {counts} calls per edge (<= {BREAKER_MIN_REQUESTS}); fallback p99 {} ms at the edge, {} ms outside; back {back_ms} ms after recovery (bound {bound_ms} ms)",
        show(edge_p99),
        show(outside_p99),
    );
    let bounds = vec![
        bound(
            "breaker_opens",
            opened,
            format!("opened after {counts} calls (<= {BREAKER_MIN_REQUESTS})"),
        ),
        bound(
            "fallback_fast",
            fast,
            format!("fallback p99 at the edge {} ms (< 1 ms)", show(edge_p99)),
        ),
        bound(
            "recovers",
            back,
            format!(
                "back {back_ms} ms after recovery (bound {bound_ms} ms), {late_fallbacks} fallbacks after"
            ),
        ),
    ];
    (bounds, detail)
}

/// `a/b` per edge instance, `never` for none.
fn join<T>(values: &[Option<T>], show: impl Fn(&T) -> String) -> String {
    values
        .iter()
        .map(|v| v.as_ref().map_or("never".to_owned(), &show))
        .collect::<Vec<_>>()
        .join("/")
}
