//! [`TraceClient`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::trace::TraceContextExt;
use sae_core::{RequestContext, wire};
use tower_service::Service;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::ResponseFuture;
use crate::body::TracedBody;
use crate::call::Call;
use crate::carrier::{self, UnsampledTrace};
use crate::recorder::{Kind, Recorder, Side};
use crate::spans::{self, ClientFacts};
use crate::topology::EdgeStats;
use crate::{Telemetry, propagation};

/// A client service traced by [`super::TraceClientLayer`].
#[derive(Clone, Debug)]
pub struct TraceClient<S> {
    inner: S,
    recorder: Arc<Recorder>,
    callee: Arc<str>,
}

impl<S> TraceClient<S> {
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

    pub(crate) fn new(
        inner: S,
        telemetry: &Telemetry,
        callee: Arc<str>,
        edge: Arc<EdgeStats>,
        kind: Kind,
    ) -> Self {
        TraceClient {
            inner,
            recorder: Arc::new(Recorder::new(
                Arc::clone(&telemetry.inner),
                Side::Client,
                kind,
                Some(edge),
            )),
            callee,
        }
    }
}

impl<S, B, ResBody> Service<Request<B>> for TraceClient<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let telemetry = &self.recorder.telemetry;
        let kind = self.recorder.kind;
        let parent = parent();
        let sampled = match parent {
            Parent::SampledSpan => true,
            Parent::UnsampledRequest(_) | Parent::UnsampledSpan => false,
            Parent::None => telemetry.sampler.sample(),
        };
        let mut span = Span::none();
        if sampled {
            // The lane this call carries: an explicit context in the
            // request's extensions, else the task's (the usual case). The
            // client inside writes it on the wire; the span only says it.
            let lane = RequestContext::outbound_lane(request.extensions());
            let facts = ClientFacts {
                caller: &telemetry.service,
                callee: &self.callee,
                lane: lane.as_ref().map(|lane| lane.as_str()),
            };
            span = match kind {
                Kind::Http => spans::http_client(&request, &facts),
                Kind::Grpc => spans::grpc_client(&request, &facts),
            };
            if parent == Parent::SampledSpan {
                let _ = span.set_parent(opentelemetry::Context::current());
            }
        }
        let headers = request.headers_mut();
        if !span.is_disabled() {
            let propagated = span.context().span().span_context().clone();
            opentelemetry::Context::map_current(|current| {
                propagation::inject(&propagated, current, headers);
            });
        } else if let Parent::UnsampledRequest(trace) = parent {
            let propagated = trace.span_context();
            opentelemetry::Context::map_current(|current| {
                propagation::inject(&propagated, current, headers);
            });
        } else if parent == Parent::None {
            let root = propagation::unsampled(None);
            opentelemetry::Context::map_current(|current| {
                propagation::inject(&root, current, headers);
            });
        } else {
            // The current span's context, as it is (a span filtered out by
            // the subscriber leaves its parent's sampled flag).
            opentelemetry::Context::map_current(|current| {
                propagation::inject(current.span().span_context(), current, headers);
            });
        }
        // A caller's own value is kept.
        if let Some(caller) = &telemetry.caller_header {
            wire::caller::write_if_absent(headers, caller);
        }
        let rpc = match kind {
            Kind::Grpc => telemetry.rpc_name(request.uri().path()),
            Kind::Http => None,
        };
        let call = Call::new(
            Arc::clone(&self.recorder),
            start,
            span,
            request.method(),
            None,
            rpc,
        );
        let inner = {
            let _entered = call.span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(inner, call)
    }
}

/// Whose trace a call continues, in this order: a sampled OpenTelemetry span
/// current on this thread (the sampled request being served, or the user's
/// own span), the unsampled sae request being served (the carrier), an
/// unsampled OpenTelemetry span; else a new trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parent {
    SampledSpan,
    UnsampledRequest(UnsampledTrace),
    UnsampledSpan,
    None,
}

fn parent() -> Parent {
    let current = opentelemetry::Context::map_current(|current| {
        let span = current.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| span_context.is_sampled())
    });
    if current == Some(true) {
        return Parent::SampledSpan;
    }
    match (carrier::current(), current) {
        (Some(trace), _) => Parent::UnsampledRequest(trace),
        (None, Some(_)) => Parent::UnsampledSpan,
        (None, None) => Parent::None,
    }
}
