use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkError;
use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::export::{self, Signal};
use super::report::{ExportReport, LOG_TARGET, WARN_INTERVAL};
use super::{Config, ExportProtocol, providers};

/// One event seen by [`Captured`]: level, target and fields.
#[derive(Clone, Debug)]
struct Logged {
    level: tracing::Level,
    target: String,
    fields: BTreeMap<String, String>,
    has_parent: bool,
}

/// Records every event of the thread's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Logged>>>);

impl Captured {
    fn export_events(&self, level: tracing::Level, signal: &str) -> Vec<Logged> {
        self.0
            .lock()
            .iter()
            .filter(|logged| {
                logged.target == LOG_TARGET
                    && logged.level == level
                    && logged.fields.get("signal").map(String::as_str) == Some(signal)
            })
            .cloned()
            .collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S> tracing_subscriber::Layer<S> for Captured
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().push(Logged {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            has_parent: ctx.event_span(event).is_some(),
        });
    }
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    (captured, tracing::subscriber::set_default(subscriber))
}

fn report() -> ExportReport {
    ExportReport::new(
        Signal::Traces,
        ExportProtocol::Grpc,
        "http://127.0.0.1:9".to_owned(),
    )
}

fn failure() -> Result<(), OTelSdkError> {
    Err(OTelSdkError::InternalFailure(
        "connection refused".to_owned(),
    ))
}

#[test]
fn failures_warn_at_once_then_at_most_once_an_interval_and_recovery_is_told() {
    let (captured, _guard) = capture();
    let warnings = || captured.export_events(tracing::Level::WARN, "traces");
    let infos = || captured.export_events(tracing::Level::INFO, "traces");
    let report = report();
    let start = Instant::now();

    report.observe(&Ok(()), start);
    assert!(captured.0.lock().is_empty(), "success alone says nothing");

    report.observe(&failure(), start);
    assert_eq!(warnings().len(), 1, "the first failure warns at once");
    let first = &warnings()[0];
    assert_eq!(first.fields["endpoint"], "http://127.0.0.1:9");
    assert_eq!(first.fields["protocol"], "grpc");
    assert!(first.fields["error"].contains("connection refused"));
    assert_eq!(first.fields["failures_not_logged"], "0");
    assert!(!first.has_parent, "never inside a span");

    for second in 1..=5 {
        report.observe(&failure(), start + Duration::from_secs(second));
    }
    assert_eq!(warnings().len(), 1, "rate-limited");

    report.observe(&failure(), start + WARN_INTERVAL);
    assert_eq!(warnings().len(), 2, "one more after the interval");
    assert_eq!(warnings()[1].fields["failures_not_logged"], "5");

    report.observe(&Ok(()), start + WARN_INTERVAL + Duration::from_secs(1));
    assert_eq!(infos().len(), 1, "recovery is told once");
    report.observe(&Ok(()), start + WARN_INTERVAL + Duration::from_secs(2));
    assert_eq!(infos().len(), 1);

    // A flapping collector: still at most one warning an interval.
    report.observe(&failure(), start + WARN_INTERVAL + Duration::from_secs(3));
    assert_eq!(warnings().len(), 2);
    report.observe(
        &Err(OTelSdkError::AlreadyShutdown),
        start + WARN_INTERVAL * 3,
    );
    assert_eq!(
        warnings().len(),
        2,
        "exporting after shutdown is no failure"
    );
}

#[test]
fn protocols_parse_like_opentelemetry_otlp() {
    assert_eq!(export::parse_protocol("grpc"), Some(ExportProtocol::Grpc));
    assert_eq!(export::parse_protocol(" GRPC "), Some(ExportProtocol::Grpc));
    assert_eq!(
        export::parse_protocol("http/protobuf"),
        Some(ExportProtocol::HttpProtobuf)
    );
    assert_eq!(export::parse_protocol("http/json"), None);
    assert_eq!(export::parse_protocol(""), None);
}

