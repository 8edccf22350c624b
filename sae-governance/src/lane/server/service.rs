//! [`LaneService`]: the service [`LaneLayer`](super::LaneLayer) builds.

use std::task::{Context, Poll};

use std::sync::Arc;

use http::Request;
use sae_core::inbound::{self, Inbound};
use sae_core::wire::{self, SaeHeaders};
use sae_core::{Lane, ServiceName};
use tokio::time::Instant;
use tower_service::Service;

use super::{RequestContext, ResponseFuture};
use crate::lane::{IngressTrust, LaneRules};

/// Runs `S` in the lane of each request; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct LaneService<S> {
    inner: S,
    rules: Option<LaneRules>,
    trust: Arc<IngressTrust>,
}

impl<S> LaneService<S> {
    pub(super) fn new(inner: S, rules: Option<LaneRules>, trust: Arc<IngressTrust>) -> Self {
        LaneService {
            inner,
            rules,
            trust,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for LaneService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let inbound = self.inbound_of(&mut request);
        // The inner `call` runs in the scope too: some services (a
        // `service_fn`, a router's synchronous part) start outbound calls there.
        let inner = &mut self.inner;
        let future = inbound::sync_scope(inbound.clone(), || inner.call(request));
        ResponseFuture::new(inbound::scope(inbound, future))
    }
}

impl<S> LaneService<S> {
    /// The request's inbound context: its lane (stored in the
    /// `RequestContext` too, with the caller), its deadline and whether it
    /// is a retry.
    fn inbound_of<B>(&self, request: &mut Request<B>) -> Inbound {
        if !self.trust.believes_request(request.extensions()) {
            // From outside the system: nobody there may pick a lane, claim
            // to be a service, set a deadline or say it is a retry.
            let headers = request.headers_mut();
            wire::lane::remove(headers);
            headers.remove(&wire::CALLER);
            headers.remove(&wire::TIMEOUT);
            headers.remove(&wire::GRPC_TIMEOUT);
            headers.remove(&wire::RETRY);
        }
        let found = SaeHeaders::scan(request.headers());
        // Only a request that names a deadline reads the clock.
        let deadline = found.deadline().map(|budget| Instant::now() + budget);
        let retried = found.retried();
        let (lane, caller) = self.lane_of(request, &found);
        record(request.extensions_mut(), lane.clone(), caller);
        Inbound {
            lane,
            deadline,
            retried,
        }
    }

    /// The request's lane: one an outer layer decided, else the headers',
    /// else the rules'; and its caller.
    fn lane_of<B>(
        &self,
        request: &Request<B>,
        found: &SaeHeaders<'_>,
    ) -> (Option<Lane>, Option<ServiceName>) {
        let decided = RequestContext::from_extensions(request.extensions())
            .and_then(|context| context.lane.clone());
        let lane = decided.or_else(|| found.lane()).or_else(|| {
            self.rules
                .as_ref()
                .and_then(|rules| rules.assign(request.headers(), request.uri()))
        });
        (lane, found.caller())
    }
}

/// Stores the lane and caller in the request's [`RequestContext`].
fn record(extensions: &mut http::Extensions, lane: Option<Lane>, caller: Option<ServiceName>) {
    match extensions.get_mut::<RequestContext>() {
        Some(context) => {
            context.lane = lane;
            if context.caller.is_none() {
                context.caller = caller;
            }
        }
        // A base request with no caller has nothing to record: an absent
        // context means exactly that, and inserting one would allocate
        // the request's extension map.
        None if lane.is_none() && caller.is_none() => {}
        None => RequestContext { lane, caller }.insert_into(extensions),
    }
}
