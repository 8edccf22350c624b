//! [`Config`] of [`super::init`].

use std::time::Duration;

use crate::RootSampler;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportProtocol {
    /// OTLP/gRPC (port 4317 by convention).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318 by convention).
    HttpProtobuf,
}

/// What [`super::init`] sets up. Every field left unset follows the standard
/// `OTEL_*` environment variables, then the specification's defaults.
///
/// ```
/// use sae_trace::{Config, ExportProtocol};
///
/// let config = Config::new()
///     .service_name("orders")
///     .protocol(ExportProtocol::Grpc)
///     .endpoint("http://127.0.0.1:4317");
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
#[must_use = "pass it to sae_trace::init"]
pub struct Config {
    pub(crate) service_name: Option<String>,
    pub(crate) protocol: Option<ExportProtocol>,
    pub(crate) endpoint: Option<String>,
    pub(crate) sampler: Option<RootSampler>,
    pub(crate) metric_interval: Option<Duration>,
    pub(crate) install_subscriber: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Everything from the environment; installs the global `tracing` subscriber.
    pub fn new() -> Self {
        Config {
            service_name: None,
            protocol: None,
            endpoint: None,
            sampler: None,
            metric_interval: None,
            install_subscriber: true,
        }
    }

    /// `service.name` of the resource, unless `OTEL_SERVICE_NAME` says otherwise
    /// (the variable wins, as the specification asks).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The transport (default: `OTEL_EXPORTER_OTLP_PROTOCOL`, else HTTP/protobuf).
    pub fn protocol(mut self, protocol: ExportProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The collector's base URL, such as `http://127.0.0.1:4317` (default:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, else localhost). Over HTTP the signal
    /// paths `/v1/traces` and `/v1/metrics` are appended.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// How new traces are sampled (default: `OTEL_TRACES_SAMPLER`).
    pub fn sampler(mut self, sampler: RootSampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// How often metrics are exported (default: `OTEL_METRIC_EXPORT_INTERVAL`, else 60 s).
    /// Shutdown and flush export at once regardless.
    pub fn metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = Some(interval);
        self
    }

    /// Whether [`super::init`] installs the global `tracing` subscriber (default
    /// true). Turn it off to compose your own with [`super::TraceGuard::layer`].
    pub fn install_subscriber(mut self, install: bool) -> Self {
        self.install_subscriber = install;
        self
    }
}
