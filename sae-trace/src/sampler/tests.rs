use super::RootSampler;

#[test]
fn parses_every_spec_name_and_survives_garbage() {
    assert_eq!(RootSampler::parse(None, None), RootSampler::AlwaysOn);
    assert_eq!(
        RootSampler::parse(Some("always_on"), None),
        RootSampler::AlwaysOn
    );
    assert_eq!(
        RootSampler::parse(Some("parentbased_always_off"), None),
        RootSampler::AlwaysOff
    );
    assert_eq!(
        RootSampler::parse(Some("traceidratio"), Some("0.5")),
        RootSampler::Ratio(0.5)
    );
    assert_eq!(
        RootSampler::parse(Some("traceidratio"), Some("7")),
        RootSampler::Ratio(1.0)
    );
    assert_eq!(
        RootSampler::parse(Some("traceidratio"), Some("NaN")),
        RootSampler::Ratio(1.0)
    );
    assert_eq!(
        RootSampler::parse(Some("traceidratio"), Some("x")),
        RootSampler::Ratio(1.0)
    );
}

#[test]
fn extremes_decide_the_same_way_every_time() {
    assert!((0..100).all(|_| RootSampler::Ratio(1.0).sample()));
    assert!((0..100).all(|_| !RootSampler::Ratio(0.0).sample()));
    assert!((0..100).all(|_| !RootSampler::AlwaysOff.sample()));
}

mod follow_request {
    use std::convert::Infallible;

    use http::{Request, Response};
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
        TracerProvider as _,
    };
    use opentelemetry::{Context, global};
    use opentelemetry_sdk::trace::{
        InMemorySpanExporter, Sampler, SamplingDecision, SdkTracerProvider, ShouldSample,
    };
    use tower::{Layer, ServiceExt, service_fn};
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    use crate::sampler::StartInRequest;
    use crate::{FollowRequestSampler, RootSampler, Telemetry, Topology, carrier};

    fn decide(sampler: &impl ShouldSample, parent: Option<&Context>) -> SamplingDecision {
        sampler
            .should_sample(parent, TraceId::from(1), "s", &SpanKind::Internal, &[], &[])
            .decision
    }

    fn remote_parent(flags: TraceFlags) -> Context {
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(9),
            SpanId::from(9),
            flags,
            true,
            TraceState::NONE,
        ))
    }

    #[test]
    fn follows_a_parent_drops_roots_inside_an_unsampled_request_else_asks_its_root() {
        let always_on = FollowRequestSampler::new(Sampler::AlwaysOn);
        let always_off = FollowRequestSampler::new(Sampler::AlwaysOff);
        let sampled = remote_parent(TraceFlags::SAMPLED);
        let unsampled = remote_parent(TraceFlags::default());
        assert_eq!(
            decide(&always_off, Some(&sampled)),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(&always_on, Some(&unsampled)), SamplingDecision::Drop);
        assert_eq!(
            decide(&always_on, Some(&Context::new())),
            SamplingDecision::RecordAndSample
        );
        assert_eq!(decide(&always_on, None), SamplingDecision::RecordAndSample);
        assert_eq!(decide(&always_off, None), SamplingDecision::Drop);

        let request = carrier::UnsampledTrace::of(&crate::propagation::unsampled(None));
        let _carried = carrier::carry(Some(request));
        assert_eq!(decide(&always_on, None), SamplingDecision::Drop);
        assert_eq!(
            decide(&always_on, Some(&sampled)),
            SamplingDecision::RecordAndSample,
            "a sampled parent still wins"
        );
    }

    /// The spans exported for one request through a server layer whose
    /// handler opens a `tracing` span and an OpenTelemetry span (through the
    /// global tracer), on a real SDK provider sampling with `sdk_sampler`.
    async fn exported(
        sdk_sampler: impl ShouldSample + Clone + 'static,
        root: RootSampler,
    ) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(sdk_sampler)
            .build();
        global::set_tracer_provider(provider.clone());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(StartInRequest::default());
        let _subscriber = tracing::subscriber::set_default(subscriber);

        let meter = global::meter("test");
        let telemetry = Telemetry::with_meter("a", &meter, root, Topology::new());
        let handler = service_fn(|_request: Request<String>| async {
            tracing::info_span!("handler tracing span").in_scope(|| tracing::info!("working"));
            global::tracer("user").in_span("handler otel span", |_| {});
            // Entered only by the spawned task, outside the request's polls.
            let background = async { tracing::info!("later") }
                .instrument(tracing::info_span!("handler spawned span"));
            tokio::spawn(background).await.unwrap();
            Ok::<_, Infallible>(Response::new(String::new()))
        });
        let response = telemetry
            .http_server_layer()
            .layer(handler)
            .oneshot(Request::new(String::new()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        provider.force_flush().unwrap();
        exporter.get_finished_spans().unwrap()
    }

    fn named<'a>(
        spans: &'a [opentelemetry_sdk::trace::SpanData],
        name: &str,
    ) -> &'a opentelemetry_sdk::trace::SpanData {
        let found: Vec<_> = spans.iter().filter(|span| span.name == name).collect();
        assert_eq!(found.len(), 1, "{name}: {spans:#?}");
        found[0]
    }

    /// One test: the spans go through the process-wide global tracer.
    #[tokio::test]
    async fn handler_spans_follow_the_request_sampled_or_not() {
        let sampler = FollowRequestSampler::new(Sampler::AlwaysOn);

        let spans = exported(sampler.clone(), RootSampler::AlwaysOff).await;
        assert!(spans.is_empty(), "unsampled: no orphan roots: {spans:#?}");

        let spans = exported(sampler, RootSampler::AlwaysOn).await;
        assert_eq!(spans.len(), 4, "{spans:#?}");
        let server = named(&spans, "GET");
        assert_eq!(server.span_kind, SpanKind::Server);
        for name in [
            "handler tracing span",
            "handler otel span",
            "handler spawned span",
        ] {
            let handler = named(&spans, name);
            assert_eq!(handler.parent_span_id, server.span_context.span_id());
            assert_eq!(
                handler.span_context.trace_id(),
                server.span_context.trace_id()
            );
        }

        // Without it, the same unsampled request leaves sampled orphans.
        let parent_based = Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
        let spans = exported(parent_based, RootSampler::AlwaysOff).await;
        assert_eq!(spans.len(), 3, "{spans:#?}");
        assert!(
            spans
                .iter()
                .all(|span| span.parent_span_id == SpanId::INVALID)
        );
    }
}
