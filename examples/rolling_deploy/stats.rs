//! What one scenario measured, and how it is printed.

use std::time::Duration;

use serde_json::{Value, json};

/// The figures of one scenario.
#[derive(Debug, Default)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: &'static str,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (error or non-2xx).
    pub failed: u64,
    /// Latency of every request, measured from its scheduled send time.
    pub latencies: Vec<Duration>,
    /// preStop to exit, per stopped provider.
    pub stop_times: Vec<Duration>,
    /// Draining to the consumer's last new request, per stopped provider.
    pub awareness: Vec<Duration>,
    /// Requests in flight to the killed provider at the kill (kill scenario).
    pub in_flight_at_kill: Option<u64>,
}

impl ScenarioReport {
    fn percentile(sorted: &[Duration], p: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn sorted(values: &[Duration]) -> Vec<Duration> {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted
    }

    fn ms(d: Duration) -> f64 {
        (d.as_secs_f64() * 1e5).round() / 100.0
    }

    /// Failure percentage.
    pub fn failure_percent(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failed as f64 * 100.0 / self.requests as f64
        }
    }

    /// One row of the human table.
    pub fn row(&self) -> String {
        let lat = Self::sorted(&self.latencies);
        let awareness = Self::sorted(&self.awareness);
        let stops = Self::sorted(&self.stop_times);
        format!(
            "{:<9} {:>8} {:>7} {:>8.3} {:>8.2} {:>8.2} {:>8.2} {:>13} {:>15} {:>9}",
            self.name,
            self.requests,
            self.failed,
            self.failure_percent(),
            Self::ms(Self::percentile(&lat, 50.0)),
            Self::ms(Self::percentile(&lat, 99.0)),
            Self::ms(lat.last().copied().unwrap_or_default()),
            if stops.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "{:.0}/{:.0}",
                    Self::ms(Self::percentile(&stops, 50.0)),
                    Self::ms(*stops.last().unwrap())
                )
            },
            if awareness.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "{:.1}/{:.1}",
                    Self::ms(Self::percentile(&awareness, 50.0)),
                    Self::ms(*awareness.last().unwrap())
                )
            },
            self.in_flight_at_kill
                .map_or("-".to_owned(), |n| n.to_string()),
        )
    }

    /// The header of the human table.
    pub fn header() -> String {
        format!(
            "{:<9} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>13} {:>15} {:>9}\n{}",
            "scenario",
            "requests",
            "failed",
            "failed%",
            "p50 ms",
            "p99 ms",
            "max ms",
            "stop ms p50/max",
            "aware ms p50/max",
            "inflight@kill",
            "-".repeat(104)
        )
    }

    /// The JSON object of this scenario.
    pub fn json(&self) -> Value {
        let lat = Self::sorted(&self.latencies);
        let awareness = Self::sorted(&self.awareness);
        let mut value = json!({
            "requests": self.requests,
            "failed": self.failed,
            "p99_ms": Self::ms(Self::percentile(&lat, 99.0)),
        });
        if self.in_flight_at_kill.is_none() {
            value["awareness_ms_p50"] = json!(Self::ms(Self::percentile(&awareness, 50.0)));
            value["awareness_ms_max"] =
                json!(Self::ms(awareness.last().copied().unwrap_or_default()));
        } else {
            value["in_flight_at_kill"] = json!(self.in_flight_at_kill);
        }
        value
    }
}
