//! The OpenTelemetry instruments, and the governance counters fed by the
//! `tracing` events sae-governance emits.
//!
//! sae-governance does not depend on OpenTelemetry: it emits plain `tracing`
//! events with the names in [`sae_core::wire::event`]. [`GovernanceCounters`] is a
//! `tracing_subscriber` layer that counts them into OTel counters, so the
//! counts need no handle on any client.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Counter, Histogram, Meter};
use parking_lot::RwLock;
use sae_core::wire::event;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Histogram boundaries, seconds: the semantic conventions' advice for
/// `http.server.request.duration` and friends.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Attribute sets bound per duration histogram; past it, samples take the
/// SDK's unbound path (which has its own cardinality limit).
const MAX_BOUND_SETS: usize = 1024;

/// Bound attribute sets cached beside each service ([`BoundCache`]).
const BOUND_CACHE_SLOTS: usize = 4;

pub(crate) struct Instruments {
    pub(crate) http_server: DurationHistogram,
    pub(crate) http_client: DurationHistogram,
    pub(crate) rpc_server: DurationHistogram,
    pub(crate) rpc_client: DurationHistogram,
}

/// A duration histogram whose attribute sets are bound once.
///
/// Every request records one sample, sampled or not. `Histogram::record`
/// hashes and compares every attribute `KeyValue` (names and string values,
/// SipHash) on every call, to find the attribute set. Here a call names
/// its attribute set by a packed `u64` key (route or RPC id, method, status);
/// the set is built and bound (`Histogram::bind`) the first time a key is
/// seen, and later samples go straight to the bound tracker: through the
/// service's [`BoundCache`] without a lock, else through this map.
pub(crate) struct DurationHistogram {
    histogram: Histogram<f64>,
    bound: RwLock<HashMap<u64, BoundHistogram<f64>, BuildHasherDefault<PackedKeyHasher>>>,
}

impl DurationHistogram {
    fn new(histogram: Histogram<f64>) -> Self {
        DurationHistogram {
            histogram,
            bound: RwLock::new(HashMap::default()),
        }
    }

    /// One sample for the attribute set named by `key`; `attributes` builds
    /// it on the first sample of that key only. A key in `cache` takes no
    /// lock; the first keys a service records fill its cache.
    pub(crate) fn record(
        &self,
        cache: &BoundCache,
        seconds: f64,
        key: u64,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        for slot in &cache.slots {
            match slot.get() {
                Some((cached, bound)) if *cached == key => {
                    bound.record(seconds);
                    return;
                }
                Some(_) => {}
                None => {
                    match self.bound(key, attributes) {
                        Ok(bound) => {
                            bound.record(seconds);
                            // Another call may have filled it meanwhile: then
                            // this key waits for the next free slot.
                            let _ = slot.set((key, bound));
                        }
                        Err(attributes) => self.histogram.record(seconds, &attributes),
                    }
                    return;
                }
            }
        }
        match self.bound(key, attributes) {
            Ok(bound) => bound.record(seconds),
            Err(attributes) => self.histogram.record(seconds, &attributes),
        }
    }

