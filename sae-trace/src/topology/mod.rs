//! The call topology: which service calls which, how often, how badly, how slowly.
//!
//! SAE draws its application topology from the agent's traces. sae keeps the
//! aggregate in process instead, fed by the client layers (every request,
//! sampled or not): an edge is caller service → callee service with request
//! and error counts and latency percentiles. Read it as a value
//! ([`Topology::edges`]), as JSON ([`Topology::to_json`]) or as Graphviz DOT
//! ([`Topology::to_dot`]).
//!
//! The request path touches only the edge's atomics: each client layer looks
//! its edge up once, when it is built.
//!
//! ```
//! use std::time::Duration;
//! use sae_trace::Topology;
//!
//! let topology = Topology::new();
//! let edge = topology.edge("frontend", "orders");
//! edge.record(Duration::from_millis(3), false);
//! edge.record(Duration::from_millis(5), true);
//! let edges = topology.edges();
//! assert_eq!((edges[0].requests, edges[0].errors), (2, 1));
//! assert!(topology.to_dot().contains("\"frontend\" -> \"orders\""));
//! ```

mod histogram;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use histogram::Histogram;

/// The shared aggregate of call edges. Cloning is cheap and shares the edges.
#[derive(Clone, Default)]
pub struct Topology {
    edges: Arc<Mutex<Edges>>,
}

/// (caller, callee) → the edge's counters.
type Edges = BTreeMap<(Arc<str>, Arc<str>), Arc<EdgeStats>>;

/// The live counters of one edge; [`EdgeStats::record`] is lock-free.
///
/// The request count is the latency histogram's total, so a call costs two
/// atomic additions (one bucket, and the error count only when it failed).
pub struct EdgeStats {
    errors: AtomicU64,
    latency: Histogram,
}

/// One edge as read at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Edge {
    /// The calling service.
    pub caller: String,
    /// The called service.
    pub callee: String,
    /// Requests completed (or failed) on this edge.
    pub requests: u64,
    /// Of those, the failed ones (transport errors, HTTP 5xx, gRPC errors).
    pub errors: u64,
    /// Median latency, microseconds (upper edge of a ~25 % bucket).
    pub p50_us: u64,
    /// 90th percentile latency, microseconds.
    pub p90_us: u64,
    /// 99th percentile latency, microseconds.
    pub p99_us: u64,
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Topology::default()
    }

    /// The edge `caller` → `callee`, created on first use. Keep the handle:
    /// recording through it needs no lookup.
    pub fn edge(&self, caller: &str, callee: &str) -> Arc<EdgeStats> {
        let mut edges = self.edges.lock();
        let key = (Arc::<str>::from(caller), Arc::<str>::from(callee));
        Arc::clone(edges.entry(key).or_insert_with(|| {
            Arc::new(EdgeStats {
                errors: AtomicU64::new(0),
                latency: Histogram::new(),
            })
        }))
    }

    /// Every edge, sorted by caller then callee.
    pub fn edges(&self) -> Vec<Edge> {
        let edges = self.edges.lock();
        edges
            .iter()
            .map(|((caller, callee), stats)| {
                let quantile = |q| {
                    stats
                        .latency
                        .quantile(q)
                        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
                };
                Edge {
                    caller: caller.to_string(),
                    callee: callee.to_string(),
                    requests: stats.latency.total(),
                    errors: stats.errors.load(Ordering::Relaxed),
                    p50_us: quantile(0.5),
                    p90_us: quantile(0.9),
                    p99_us: quantile(0.99),
                }
            })
            .collect()
    }

    /// The edges as a JSON array of [`Edge`] objects.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.edges()).unwrap_or_else(|_| "[]".to_owned())
    }

    /// The edges as a Graphviz DOT digraph, labelled with counts and p99.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph sae {\n  rankdir=LR;\n");
        for edge in self.edges() {
            let _ = writeln!(
                dot,
                "  {} -> {} [label=\"{} req, {} err, p99 {} us\"];",
                quoted(&edge.caller),
                quoted(&edge.callee),
                edge.requests,
                edge.errors,
                edge.p99_us
            );
        }
        dot.push_str("}\n");
        dot
    }
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.edges()).finish()
    }
}

impl EdgeStats {
    /// Records one finished call.
    pub fn record(&self, latency: Duration, failed: bool) {
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.record(latency);
    }
}

impl std::fmt::Debug for EdgeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeStats")
            .field("requests", &self.latency.total())
            .field("errors", &self.errors.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A DOT quoted id: service names are validated, but a caller may pass anything.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}
