//! [`init()`]: tracer and meter providers with OTLP export, in one call.
//!
//! - **Providers.** A batch span processor and a periodic metric reader, both
//!   running as tokio tasks: the OTLP exporters (tonic's channel for gRPC,
//!   hyper's client for HTTP/protobuf) need a tokio context to export, which
//!   the SDK's default background threads do not have. So call `init` inside
//!   a tokio runtime.
//! - **Transport and endpoint.** OTLP over **HTTP/protobuf** to
//!   `http://localhost:4318` (`/v1/traces`, `/v1/metrics`) by default, the
//!   specification's default. The transport is [`Config::protocol`], else
//!   `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `_METRICS_PROTOCOL`, else
//!   `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` (default endpoint
//!   `http://localhost:4317`) or `http/protobuf`. The endpoint is
//!   [`Config::endpoint`], else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//!   `_METRICS_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`, else the
//!   transport's default. A collector listening for gRPC on 4317 therefore
//!   needs `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` or [`ExportProtocol::Grpc`]:
//!   HTTP/protobuf to a gRPC port fails.
//! - **Export failures are logged while serving.** The first failed export
//!   of each signal logs a `WARN` at once (target `sae_trace::export`, with
//!   the transport, endpoint and error), then at most one a minute with the
//!   count of failures not logged, and an `INFO` when exporting works again.
//!   The subscriber `init` installs prints them to stderr; with your own,
//!   they go where its `WARN` events go. They never become spans.
//! - **Environment.** `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//!   the endpoint and protocol variables above,
//!   `OTEL_EXPORTER_OTLP_HEADERS`/`TIMEOUT`, `OTEL_TRACES_SAMPLER`/`_ARG`,
//!   `OTEL_METRIC_EXPORT_INTERVAL` and the batch processor's `OTEL_BSP_*`
//!   are honoured; a [`Config`] field overrides them.
//! - **Sampling** is decided by sae's layers ([`crate::RootSampler`]) before a
//!   span exists. The SDK sampler is [`crate::FollowRequestSampler`] around
//!   `always_on`: it follows a span's parent, and drops the root spans a
//!   handler opens while serving an unsampled request, so a trace is decided
//!   once and a handler's own spans never become sampled orphans.
//! - **Globals.** The W3C trace-context + baggage propagator, the tracer and
//!   meter providers, and (unless [`Config::install_subscriber`] is off) a
//!   `tracing` subscriber with the OpenTelemetry layer (INFO and above), the
//!   [`crate::GovernanceCounters`], and stderr output for sae-trace's export
//!   warnings only.
//! - **Shutdown.** [`TraceGuard::shutdown`] flushes and stops both providers;
//!   [`TraceGuard::flush_when_stopped`] flushes when a provider's lifecycle
//!   reaches Stopped, so a graceful stop loses no span.
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = sae_trace::init(sae_trace::Config::new().service_name("orders"))?;
//! let telemetry = guard.telemetry("orders");
//! // ... .layer(telemetry.http_server_layer()) ...
//! guard.shutdown().await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod export;
mod guard;
mod report;
#[cfg(test)]
mod tests;

pub use config::{Config, ExportProtocol};
pub use guard::{ShutdownError, TraceGuard};

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::{FollowRequestSampler, RootSampler};

/// Why [`init()`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// An OTLP exporter could not be built (bad endpoint, missing feature, no tokio runtime).
    #[error("cannot build the OTLP {signal} exporter: {source}")]
    Exporter {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// The exporter's error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A global `tracing` subscriber was already set; use
    /// [`Config::install_subscriber`]`(false)` and [`TraceGuard::layer`].
    #[error("a global tracing subscriber is already installed: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
    /// `init` ran outside a tokio runtime.
    #[error("sae_trace::init must be called inside a tokio runtime")]
    NoRuntime,
}

/// Builds the tracer and meter providers with OTLP export and installs them;
/// see the [module docs](self).
///
/// # Errors
///
/// [`InitError`]: no tokio runtime, an exporter that cannot be built, or a
/// global subscriber already installed.
pub fn init(config: Config) -> Result<TraceGuard, InitError> {
    let (tracer_provider, meter_provider) = providers(&config)?;
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    let sampler = config.sampler.unwrap_or_else(RootSampler::from_env);
    let guard = TraceGuard::new(tracer_provider, meter_provider, sampler);
    if config.install_subscriber {
        tracing_subscriber::registry()
            .with(guard.layer())
            .with(export_warnings(std::io::stderr, {
                use std::io::IsTerminal as _;
                std::io::stderr().is_terminal()
            }))
            .try_init()?;
    }
    Ok(guard)
}

/// The tracer and meter providers of `config`, exporting through
/// [`report::Reported`] OTLP exporters; nothing global is touched.
fn providers(config: &Config) -> Result<(SdkTracerProvider, SdkMeterProvider), InitError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(InitError::NoRuntime);
    }
    let resource = resource(config);
    let span_exporter = export::span_exporter(config).map_err(|source| InitError::Exporter {
        signal: "traces",
        source,
    })?;
    let metric_exporter =
        export::metric_exporter(config).map_err(|source| InitError::Exporter {
            signal: "metrics",
            source,
        })?;
    let tracer_provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(span_exporter, Tokio).build())
        .with_sampler(FollowRequestSampler::new(Sampler::AlwaysOn))
        .with_resource(resource.clone())
        .build();
    let mut reader = PeriodicReader::builder(metric_exporter, Tokio);
    if let Some(interval) = config.metric_interval {
        reader = reader.with_interval(interval);
    }
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader.build())
        .with_resource(resource)
        .build();
    Ok((tracer_provider, meter_provider))
}

/// Prints sae-trace's export warnings ([`report::LOG_TARGET`]) to `writer`,
/// and nothing else: the subscriber `init` installs has no other output,
/// and a collector that cannot be reached must not go unnoticed.
///
/// Not a per-layer filter: one that refuses every other callsite would turn
/// the interest of every span and event from "always" into "sometimes", so
/// each would be filtered again as it is made. [`ExportEventsOnly`] looks at
/// events only, one target comparison each.
fn export_warnings<S, W>(writer: W, ansi: bool) -> impl tracing_subscriber::Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + Send + Sync + 'static,
{
    ExportEventsOnly(
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi),
    )
}

/// Passes the events of [`report::LOG_TARGET`] to the wrapped layer; spans
/// and other events never reach it.
struct ExportEventsOnly<L>(L);

impl<S: tracing::Subscriber, L: tracing_subscriber::Layer<S>> tracing_subscriber::Layer<S>
    for ExportEventsOnly<L>
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == report::LOG_TARGET {
            self.0.on_event(event, ctx);
        }
    }
}

fn resource(config: &Config) -> Resource {
    let mut builder = Resource::builder();
    if let Some(name) = &config.service_name
        && std::env::var_os("OTEL_SERVICE_NAME").is_none()
    {
        builder = builder.with_service_name(name.clone());
    }
    builder.build()
}