    /// The bound histogram of `key`, bound now if it is new; past
    /// [`MAX_BOUND_SETS`], the attributes to record unbound instead.
    fn bound(
        &self,
        key: u64,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Result<BoundHistogram<f64>, Vec<KeyValue>> {
        if let Some(bound) = self.bound.read().get(&key) {
            return Ok(bound.clone());
        }
        let attributes = attributes();
        let mut bound = self.bound.write();
        if bound.len() >= MAX_BOUND_SETS && !bound.contains_key(&key) {
            return Err(attributes);
        }
        Ok(bound
            .entry(key)
            .or_insert_with(|| self.histogram.bind(&attributes))
            .clone())
    }
}

/// The first few attribute sets one service records, bound, beside the
/// service: a sample on one of them reads an atomic instead of taking the
/// histogram's lock and looking its key up. A service usually records one or
/// two (its route, status 200, sometimes an error).
#[derive(Default)]
pub(crate) struct BoundCache {
    slots: [OnceLock<(u64, BoundHistogram<f64>)>; BOUND_CACHE_SLOTS],
}

/// Hashes the packed `u64` keys of [`DurationHistogram`]: one multiply,
/// folded so the status bits reach the bucket index. At most
/// [`MAX_BOUND_SETS`] keys are ever stored, so a weak hash cannot be flooded.
#[derive(Default)]
struct PackedKeyHasher(u64);

impl Hasher for PackedKeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(23) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

impl Instruments {
    pub(crate) fn new(meter: &Meter) -> Self {
        let histogram = |name: &'static str, description: &'static str| {
            DurationHistogram::new(
                meter
                    .f64_histogram(name)
                    .with_unit("s")
                    .with_description(description)
                    .with_boundaries(DURATION_BOUNDARIES.to_vec())
                    .build(),
            )
        };
        Instruments {
            http_server: histogram(
                "http.server.request.duration",
                "Duration of HTTP server requests.",
            ),
            http_client: histogram(
                "http.client.request.duration",
                "Duration of HTTP client requests.",
            ),
            rpc_server: histogram("rpc.server.call.duration", "Duration of RPC server calls."),
            rpc_client: histogram("rpc.client.call.duration", "Duration of RPC client calls."),
        }
    }
}

/// A `tracing_subscriber` layer counting sae-governance's events
/// ([`sae_core::wire::event`]) into OTel counters, by `service`:
///
/// | event | counter | more attributes |
/// |---|---|---|
/// | `sae.offline_notice` | `sae.client.offline_notices` | |
/// | `sae.connect_ejection` | `sae.client.connect_ejections` | |
/// | `sae.retry` | `sae.client.retries` | |
/// | `sae.lane_fallback` | `sae.client.lane_fallbacks` | |
/// | `sae.outlier_ejection` | `sae.client.outlier_ejections` | |
/// | `sae.probe` | `sae.client.probes` | |
/// | `sae.breaker` | `sae.client.breaker_transitions` | `to` (the new state) |
/// | `sae.breaker_rejected` | `sae.client.breaker_rejections` | |
/// | `sae.timeout` | `sae.client.timeouts` | |
/// | `sae.retry_budget_exhausted` | `sae.client.retry_budget_exhausted` | |
/// | `sae.rejected` | `sae.server.rejections` | `reason` (`concurrency`, `overload`, `rate-limit`) |
///
/// [`crate::init()`] installs it; add it yourself when you build your own subscriber.
pub struct GovernanceCounters {
    offline_notices: Counter<u64>,
    connect_ejections: Counter<u64>,
    retries: Counter<u64>,
    lane_fallbacks: Counter<u64>,
    outlier_ejections: Counter<u64>,
    probes: Counter<u64>,
    breaker_transitions: Counter<u64>,
    breaker_rejections: Counter<u64>,
    timeouts: Counter<u64>,
    retry_budget_exhausted: Counter<u64>,
    rejections: Counter<u64>,
}

/// Longest event field value taken as an attribute; a longer one is
/// counted as `other` (the values come from sae's code, but an attribute
/// must never grow without bound).
const MAX_ATTRIBUTE_LEN: usize = 32;

impl GovernanceCounters {
    /// The counters, created on `meter`.
    pub fn new(meter: &Meter) -> Self {
        let counter = |name: &'static str, description: &'static str| {
            meter
                .u64_counter(name)
                .with_description(description)
                .build()
        };
        GovernanceCounters {
            offline_notices: counter(
                "sae.client.offline_notices",
                "Responses carrying the offline notice; each evicts its endpoint.",
            ),
            connect_ejections: counter(
                "sae.client.connect_ejections",
                "Endpoints ejected after a connect failure.",
            ),
            retries: counter(
                "sae.client.retries",
                "Requests sent to another endpoint after a failure safe to repeat.",
            ),
            lane_fallbacks: counter(
                "sae.client.lane_fallbacks",
                "Requests of a lane routed to the base lane for want of a lane instance.",
            ),
            outlier_ejections: counter(
                "sae.client.outlier_ejections",
                "Endpoints ejected after consecutive failures.",
            ),
            probes: counter(
                "sae.client.probes",
                "Requests that probed an ejected endpoint whose time was up.",
            ),
            breaker_transitions: counter(
                "sae.client.breaker_transitions",
                "Circuit breaker state changes, by the state entered.",
            ),
            breaker_rejections: counter(
                "sae.client.breaker_rejections",
                "Calls refused by an open circuit breaker.",
            ),
            timeouts: counter(
                "sae.client.timeouts",
                "Calls whose own timeout or the inbound deadline ran out.",
            ),
            retry_budget_exhausted: counter(
                "sae.client.retry_budget_exhausted",
                "Failures safe to repeat that were not retried: the retry budget was spent.",
            ),
            rejections: counter(
                "sae.server.rejections",
                "Requests the provider refused before processing them, by reason.",
            ),
        }
    }