#[test]
fn an_explicit_config_names_the_transport_and_endpoint() {
    let config = Config::new()
        .protocol(ExportProtocol::HttpProtobuf)
        .endpoint("http://collector:4318/");
    assert_eq!(
        export::protocol(&config, Signal::Traces),
        ExportProtocol::HttpProtobuf
    );
    assert_eq!(
        export::endpoint(&config, ExportProtocol::HttpProtobuf, Signal::Metrics),
        "http://collector:4318/v1/metrics"
    );
    let config = config.protocol(ExportProtocol::Grpc);
    assert_eq!(
        export::endpoint(&config, ExportProtocol::Grpc, Signal::Traces),
        "http://collector:4318/"
    );
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `init`'s providers, pointed at a closed port: every export fails
/// (connection refused, after opentelemetry-otlp's own retries), and each
/// signal says so exactly once: two flushes and the shutdown's last export
/// fail within the interval. A current-thread runtime runs the exporting
/// tasks on this thread, so this thread's subscriber sees their events; the
/// flushes, which block until those tasks answer, run off it.
async fn a_closed_port_is_reported_once_per_signal(protocol: ExportProtocol) {
    let (captured, _guard) = capture();
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let config = Config::new()
        .protocol(protocol)
        .endpoint(endpoint.clone())
        .metric_interval(Duration::from_secs(3600))
        .install_subscriber(false);
    let (traces, meters) = providers(&config).unwrap();

    for _ in 0..2 {
        traces.tracer("test").start("lost").end();
        meters.meter("test").u64_counter("lost").build().add(1, &[]);
        let (flushing_traces, flushing_meters) = (traces.clone(), meters.clone());
        let (traced, metered) = tokio::task::spawn_blocking(move || {
            (flushing_traces.force_flush(), flushing_meters.force_flush())
        })
        .await
        .unwrap();
        assert!(traced.is_err() && metered.is_err(), "nothing listens there");
    }
    tokio::task::spawn_blocking(move || {
        let _ = traces.shutdown();
        let _ = meters.shutdown();
    })
    .await
    .unwrap();

    for signal in ["traces", "metrics"] {
        let warnings = captured.export_events(tracing::Level::WARN, signal);
        assert_eq!(warnings.len(), 1, "{signal}: {warnings:#?}");
        let expected = match protocol {
            ExportProtocol::Grpc => endpoint.clone(),
            ExportProtocol::HttpProtobuf => format!("{endpoint}/v1/{signal}"),
        };
        assert_eq!(warnings[0].fields["endpoint"], expected);
        assert_eq!(warnings[0].fields["protocol"], protocol.to_string());
        assert!(!warnings[0].has_parent);
        assert!(
            captured
                .export_events(tracing::Level::INFO, signal)
                .is_empty()
        );
    }
}

#[cfg(feature = "otlp-grpc")]
#[tokio::test]
async fn a_closed_grpc_port_is_reported_while_serving() {
    a_closed_port_is_reported_once_per_signal(ExportProtocol::Grpc).await;
}

#[cfg(feature = "otlp-http")]
#[tokio::test]
async fn a_closed_http_port_is_reported_while_serving() {
    a_closed_port_is_reported_once_per_signal(ExportProtocol::HttpProtobuf).await;
}

/// The output `init` adds to the subscriber it installs: the export
/// warnings, and no other event.
#[test]
fn the_installed_subscriber_prints_export_warnings_and_nothing_else() {
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let written = Written::default();
    let writer = written.clone();
    let subscriber =
        tracing_subscriber::registry().with(super::export_warnings(move || writer.clone(), false));
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::info_span!("request").in_scope(|| tracing::warn!("a handler's warning"));
    tracing::error!(target: "sae_trace", "another target");
    report().observe(&failure(), Instant::now());

    let written = String::from_utf8(written.0.lock().clone()).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
    assert!(
        written.contains("WARN")
            && written.contains(LOG_TARGET)
            && written.contains("OTLP export of traces failed")
            && written.contains("endpoint=http://127.0.0.1:9"),
        "{written}"
    );
}
