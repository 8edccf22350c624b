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
use crate::call::{Call, Kind, Side};
use crate::spans::{self, ClientFacts};
use crate::topology::EdgeStats;
use crate::{Telemetry, propagation};

/// A client service traced by [`super::ClientLayer`].
#[derive(Clone, Debug)]
pub struct TraceClient<S> {
    inner: S,
    telemetry: Telemetry,
    callee: Arc<str>,
    edge: Arc<EdgeStats>,
    kind: Kind,
}

impl<S> TraceClient<S> {
    pub(crate) fn new(
        inner: S,
        telemetry: Telemetry,
        callee: Arc<str>,
        edge: Arc<EdgeStats>,
        kind: Kind,
    ) -> Self {
        TraceClient {
            inner,
            telemetry,
            callee,
            edge,
            kind,
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
        let telemetry = &self.telemetry.inner;
        let current = opentelemetry::Context::current();
        let (has_parent, sampled) = {
            let span = current.span();
            let parent = span.span_context();
            if parent.is_valid() {
                (true, parent.is_sampled())
            } else {
                (false, telemetry.sampler.sample())
            }
        };
        let lane = RequestContext::from_extensions(request.extensions())
            .and_then(|context| context.lane.clone());
        let mut span = Span::none();
        if sampled {
            let facts = ClientFacts {
                caller: &telemetry.service,
                callee: &self.callee,
                lane: lane.as_ref().map(|lane| lane.as_str()),
            };
            span = match self.kind {
                Kind::Http => spans::http_client(&request, &facts),
                Kind::Grpc => spans::grpc_client(&request, &facts),
            };
            if has_parent {
                let _ = span.set_parent(current.clone());
            }
        }
        let propagated = if span.is_disabled() {
            propagation::unsampled(current)
        } else {
            span.context()
        };
        let headers = request.headers_mut();
        propagation::inject(&propagated, lane.as_ref(), headers);
        if let Some(caller) = &telemetry.caller_header
            && !headers.contains_key(wire::CALLER_HEADER)
        {
            headers.insert(wire::CALLER_HEADER, caller.clone());
        }
        let rpc = match self.kind {
            Kind::Grpc => telemetry.rpc_name(request.uri().path()),
            Kind::Http => None,
        };
        let call = Call::new(
            Arc::clone(telemetry),
            Side::Client,
            self.kind,
            start,
            span,
            request.method(),
            None,
            rpc,
            Some(Arc::clone(&self.edge)),
        );
        let inner = {
            let _entered = call.span.enter();
            self.inner.call(request)
        };
        ResponseFuture::new(inner, call)
    }
}
