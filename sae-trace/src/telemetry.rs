//! [`Telemetry`]: what every sae trace layer of one service shares.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::StringValue;
use opentelemetry::metrics::Meter;
use parking_lot::RwLock;

use crate::client::TraceClientLayer;
use crate::metrics::Instruments;
use crate::server::TraceServerLayer;
use crate::{RootSampler, Topology};

/// Distinct gRPC methods (and HTTP routes) remembered for metric attributes. A scanner probing
/// random paths must not grow the table (or the metric cardinality) forever. Ids fit a `u16`.
const MAX_RPC_NAMES: usize = 512;

/// The shared state of one service's trace layers: its name, the root
/// sampler, the metric instruments and the call [`Topology`]. Cheap to clone.
///
/// Build it from the guard of [`crate::init()`] ([`crate::TraceGuard::telemetry`])
/// or, to use the global meter provider, with [`Telemetry::new`].
///
/// ```
/// use sae_trace::{RootSampler, Telemetry, Topology};
///
/// let meter = opentelemetry::global::meter("sae");
/// let telemetry = Telemetry::with_meter("orders", &meter, RootSampler::AlwaysOn, Topology::new());
/// let server = telemetry.http_server_layer();
/// let client = telemetry.http_client_layer("payments");
/// # let _ = (server, client);
/// ```
#[derive(Clone)]
pub struct Telemetry {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) service: Arc<str>,
    pub(crate) sampler: RootSampler,
    pub(crate) instruments: Instruments,
    pub(crate) topology: Topology,
    pub(crate) caller_header: Option<http::HeaderValue>,
    rpc_names: RwLock<HashMap<Box<str>, Arc<RpcName>>>,
    routes: RwLock<HashMap<Box<str>, Arc<Route>>>,
}

/// An `http.route` value, with its index among the routes seen (the metric
/// key). Shared (`Arc`) so a call carries 8 bytes and a metric attribute costs
/// no allocation.
pub(crate) struct Route {
    pub(crate) id: u16,
    pub(crate) value: StringValue,
}

/// `rpc.service` and `rpc.method` of a gRPC path, with its index among the
/// paths seen (the metric key). Shared (`Arc`) like [`Route`].
pub(crate) struct RpcName {
    pub(crate) id: u16,
    pub(crate) service: StringValue,
    pub(crate) method: StringValue,
}

impl Telemetry {
    /// Telemetry for `service` on the global meter provider, sampling new
    /// traces as `OTEL_TRACES_SAMPLER` says.
    pub fn new(service: &str) -> Self {
        Self::with_meter(
            service,
            &opentelemetry::global::meter("sae"),
            RootSampler::from_env(),
            Topology::new(),
        )
    }

    /// Telemetry for `service` recording on `meter`, sampling new traces with
    /// `sampler`, and feeding `topology`.
    pub fn with_meter(
        service: &str,
        meter: &Meter,
        sampler: RootSampler,
        topology: Topology,
    ) -> Self {
        Telemetry {
            inner: Arc::new(Inner {
                service: Arc::from(service),
                sampler,
                instruments: Instruments::new(meter),
                topology,
                caller_header: http::HeaderValue::from_str(service).ok(),
                rpc_names: RwLock::new(HashMap::new()),
                routes: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The service these layers belong to.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The call topology the client layers feed.
    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// The server layer for HTTP services (axum, hyper).
    pub fn http_server_layer(&self) -> TraceServerLayer {
        TraceServerLayer::http(self)
    }

    /// The server layer for gRPC services (tonic).
    pub fn grpc_server_layer(&self) -> TraceServerLayer {
        TraceServerLayer::grpc(self)
    }

    /// The client layer for HTTP calls to `callee` (a service name).
    pub fn http_client_layer(&self, callee: &str) -> TraceClientLayer {
        TraceClientLayer::http(self, callee)
    }

    /// The client layer for gRPC calls to `callee` (a service name).
    pub fn grpc_client_layer(&self, callee: &str) -> TraceClientLayer {
        TraceClientLayer::grpc(self, callee)
    }
}

impl Inner {
    /// The `http.route` attribute value of a matched route, shared between
    /// requests so recording it allocates nothing.
    pub(crate) fn route(&self, route: &str) -> Option<Arc<Route>> {
        if let Some(value) = self.routes.read().get(route) {
            return Some(value.clone());
        }
        let mut routes = self.routes.write();
        if routes.len() >= MAX_RPC_NAMES {
            return None;
        }
        if let Some(value) = routes.get(route) {
            return Some(value.clone());
        }
        let value = Arc::new(Route {
            id: routes.len() as u16,
            value: StringValue::from(Arc::<str>::from(route)),
        });
        routes.insert(route.into(), value.clone());
        Some(value)
    }

    /// The names of a gRPC request path `/package.Service/Method`, or `None`
    /// when it is not one (or too many distinct ones were seen).
    pub(crate) fn rpc_name(&self, path: &str) -> Option<Arc<RpcName>> {
        if let Some(name) = self.rpc_names.read().get(path) {
            return Some(name.clone());
        }
        let (service, method) = split_rpc_path(path)?;
        let mut names = self.rpc_names.write();
        if names.len() >= MAX_RPC_NAMES {
            return None;
        }
        if let Some(name) = names.get(path) {
            return Some(name.clone());
        }
        let name = Arc::new(RpcName {
            id: names.len() as u16,
            service: StringValue::from(Arc::<str>::from(service)),
            method: StringValue::from(Arc::<str>::from(method)),
        });
        names.insert(path.into(), name.clone());
        Some(name)
    }
}

/// `/package.Service/Method` → (`package.Service`, `Method`).
pub(crate) fn split_rpc_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("service", &self.inner.service)
            .field("sampler", &self.inner.sampler)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_paths_split_and_garbage_is_refused() {
        assert_eq!(
            split_rpc_path("/helloworld.Greeter/SayHello"),
            Some(("helloworld.Greeter", "SayHello"))
        );
        for bad in ["", "/", "//x", "/svc/", "svc/method", "/a/b/c"] {
            assert_eq!(split_rpc_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn rpc_names_are_remembered_up_to_a_bound() {
        let meter = opentelemetry::global::meter("test");
        let telemetry = Telemetry::with_meter("a", &meter, RootSampler::AlwaysOn, Topology::new());
        let name = telemetry.inner.rpc_name("/pkg.Svc/Call").unwrap();
        assert_eq!(name.service.as_str(), "pkg.Svc");
        assert_eq!(name.method.as_str(), "Call");
        for n in 0..MAX_RPC_NAMES * 2 {
            let _ = telemetry.inner.rpc_name(&format!("/pkg.Svc/M{n}"));
        }
        assert_eq!(telemetry.inner.rpc_names.read().len(), MAX_RPC_NAMES);
        assert!(telemetry.inner.rpc_name("/pkg.Svc/Call").is_some());
    }
}
