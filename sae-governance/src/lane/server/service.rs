//! [`LaneService`]: the service [`LaneLayer`](super::LaneLayer) builds.

use std::task::{Context, Poll};

use std::sync::Arc;

use http::Request;
use sae_core::{Lane, lane, wire};
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
        let lane = self.lane_of(&mut request);
        // The inner `call` runs in the scope too: some services (a
        // `service_fn`, a router's synchronous part) start outbound calls there.
        let inner = &mut self.inner;
        let future = lane::sync_scope(lane.clone(), || inner.call(request));
        ResponseFuture::new(lane::scope(lane, future))
    }
}

impl<S> LaneService<S> {
    fn lane_of<B>(&self, request: &mut Request<B>) -> Option<Lane> {
        if !self.trust.believes_request(request.extensions()) {
            // From outside the system: nobody there may pick a lane or
            // claim to be a service.
            let headers = request.headers_mut();
            wire::lane::remove(headers);
            headers.remove(&wire::CALLER);
        }
        // A lane an outer layer decided is kept.
        let decided = RequestContext::from_extensions(request.extensions())
            .and_then(|context| context.lane.clone());
        let lane = decided
            .or_else(|| wire::lane::read(request.headers()))
            .or_else(|| {
                self.rules
                    .as_ref()
                    .and_then(|rules| rules.assign(request.headers(), request.uri()))
            });
        let caller = wire::caller::read(request.headers());
        let extensions = request.extensions_mut();
        match extensions.get_mut::<RequestContext>() {
            Some(context) => {
                context.lane = lane.clone();
                if context.caller.is_none() {
                    context.caller = caller;
                }
            }
            // A base request with no caller has nothing to record: an absent
            // context means exactly that, and inserting one would allocate
            // the request's extension map.
            None if lane.is_none() && caller.is_none() => {}
            None => RequestContext {
                lane: lane.clone(),
                caller,
            }
            .insert_into(extensions),
        }
        lane
    }
}
