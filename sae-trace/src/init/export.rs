//! The OTLP exporters for the configured (or environment's) transport, each
//! wrapped in a [`Reported`] exporter so a failing export is logged.
//!
//! The transport is resolved here, per signal, the way opentelemetry-otlp
//! resolves it (see [`ExportProtocol`]), so the warning of a failing export
//! can say which transport and endpoint it used.

use opentelemetry_otlp::{ExporterBuildError, MetricExporter, SpanExporter};

use super::report::{ExportReport, Reported};
use super::{Config, ExportProtocol};

/// The signal an exporter carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    pub(super) fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    fn protocol_variable(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        }
    }

    fn endpoint_variable(self) -> &'static str {
        match self {
            Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        }
    }
}

pub(super) fn span_exporter(config: &Config) -> Result<Reported<SpanExporter>, ExporterBuildError> {
    let protocol = protocol(config, Signal::Traces);
    let exporter = match protocol {
        #[cfg(feature = "otlp-grpc")]
        ExportProtocol::Grpc => {
            use opentelemetry_otlp::WithExportConfig;
            let mut builder = SpanExporter::builder().with_tonic();
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            builder.build()?
        }
        #[cfg(feature = "otlp-http")]
        ExportProtocol::HttpProtobuf => {
            use opentelemetry_otlp::WithExportConfig;
            let mut builder = SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(signal_url(endpoint, Signal::Traces));
            }
            builder.build()?
        }
        #[allow(unreachable_patterns)] // reachable when a transport feature is off
        _ => return Err(missing_feature()),
    };
    Ok(Reported::new(
        exporter,
        report(config, protocol, Signal::Traces),
    ))
}

pub(super) fn metric_exporter(
    config: &Config,
) -> Result<Reported<MetricExporter>, ExporterBuildError> {
    let protocol = protocol(config, Signal::Metrics);
    let exporter = match protocol {
        #[cfg(feature = "otlp-grpc")]
        ExportProtocol::Grpc => {
            use opentelemetry_otlp::WithExportConfig;
            let mut builder = MetricExporter::builder().with_tonic();
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            builder.build()?
        }
        #[cfg(feature = "otlp-http")]
        ExportProtocol::HttpProtobuf => {
            use opentelemetry_otlp::WithExportConfig;
            let mut builder = MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(signal_url(endpoint, Signal::Metrics));
            }
            builder.build()?
        }
        #[allow(unreachable_patterns)] // reachable when a transport feature is off
        _ => return Err(missing_feature()),
    };
    Ok(Reported::new(
        exporter,
        report(config, protocol, Signal::Metrics),
    ))
}

fn report(config: &Config, protocol: ExportProtocol, signal: Signal) -> ExportReport {
    ExportReport::new(signal, protocol, endpoint(config, protocol, signal))
}

/// The transport of `signal`: [`Config::protocol`], else the signal's
/// `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_PROTOCOL`, else
/// `OTEL_EXPORTER_OTLP_PROTOCOL`, else HTTP/protobuf (the specification's
/// default) when built in. Unknown values are skipped, like
/// opentelemetry-otlp does.
pub(super) fn protocol(config: &Config, signal: Signal) -> ExportProtocol {
    config
        .protocol
        .or_else(|| protocol_from_env(signal.protocol_variable()))
        .or_else(|| protocol_from_env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or(if cfg!(feature = "otlp-http") {
            ExportProtocol::HttpProtobuf
        } else {
            ExportProtocol::Grpc
        })
}

fn protocol_from_env(variable: &str) -> Option<ExportProtocol> {
    parse_protocol(&std::env::var(variable).ok()?)
}

/// An `OTEL_EXPORTER_OTLP_PROTOCOL` value: `grpc` or `http/protobuf`, any
/// case, surrounding blanks ignored.
pub(super) fn parse_protocol(value: &str) -> Option<ExportProtocol> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("grpc") {
        Some(ExportProtocol::Grpc)
    } else if value.eq_ignore_ascii_case("http/protobuf") {
        Some(ExportProtocol::HttpProtobuf)
    } else {
        None
    }
}

/// Where `signal` is exported, for the log (opentelemetry-otlp resolves it
/// the same way): [`Config::endpoint`], else the signal's variable as it is,
/// else `OTEL_EXPORTER_OTLP_ENDPOINT`, else the transport's default; over
/// HTTP the signal's path is appended to all but the signal's variable.
pub(super) fn endpoint(config: &Config, protocol: ExportProtocol, signal: Signal) -> String {
    let from_env = |variable: &str| {
        std::env::var(variable)
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    let base = match &config.endpoint {
        Some(endpoint) if !endpoint.is_empty() => endpoint.clone(),
        _ => {
            if let Some(endpoint) = from_env(signal.endpoint_variable()) {
                return endpoint;
            }
            from_env("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_else(|| {
                match protocol {
                    ExportProtocol::Grpc => "http://localhost:4317",
                    ExportProtocol::HttpProtobuf => "http://localhost:4318",
                }
                .to_owned()
            })
        }
    };
    match protocol {
        ExportProtocol::Grpc => base,
        ExportProtocol::HttpProtobuf => signal_url(&base, signal),
    }
}

fn signal_url(base: &str, signal: Signal) -> String {
    format!("{}/v1/{}", base.trim_end_matches('/'), signal.name())
}

#[allow(dead_code)] // used only when a transport feature is off
fn missing_feature() -> ExporterBuildError {
    ExporterBuildError::InternalFailure(
        "this OTLP transport is not compiled in: enable sae-trace's otlp-grpc or otlp-http feature"
            .to_owned(),
    )
}
