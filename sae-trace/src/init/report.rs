//! [`Reported`]: an exporter that says when exporting fails.
//!
//! The SDK's batch span processor and periodic metric reader report a
//! failed export only through OpenTelemetry's internal log, which reaches
//! `tracing` only with opentelemetry's `internal-logs` feature (off here: it
//! would log every internal event). So a collector on the wrong port, or
//! speaking the other protocol, went unnoticed until the flush at exit.
//! Each OTLP exporter [`super::init`] builds is wrapped in a [`Reported`],
//! which forwards everything and watches each export's result:
//!
//! - the first failure logs a `WARN` at once, naming the signal, transport,
//!   endpoint and error;
//! - later failures log at most one `WARN` per [`WARN_INTERVAL`], with the
//!   number of failures not logged since the previous one;
//! - the first success after a logged failure logs an `INFO`.
//!
//! The events have the target [`LOG_TARGET`] and no parent span, and are
//! emitted with OpenTelemetry's telemetry suppressed: they never become span
//! events (the OpenTelemetry layer ignores events outside spans) nor a log
//! record exported through the pipeline that is failing. Exports run in the
//! background tasks, never on a request's path.

use std::fmt;
use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use parking_lot::Mutex;

use super::ExportProtocol;
use super::export::Signal;

/// The `tracing` target of the export warnings.
pub(crate) const LOG_TARGET: &str = "sae_trace::export";

/// At most one warning per signal this often while exports keep failing.
pub(crate) const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// An exporter whose failures are logged (see the [module docs](self)).
pub(crate) struct Reported<E> {
    inner: E,
    report: ExportReport,
}

impl<E> Reported<E> {
    pub(super) fn new(inner: E, report: ExportReport) -> Self {
        Reported { inner, report }
    }
}

impl<E: fmt::Debug> fmt::Debug for Reported<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reported")
            .field("inner", &self.inner)
            .field("signal", &self.report.signal)
            .field("endpoint", &self.report.endpoint)
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter> SpanExporter for Reported<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.report.observe(&result, Instant::now());
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Reported<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.report.observe(&result, Instant::now());
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// What one exporter logs about its results, rate-limited.
pub(crate) struct ExportReport {
    signal: Signal,
    protocol: ExportProtocol,
    endpoint: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last warning was logged.
    warned_at: Option<Instant>,
    /// Failures since the last warning that were not logged.
    not_logged: u64,
    /// A warning was logged and no export has succeeded since.
    failing: bool,
}

impl ExportReport {
    pub(super) fn new(signal: Signal, protocol: ExportProtocol, endpoint: String) -> Self {
        ExportReport {
            signal,
            protocol,
            endpoint,
            state: Mutex::new(State::default()),
        }
    }

    /// Logs what `result`, an export's outcome at `now`, calls for.
    pub(crate) fn observe(&self, result: &OTelSdkResult, now: Instant) {
        match result {
            Ok(()) => {
                let mut state = self.state.lock();
                if !std::mem::take(&mut state.failing) {
                    return;
                }
                drop(state);
                self.recovered();
            }
            // Exporting after shutdown says nothing about the collector.
            Err(OTelSdkError::AlreadyShutdown) => {}
            Err(error) => {
                let mut state = self.state.lock();
                if state
                    .warned_at
                    .is_some_and(|at| now.saturating_duration_since(at) < WARN_INTERVAL)
                {
                    state.not_logged += 1;
                    return;
                }
                state.warned_at = Some(now);
                state.failing = true;
                let not_logged = std::mem::take(&mut state.not_logged);
                drop(state);
                self.failed(error, not_logged);
            }
        }
    }

    fn failed(&self, error: &OTelSdkError, not_logged: u64) {
        let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
        tracing::warn!(
            target: LOG_TARGET,
            parent: None,
            signal = self.signal.name(),
            protocol = self.protocol.as_str(),
            endpoint = %self.endpoint,
            %error,
            failures_not_logged = not_logged,
            "OTLP export of {} failed: they are lost until the collector answers \
             (check the endpoint and the protocol: grpc or http/protobuf); \
             at most one warning a minute",
            self.signal.name(),
        );
    }

    fn recovered(&self) {
        let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
        tracing::info!(
            target: LOG_TARGET,
            parent: None,
            signal = self.signal.name(),
            protocol = self.protocol.as_str(),
            endpoint = %self.endpoint,
            "OTLP export of {} works again",
            self.signal.name(),
        );
    }
}
