//! The OTLP exporters for the configured (or environment's) transport.

use opentelemetry_otlp::{ExporterBuildError, MetricExporter, SpanExporter, WithExportConfig};

use super::{Config, ExportProtocol};

pub(super) fn span_exporter(config: &Config) -> Result<SpanExporter, ExporterBuildError> {
    match config.protocol {
        #[cfg(feature = "otlp-grpc")]
        Some(ExportProtocol::Grpc) => {
            let mut builder = SpanExporter::builder().with_tonic();
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            builder.build()
        }
        #[cfg(feature = "otlp-http")]
        Some(ExportProtocol::HttpProtobuf) => {
            let mut builder = SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(signal_url(endpoint, "traces"));
            }
            builder.build()
        }
        #[allow(unreachable_patterns)] // reachable when a transport feature is off
        Some(_) => Err(missing_feature()),
        None => match &config.endpoint {
            Some(_) => span_exporter(&Config {
                protocol: Some(default_protocol()),
                ..config.clone()
            }),
            None => SpanExporter::builder().build(),
        },
    }
}

pub(super) fn metric_exporter(config: &Config) -> Result<MetricExporter, ExporterBuildError> {
    match config.protocol {
        #[cfg(feature = "otlp-grpc")]
        Some(ExportProtocol::Grpc) => {
            let mut builder = MetricExporter::builder().with_tonic();
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            builder.build()
        }
        #[cfg(feature = "otlp-http")]
        Some(ExportProtocol::HttpProtobuf) => {
            let mut builder = MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
            if let Some(endpoint) = &config.endpoint {
                builder = builder.with_endpoint(signal_url(endpoint, "metrics"));
            }
            builder.build()
        }
        #[allow(unreachable_patterns)] // reachable when a transport feature is off
        Some(_) => Err(missing_feature()),
        None => match &config.endpoint {
            Some(_) => metric_exporter(&Config {
                protocol: Some(default_protocol()),
                ..config.clone()
            }),
            None => MetricExporter::builder().build(),
        },
    }
}

/// With an explicit endpoint but no protocol: `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// else HTTP/protobuf (the specification's default) when built in.
fn default_protocol() -> ExportProtocol {
    match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
        .as_deref()
        .map(str::trim)
    {
        Ok("grpc") => ExportProtocol::Grpc,
        _ if cfg!(feature = "otlp-http") => ExportProtocol::HttpProtobuf,
        _ => ExportProtocol::Grpc,
    }
}

#[allow(dead_code)] // used only with otlp-http
fn signal_url(base: &str, signal: &str) -> String {
    format!("{}/v1/{signal}", base.trim_end_matches('/'))
}

#[allow(dead_code)] // used only when a transport feature is off
fn missing_feature() -> ExporterBuildError {
    ExporterBuildError::InternalFailure(
        "this OTLP transport is not compiled in: enable sae-trace's otlp-grpc or otlp-http feature"
            .to_owned(),
    )
}