    /// The counter of the event `name`, and the event field it takes as an
    /// attribute besides `service`.
    fn counter(&self, name: &str) -> Option<(&Counter<u64>, Option<&'static str>)> {
        Some(match name {
            event::OFFLINE_NOTICE => (&self.offline_notices, None),
            event::CONNECT_EJECTION => (&self.connect_ejections, None),
            event::RETRY => (&self.retries, None),
            event::LANE_FALLBACK => (&self.lane_fallbacks, None),
            event::OUTLIER_EJECTION => (&self.outlier_ejections, None),
            event::PROBE => (&self.probes, None),
            event::BREAKER => (&self.breaker_transitions, Some("to")),
            event::BREAKER_REJECTED => (&self.breaker_rejections, None),
            event::TIMEOUT => (&self.timeouts, None),
            event::RETRY_BUDGET_EXHAUSTED => (&self.retry_budget_exhausted, None),
            event::REJECTED => (&self.rejections, Some("reason")),
            _ => return None,
        })
    }
}

impl std::fmt::Debug for GovernanceCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernanceCounters").finish_non_exhaustive()
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for GovernanceCounters {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let name = event.metadata().name();
        // Cheap reject first: every governance event name starts with "sae.".
        if !name.starts_with("sae.") {
            return;
        }
        let Some((counter, extra)) = self.counter(name) else {
            return;
        };
        let mut fields = Fields {
            extra,
            service: None,
            value: None,
        };
        event.record(&mut fields);
        let mut attributes = Vec::with_capacity(2);
        if let Some(service) = fields.service {
            attributes.push(KeyValue::new("service", service));
        }
        if let (Some(key), Some(value)) = (extra, fields.value) {
            attributes.push(KeyValue::new(key, value));
        }
        counter.add(1, &attributes);
    }
}

/// Reads the `service` field of a governance event, and the one more field
/// its counter takes as an attribute.
struct Fields {
    extra: Option<&'static str>,
    service: Option<String>,
    value: Option<String>,
}

impl Fields {
    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        if field.name() == "service" {
            Some(&mut self.service)
        } else if Some(field.name()) == self.extra {
            Some(&mut self.value)
        } else {
            None
        }
    }
}

fn attribute(value: &str) -> String {
    if value.len() <= MAX_ATTRIBUTE_LEN {
        value.to_owned()
    } else {
        "other".to_owned()
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(attribute(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(attribute(format!("{value:?}").trim_matches('"')));
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn governance_counters_count_the_events_sae_core_names() {
        let counters = GovernanceCounters::new(&opentelemetry::global::meter("test"));
        for name in [
            event::OFFLINE_NOTICE,
            event::CONNECT_EJECTION,
            event::RETRY,
            event::LANE_FALLBACK,
            event::OUTLIER_EJECTION,
            event::PROBE,
            event::BREAKER,
            event::BREAKER_REJECTED,
            event::TIMEOUT,
            event::RETRY_BUDGET_EXHAUSTED,
            event::REJECTED,
        ] {
            assert!(counters.counter(name).is_some(), "{name}");
        }
        for name in [event::INSTANCE_FIELD, "sae.other", "retry"] {
            assert!(counters.counter(name).is_none(), "{name}");
        }
    }

    /// Every data point of the counter `name`, as (attributes, value).
    fn points(exporter: &InMemoryMetricExporter, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
        let mut points = Vec::new();
        for resource in exporter.get_finished_metrics().unwrap() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics().filter(|metric| metric.name() == name) {
                    let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
                        panic!("{name} is not a u64 sum");
                    };
                    for point in sum.data_points() {
                        let mut attributes: Vec<_> = point
                            .attributes()
                            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                            .collect();
                        attributes.sort();
                        points.push((attributes, point.value()));
                    }
                }
            }
        }
        points.sort();
        points
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn counts_carry_the_service_and_the_reason_or_state() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let counters = GovernanceCounters::new(&provider.meter("test"));
        let subscriber = tracing_subscriber::registry().with(counters);
        tracing::subscriber::with_default(subscriber, || {
            for reason in ["overload", "overload", "rate-limit"] {
                tracing::info!(name: event::REJECTED, service = "orders", reason, rule = "adaptive", "rejected");
            }
            // A `%` (Display) field is read as well as a `&str` one.
            let service = sae_core::ServiceName::new("inventory").unwrap();
            tracing::info!(name: event::BREAKER, service = %service, from = "closed", to = "open", "breaker");
            tracing::info!(name: event::TIMEOUT, service = %service, "timed out");
            let long = "x".repeat(MAX_ATTRIBUTE_LEN + 1);
            tracing::info!(name: event::REJECTED, service = "orders", reason = long.as_str(), "rejected");
        });
        provider.force_flush().unwrap();

        assert_eq!(
            points(&exporter, "sae.server.rejections"),
            vec![
                (pairs(&[("reason", "other"), ("service", "orders")]), 1),
                (pairs(&[("reason", "overload"), ("service", "orders")]), 2),
                (pairs(&[("reason", "rate-limit"), ("service", "orders")]), 1),
            ]
        );
        assert_eq!(
            points(&exporter, "sae.client.breaker_transitions"),
            vec![(pairs(&[("service", "inventory"), ("to", "open")]), 1)]
        );
        assert_eq!(
            points(&exporter, "sae.client.timeouts"),
            vec![(pairs(&[("service", "inventory")]), 1)]
        );
    }
}
