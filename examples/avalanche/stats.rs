//! What one run measured and how it is printed: the figures every scenario
//! has, the scenario's own ([`crate::bounds`]), the table and the JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::bounds::{self, Bound, Measured};
use crate::load::{Outcome, Record};
use crate::measure::{ms, pct, percentile, sorted};
use crate::rules::BUDGET;
use crate::scenario::{Mode, Scenario};

/// The figures of one run and the verdict on each bound.
#[derive(Debug)]
pub struct RunReport {
    pub scenario: Scenario,
    pub mode: Mode,
    figures: Value,
    bounds: Vec<Bound>,
    /// One line of scenario-specific figures for the table.
    detail: String,
}

impl RunReport {
    pub fn new(m: Measured) -> RunReport {
        let during: Vec<&Record> = m.during().collect();
        let requests = during.len() as u64;
        let count =
            |keep: &dyn Fn(&Record) -> bool| during.iter().filter(|r| keep(r)).count() as u64;
        let failed = count(&|r| !r.outcome.is_success());
        let over_budget = count(&|r| r.outcome == Outcome::TimedOut || r.latency > BUDGET);
        let latencies = sorted(during.iter().map(|r| r.latency));
        let successes = sorted(
            during
                .iter()
                .filter(|r| r.outcome.is_success())
                .map(|r| r.latency),
        );
        let warmup: Vec<&Record> = m
            .records
            .iter()
            .filter(|r| r.sent < m.fault_began)
            .collect();
        let lags = sorted(m.records.iter().map(|r| r.lag));
        let mut figures = json!({
            "requests": requests,
            "failed": failed,
            "failed_pct": pct(failed, requests),
            "over_budget_pct": pct(over_budget, requests),
            "p50_ms": ms(percentile(&latencies, 50.0)),
            "p99_ms": ms(percentile(&latencies, 99.0)),
            "max_ms": ms(latencies.last().copied().unwrap_or_default()),
            "ok_p99_ms": ms(percentile(&successes, 99.0)),
            "outcomes": outcomes(&during),
            "warmup_failed_pct": pct(
                warmup.iter().filter(|r| !r.outcome.is_success()).count() as u64,
                warmup.len() as u64,
            ),
            "lag_p99_ms": ms(percentile(&lags, 99.0)),
            "rss_max_mb": (m.rss_max * 10.0).round() / 10.0,
            "stop_problems": m.stop_problems,
        });
        let (bounds, detail) = bounds::judge(&m, &mut figures);
        let memory = format!("peak RSS {:.0} MB", m.rss_max);
        let detail = if detail.is_empty() {
            memory
        } else {
            format!("{detail}; {memory}")
        };
        RunReport {
            scenario: m.scenario,
            mode: m.mode,
            figures,
            bounds,
            detail,
        }
    }

    /// Whether every bound holds (what sae is judged by).
    pub fn holds(&self) -> bool {
        self.bounds.iter().all(|b| b.ok)
    }

    /// The bounds that do not hold, in words.
    pub fn broken(&self) -> Vec<String> {
        self.bounds
            .iter()
            .filter(|b| !b.ok)
            .map(|b| b.says.clone())
            .collect()
    }

    /// Whether a baseline run shows the problem the scenario is about: it
    /// breaks the bounds sae must keep; for the outage, where baseline has
    /// no breaker to judge, its calls fail instead.
    fn shows_problem(&self) -> bool {
        match self.scenario {
            Scenario::Outage => self.figures["failed_pct"].as_f64().unwrap_or(0.0) > 0.5,
            _ => !self.holds(),
        }
    }

    /// The JSON object of this run: every figure, and per bound whether it
    /// holds (sae) or whether the problem shows (baseline).
    pub fn json(&self) -> Value {
        let mut value = self.figures.clone();
        match self.mode {
            Mode::Sae => {
                let ok: serde_json::Map<String, Value> = self
                    .bounds
                    .iter()
                    .map(|b| (b.name.clone(), json!(b.ok)))
                    .collect();
                value["ok"] = Value::Object(ok);
            }
            Mode::Baseline => value["shows_problem"] = json!(self.shows_problem()),
        }
        value
    }

    /// The header of the human table.
    pub fn header() -> String {
        format!(
            "{:<3} {:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {}\n{}",
            "#",
            "mode",
            "requests",
            "failed%",
            ">budget%",
            "p50 ms",
            "p99 ms",
            "max ms",
            "verdict",
            "-".repeat(100)
        )
    }

    /// The run's row and its detail line.
    pub fn row(&self) -> String {
        let f = |key: &str| self.figures[key].as_f64().unwrap_or_default();
        let verdict = match self.mode {
            Mode::Sae if self.holds() => "bounds hold".to_owned(),
            Mode::Sae => format!("BROKEN: {}", self.broken().join("; ")),
            Mode::Baseline if self.shows_problem() => "shows the problem".to_owned(),
            Mode::Baseline => "does not show the problem".to_owned(),
        };
        format!(
            "{:<3} {:<9} {:>8} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>9.1}  {verdict}\n{:<13} {}",
            self.scenario.number(),
            self.mode.name(),
            self.figures["requests"],
            f("failed_pct"),
            f("over_budget_pct"),
            f("p50_ms"),
            f("p99_ms"),
            f("max_ms"),
            "",
            self.detail
        )
    }

    /// The report as one JSON value, from a child process to its parent.
    pub fn to_wire(&self) -> Value {
        let bounds: Vec<Value> = self
            .bounds
            .iter()
            .map(|b| json!([b.name, b.ok, b.says]))
            .collect();
        json!({
            "scenario": self.scenario.number(),
            "mode": self.mode.name(),
            "figures": self.figures,
            "bounds": bounds,
            "detail": self.detail,
        })
    }

    /// The report a child process sent.
    pub fn from_wire(value: &Value) -> Option<RunReport> {
        let bounds = value["bounds"]
            .as_array()?
            .iter()
            .map(|b| {
                Some(Bound {
                    name: b[0].as_str()?.to_owned(),
                    ok: b[1].as_bool()?,
                    says: b[2].as_str()?.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RunReport {
            scenario: Scenario::parse(&value["scenario"].to_string())?,
            mode: Mode::parse(value["mode"].as_str()?)?,
            figures: value["figures"].clone(),
            bounds,
            detail: value["detail"].as_str()?.to_owned(),
        })
    }
}

/// How many requests ended each way.
fn outcomes(records: &[&Record]) -> Value {
    let mut counts = BTreeMap::<String, u64>::new();
    for record in records {
        let key = match record.outcome {
            Outcome::Ok => "ok".to_owned(),
            Outcome::Fallback => "fallback".to_owned(),
            Outcome::Rejected => "rejected".to_owned(),
            Outcome::Status(code) => code.to_string(),
            Outcome::TimedOut => "timed_out".to_owned(),
            Outcome::Error => "error".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
    }
    json!(counts)
}
