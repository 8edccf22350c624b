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

/// A `tracing_subscriber` layer counting sae-governance's events into OTel
/// counters (`sae.client.offline_notices`, `sae.client.connect_ejections`,
/// `sae.client.retries`, `sae.client.lane_fallbacks`), by `service`.
///
/// [`crate::init()`] installs it; add it yourself when you build your own subscriber.
pub struct GovernanceCounters {
    offline_notices: Counter<u64>,
    connect_ejections: Counter<u64>,
    retries: Counter<u64>,
    lane_fallbacks: Counter<u64>,
}

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
                "Requests sent to another endpoint after a connect failure.",
            ),
            lane_fallbacks: counter(
                "sae.client.lane_fallbacks",
                "Requests of a lane routed to the base lane for want of a lane instance.",
            ),
        }
    }

    fn counter(&self, name: &str) -> Option<&Counter<u64>> {
        match name {
            event::OFFLINE_NOTICE => Some(&self.offline_notices),
            event::CONNECT_EJECTION => Some(&self.connect_ejections),
            event::RETRY => Some(&self.retries),
            event::LANE_FALLBACK => Some(&self.lane_fallbacks),
            _ => None,
        }
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
        if let Some(counter) = self.counter(name) {
            let mut service = ServiceField(None);
            event.record(&mut service);
            match service.0 {
                Some(service) => counter.add(1, &[KeyValue::new("service", service)]),
                None => counter.add(1, &[]),
            }
        }
    }
}

/// Reads the `service` field of a governance event.
struct ServiceField(Option<String>);

impl Visit for ServiceField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "service" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "service" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governance_counters_count_the_events_sae_core_names() {
        let counters = GovernanceCounters::new(&opentelemetry::global::meter("test"));
        for name in [
            event::OFFLINE_NOTICE,
            event::CONNECT_EJECTION,
            event::RETRY,
            event::LANE_FALLBACK,
        ] {
            assert!(counters.counter(name).is_some(), "{name}");
        }
        for name in [event::INSTANCE_FIELD, "sae.other", "retry"] {
            assert!(counters.counter(name).is_none(), "{name}");
        }
    }
}
