//! [`Config`] of [`super::init`].

use std::fmt;
use std::time::Duration;

use crate::RootSampler;

/// The OTLP transport.
///
/// Chosen, per signal, by [`Config::protocol`], else
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`,
/// else `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`), else
/// [`ExportProtocol::HttpProtobuf`], the specification's default (gRPC when
/// sae-trace is built without its `otlp-http` feature). It displays as the
/// variables' value.
///
/// ```
/// use sae_trace::ExportProtocol;
///
/// assert_eq!(ExportProtocol::Grpc.to_string(), "grpc");
/// assert_eq!(ExportProtocol::HttpProtobuf.to_string(), "http/protobuf");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportProtocol {
    /// OTLP/gRPC; default endpoint `http://localhost:4317`.
    Grpc,
    /// OTLP/HTTP with protobuf bodies; default endpoint
    /// `http://localhost:4318` (`/v1/traces`, `/v1/metrics`).
    HttpProtobuf,
}

impl ExportProtocol {
    /// The `OTEL_EXPORTER_OTLP_PROTOCOL` value naming this transport.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ExportProtocol::Grpc => "grpc",
            ExportProtocol::HttpProtobuf => "http/protobuf",
        }
    }
}

impl fmt::Display for ExportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// The transport, for both signals (default: the signal's
    /// `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL`, else
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, else HTTP/protobuf; see
    /// [`ExportProtocol`]). A gRPC collector on 4317 needs
    /// [`ExportProtocol::Grpc`] here or `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`.
    pub fn protocol(mut self, protocol: ExportProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The collector's base URL, such as `http://127.0.0.1:4317` (default:
    /// the signal's `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`, used as
    /// it is, else `OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `http://localhost:4317` for gRPC and `http://localhost:4318` for
    /// HTTP). Over HTTP the signal paths `/v1/traces` and `/v1/metrics` are
    /// appended to this URL and to `OTEL_EXPORTER_OTLP_ENDPOINT`.
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
    ///
    /// The installed subscriber also prints sae-trace's own export warnings
    /// (target `sae_trace::export`) to stderr, since it has no other output;
    /// with your own subscriber they go wherever it sends `WARN` events.
    pub fn install_subscriber(mut self, install: bool) -> Self {
        self.install_subscriber = install;
        self
    }
}
