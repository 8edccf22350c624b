//! Test set-up shared by the layers' tests: spans recorded in memory.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// A tracer provider exporting to memory, and this thread's `tracing`
/// subscriber (the OpenTelemetry layer on it) until it is dropped. Nothing
/// global is touched, so tests stay independent; run the traced code on
/// this thread (`#[tokio::test]`'s current-thread runtime does).
pub(crate) struct Recording {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Recording {
    pub(crate) fn start() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(crate::FollowRequestSampler::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOn,
            ))
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        Recording {
            exporter,
            provider,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The spans finished so far.
    pub(crate) fn spans(&self) -> Vec<SpanData> {
        self.provider.force_flush().unwrap();
        self.exporter.get_finished_spans().unwrap()
    }

    /// The one finished span of `kind`.
    pub(crate) fn one(&self, kind: opentelemetry::trace::SpanKind) -> SpanData {
        let spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|span| span.span_kind == kind)
            .collect();
        assert_eq!(spans.len(), 1, "{kind:?}: {spans:#?}");
        spans.into_iter().next().unwrap()
    }
}

/// The string value of attribute `key` of `span`, if it has one.
pub(crate) fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| attribute.value.as_str().into_owned())
}

/// Makes this thread trace nothing until the guard is dropped, for tests of
/// the unsampled path.
///
/// Without a subscriber of its own, a thread is not enough: `tracing`
/// caches each callsite's interest over every live subscriber, so while
/// another test thread has one that always wants sae's spans, a span made
/// here is built (by the no-op subscriber) instead of disabled, and the
/// layers would take the sampled path. A subscriber of this thread that
/// wants nothing makes the interest "ask each time", and the answer here no.
pub(crate) fn trace_nothing() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default())
}
