//! [`TraceGuard`]: owns the providers; flushes on shutdown.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use sae_core::{Lifecycle, Phase};
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::sampler::StartInRequest;
use crate::{GovernanceCounters, RootSampler, Telemetry, Topology};

/// Why [`TraceGuard::shutdown`] or [`TraceGuard::flush`] reported a failure.
#[derive(Debug, thiserror::Error)]
#[error("OpenTelemetry {what} failed: traces: {traces:?}, metrics: {metrics:?}")]
pub struct ShutdownError {
    what: &'static str,
    traces: Option<OTelSdkError>,
    metrics: Option<OTelSdkError>,
}

/// Returned by [`crate::init()`]: the tracer and meter providers, the root
/// sampler and the shared [`Topology`].
///
/// Call [`TraceGuard::shutdown`] before the process exits: it exports what is
/// buffered. Dropping the guard without it starts the shutdown on a helper
/// thread and does not wait (it cannot block a runtime thread safely).
pub struct TraceGuard {
    providers: Option<(SdkTracerProvider, SdkMeterProvider)>,
    sampler: RootSampler,
    topology: Topology,
}

impl TraceGuard {
    pub(crate) fn new(
        tracer_provider: SdkTracerProvider,
        meter_provider: SdkMeterProvider,
        sampler: RootSampler,
    ) -> Self {
        TraceGuard {
            providers: Some((tracer_provider, meter_provider)),
            sampler,
            topology: Topology::new(),
        }
    }

    /// The shared state of the trace layers of `service`, recording on this
    /// guard's meter provider and feeding its topology.
    pub fn telemetry(&self, service: &str) -> Telemetry {
        let meter = match &self.providers {
            Some((_, meters)) => meters.meter("sae"),
            None => opentelemetry::global::meter("sae"),
        };
        Telemetry::with_meter(service, &meter, self.sampler, self.topology.clone())
    }

    /// The call topology of every [`Telemetry`] made by this guard.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The `tracing` layer to add to your own subscriber (when
    /// [`crate::Config::install_subscriber`] is off): the OpenTelemetry layer,
    /// INFO and above, a layer that starts the spans created during an
    /// unsampled request at once (so [`crate::FollowRequestSampler`] drops
    /// them even when they are entered later elsewhere), and the
    /// [`GovernanceCounters`].
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let (tracer_provider, meter_provider) = match &self.providers {
            Some((traces, meters)) => (traces.clone(), meters.clone()),
            None => (SdkTracerProvider::default(), SdkMeterProvider::default()),
        };
        let spans = tracing_opentelemetry::layer()
            .with_tracer(tracer_provider.tracer("sae"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
        spans
            .and_then(StartInRequest::default())
            .and_then(GovernanceCounters::new(&meter_provider.meter("sae")))
    }

    /// Exports everything buffered now, without stopping.
    ///
    /// # Errors
    ///
    /// An exporter failed (the collector is unreachable, for example).
    pub async fn flush(&self) -> Result<(), ShutdownError> {
        let Some((traces, meters)) = self.providers.clone() else {
            return Ok(());
        };
        run_blocking("flush", move || {
            (traces.force_flush(), meters.force_flush())
        })
        .await
    }

    /// Flushes and stops both providers.
    ///
    /// # Errors
    ///
    /// An exporter failed while flushing.
    pub async fn shutdown(mut self) -> Result<(), ShutdownError> {
        let Some((traces, meters)) = self.providers.take() else {
            return Ok(());
        };
        run_blocking("shutdown", move || (traces.shutdown(), meters.shutdown())).await
    }

    /// Flushes once `lifecycle` reaches [`Phase::Stopped`], so a provider's
    /// graceful stop loses no span. Returns the task, which ends after the flush.
    pub fn flush_when_stopped(&self, lifecycle: &Lifecycle) -> tokio::task::JoinHandle<()> {
        let lifecycle = lifecycle.clone();
        let providers = self.providers.clone();
        tokio::spawn(async move {
            lifecycle.reached(Phase::Stopped).await;
            if let Some((traces, meters)) = providers
                && let Err(error) = run_blocking("flush", move || {
                    (traces.force_flush(), meters.force_flush())
                })
                .await
            {
                tracing::warn!(%error, "flushing telemetry at Stopped failed");
            }
        })
    }
}

/// The SDK's flush and shutdown block until the exporting task answers, so
/// they run off the runtime's threads (a current-thread runtime would
/// otherwise deadlock).
async fn run_blocking(
    what: &'static str,
    work: impl FnOnce() -> (Result<(), OTelSdkError>, Result<(), OTelSdkError>) + Send + 'static,
) -> Result<(), ShutdownError> {
    let (traces, metrics) = match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome,
        Err(join) => (
            Err(OTelSdkError::InternalFailure(join.to_string())),
            Err(OTelSdkError::InternalFailure(join.to_string())),
        ),
    };
    // Already shut down is not a failure of this call.
    let traces = traces
        .err()
        .filter(|e| !matches!(e, OTelSdkError::AlreadyShutdown));
    let metrics = metrics
        .err()
        .filter(|e| !matches!(e, OTelSdkError::AlreadyShutdown));
    if traces.is_none() && metrics.is_none() {
        Ok(())
    } else {
        Err(ShutdownError {
            what,
            traces,
            metrics,
        })
    }
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        if let Some((traces, meters)) = self.providers.take() {
            let _ = std::thread::Builder::new()
                .name("sae-trace-shutdown".into())
                .spawn(move || {
                    let _ = traces.shutdown();
                    let _ = meters.shutdown();
                });
        }
    }
}

impl std::fmt::Debug for TraceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceGuard")
            .field("running", &self.providers.is_some())
            .field("sampler", &self.sampler)
            .finish_non_exhaustive()
    }
}
