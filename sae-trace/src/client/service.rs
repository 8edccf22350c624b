//! [`TraceClient`].

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::HeaderName;
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

const CALLER: HeaderName = HeaderName::from_static(wire::CALLER_HEADER);

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
        // The current context: the request being served (its span's, or the
        // unsampled trace the server layer attached), read without cloning.
        let parent = opentelemetry::Context::map_current(|current| {
            let span = current.span();
            let parent = span.span_context();
            parent.is_valid().then(|| parent.clone())
        });
        let sampled = match &parent {
            Some(parent) => parent.is_sampled(),
            None => telemetry.sampler.sample(),
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
            if parent.is_some() {
                let _ = span.set_parent(opentelemetry::Context::current());
            }
        }
        let propagated = if span.is_disabled() {
            propagation::unsampled(parent)
        } else {
            span.context().span().span_context().clone()
        };
        let headers = request.headers_mut();
        opentelemetry::Context::map_current(|current| {
            propagation::inject(&propagated, current, lane.as_ref(), headers);
        });
        if let Some(caller) = &telemetry.caller_header
            && !headers.contains_key(&CALLER)
        {
            // A `HeaderName` constant: inserting a `&str` name copies it.
            headers.insert(CALLER, caller.clone());
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
