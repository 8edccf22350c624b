//! [`TraceServer`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use sae_core::{Lane, wire};
use tower_service::Service;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ResponseFuture;
use crate::body::TracedBody;
use crate::call::{Call, Kind, Side};
use crate::carrier::{self, UnsampledTrace};
use crate::recorder::Recorder;
use crate::spans::{self, ServerFacts};
use crate::{Telemetry, propagation};

/// A service traced by [`super::ServerLayer`].
#[derive(Clone, Debug)]
pub struct TraceServer<S> {
    inner: S,
    recorder: Arc<Recorder>,
}

impl<S> TraceServer<S> {
    pub(crate) fn new(inner: S, telemetry: &Telemetry, kind: Kind) -> Self {
        TraceServer {
            inner,
            recorder: Arc::new(Recorder::new(
                Arc::clone(&telemetry.inner),
                Side::Server,
                kind,
                None,
            )),
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for TraceServer<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let telemetry = &self.recorder.telemetry;
        let kind = self.recorder.kind;
        // Decide first: an unsampled request builds no span and no attribute.
        let parent = propagation::extract_parent(request.headers());
        let sampled = match &parent {
            Some(parent) => parent.is_sampled(),
            None => telemetry.sampler.sample(),
        };
        let baggage = propagation::extract_baggage(request.headers());
        let matched = request.extensions().get::<MatchedPath>();
        let route = matched.and_then(|path| telemetry.route(path.as_str()));
        let rpc = match kind {
            Kind::Grpc => telemetry.rpc_name(request.uri().path()),
            Kind::Http => None,
        };
        let mut span = Span::none();
        if sampled {
            let lane = lane_of(&request, baggage.as_ref());
            let facts = ServerFacts {
                service: &telemetry.service,
                route: matched.map(MatchedPath::as_str),
                lane: lane.as_deref(),
                caller: request
                    .headers()
                    .get(wire::CALLER_HEADER)
                    .and_then(|value| value.to_str().ok()),
            };
            span = match kind {
                Kind::Http => spans::http_server(&request, &facts),
                Kind::Grpc => spans::grpc_server(&request, &facts),
            };
        }
        // A disabled span (unsampled, or filtered out by the subscriber) leaves
        // the trace's ids in the thread's carrier while the handler runs (no
        // allocation): the client layer propagates them and
        // `FollowRequestSampler` drops the handler's own root spans. Incoming
        // baggage or tracestate (rare) go in an attached OpenTelemetry Context
        // instead, which carries them to the handler's code and the client.
        let mut carried = None;
        let mut context = None;
        if span.is_disabled() {
            let span_context = propagation::unsampled(parent);
            if baggage.is_none() && span_context.trace_state().into_iter().len() == 0 {
                carried = Some(UnsampledTrace::of(&span_context));
            } else {
                let baggage = baggage.unwrap_or_default();
                context = Some(baggage.with_remote_span_context(span_context));
            }
        } else {
            let parent = match (parent, baggage) {
                (Some(parent), Some(baggage)) => baggage.with_remote_span_context(parent),
                (Some(parent), None) => {
                    opentelemetry::Context::new().with_remote_span_context(parent)
                }
                (None, Some(baggage)) => baggage,
                (None, None) => opentelemetry::Context::new(),
            };
            let _ = span.set_parent(parent);
        }
        let call = Call::new(
            Arc::clone(&self.recorder),
            start,
            span,
            request.method(),
            route,
            rpc,
        );
        let inner = {
            let _entered = call.span.enter();
            let _attached = context.clone().map(opentelemetry::Context::attach);
            let _carried = carrier::carry(carried);
            self.inner.call(request)
        };
        ResponseFuture::new(inner, call, carried, context)
    }
}

/// The request's lane: the header is authoritative at ingress, else baggage.
fn lane_of<B>(request: &Request<B>, baggage: Option<&opentelemetry::Context>) -> Option<String> {
    let header = request
        .headers()
        .get(wire::LANE_HEADER)
        .map(|value| value.as_bytes())
        .filter(|value| Lane::is_valid(value));
    match header {
        Some(value) => std::str::from_utf8(value).ok().map(str::to_owned),
        None => baggage?
            .baggage()
            .get(wire::LANE_BAGGAGE_KEY)
            .map(|value| value.as_str().to_owned())
            .filter(|value| Lane::is_valid(value.as_bytes())),
    }
}
