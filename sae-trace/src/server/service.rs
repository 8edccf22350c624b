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
use crate::spans::{self, ServerFacts};
use crate::{Telemetry, propagation};

/// A service traced by [`super::ServerLayer`].
#[derive(Clone, Debug)]
pub struct TraceServer<S> {
    inner: S,
    telemetry: Telemetry,
    kind: Kind,
}

impl<S> TraceServer<S> {
    pub(crate) fn new(inner: S, telemetry: Telemetry, kind: Kind) -> Self {
        TraceServer {
            inner,
            telemetry,
            kind,
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
        let telemetry = &self.telemetry.inner;
        // Decide first: an unsampled request builds no span and no attribute.
        let parent = propagation::extract_parent(request.headers());
        let sampled = match &parent {
            Some(parent) => parent.is_sampled(),
            None => telemetry.sampler.sample(),
        };
        let baggage = propagation::extract_baggage(request.headers());
        let matched = request.extensions().get::<MatchedPath>();
        let route = matched.and_then(|path| telemetry.route(path.as_str()));
        let rpc = match self.kind {
            Kind::Grpc => telemetry.rpc_name(request.uri().path()),
            Kind::Http => None,
        };
        let mut span = Span::none();
        if sampled {
            let lane = lane_of(&request, &baggage);
            let facts = ServerFacts {
                service: &telemetry.service,
                route: matched.map(MatchedPath::as_str),
                lane: lane.as_deref(),
                caller: request
                    .headers()
                    .get(wire::CALLER_HEADER)
                    .and_then(|value| value.to_str().ok()),
            };
            span = match self.kind {
                Kind::Http => spans::http_server(&request, &facts),
                Kind::Grpc => spans::grpc_server(&request, &facts),
            };
        }
        // A disabled span (unsampled, or filtered out by the subscriber) carries
        // the trace context in an attached Context instead: the client layer
        // propagates it and a handler's own OpenTelemetry spans follow its
        // "not sampled".
        let context = if span.is_disabled() {
            let span_context = propagation::unsampled(parent);
            Some(baggage.with_remote_span_context(span_context))
        } else {
            let parent = match parent {
                Some(parent) => baggage.with_remote_span_context(parent),
                None => baggage,
            };
            let _ = span.set_parent(parent);
            None
        };
        let call = Call::new(
            Arc::clone(telemetry),
            Side::Server,
            self.kind,
            start,
            span,
            request.method(),
            route,
            rpc,
            None,
        );
        let inner = {
            let _entered = call.span.enter();
            let _attached = context.as_ref().map(|context| context.clone().attach());
            self.inner.call(request)
        };
        ResponseFuture::new(inner, call, context)
    }
}

/// The request's lane: the header is authoritative at ingress, else baggage.
fn lane_of<B>(request: &Request<B>, baggage: &opentelemetry::Context) -> Option<String> {
    let header = request
        .headers()
        .get(wire::LANE_HEADER)
        .map(|value| value.as_bytes())
        .filter(|value| Lane::is_valid(value));
    match header {
        Some(value) => std::str::from_utf8(value).ok().map(str::to_owned),
        None => baggage
            .baggage()
            .get(wire::LANE_BAGGAGE_KEY)
            .map(|value| value.as_str().to_owned())
            .filter(|value| Lane::is_valid(value.as_bytes())),
    }
}
