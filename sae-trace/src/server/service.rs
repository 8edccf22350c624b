//! [`TraceServer`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response};
use opentelemetry::trace::TraceContextExt;
use sae_core::{Lane, RequestContext, ServiceName, wire};
use tower_service::Service;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ResponseFuture;
use crate::body::TracedBody;
use crate::call::Call;
use crate::carrier::{self, UnsampledTrace};
use crate::recorder::{Kind, Recorder, Side};
use crate::spans::{self, ServerFacts};
use crate::{Telemetry, propagation};

/// A service traced by [`super::TraceServerLayer`].
#[derive(Clone, Debug)]
pub struct TraceServer<S> {
    inner: S,
    recorder: Arc<Recorder>,
}

impl<S> TraceServer<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }

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
            let (lane, caller) = lane_and_caller(&request);
            let facts = ServerFacts {
                service: &telemetry.service,
                route: matched.map(MatchedPath::as_str),
                lane: lane.as_ref().map(Lane::as_str),
                caller: caller.as_ref().map(ServiceName::as_str),
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

/// The request's lane and caller for the span (sampled requests only).
///
/// The [`RequestContext`] the lane layer stored, when there is one: it
/// decided the lane (an ingress rule's included) and checked the caller.
/// Without one (no lane layer outside this one), what the headers say,
/// through sae-core's codec: a valid `x-sae-tag`, else a valid `sae-tag`
/// baggage member; a valid service name in `x-sae-caller`. A malformed or
/// hostile value never reaches the span.
fn lane_and_caller<B>(request: &Request<B>) -> (Option<Lane>, Option<ServiceName>) {
    match RequestContext::from_extensions(request.extensions()) {
        // The context's lane is the decision, `None` (base) included; a
        // context may not name the caller (a lane an outer layer assigned),
        // then the header says, validated.
        Some(context) => (
            context.lane.clone(),
            context
                .caller
                .clone()
                .or_else(|| wire::caller::read(request.headers())),
        ),
        None => (
            wire::lane::read(request.headers()),
            wire::caller::read(request.headers()),
        ),
    }
}
