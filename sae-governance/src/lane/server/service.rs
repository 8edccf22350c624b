//! [`LaneService`]: the service [`LaneLayer`](super::LaneLayer) builds.

use std::task::{Context, Poll};

use http::{Request, header::HeaderName};
use sae_core::{Lane, ServiceName, wire};
use tower_service::Service;

use super::{RequestContext, ResponseFuture};
use crate::lane::{LaneRules, extract, scope};

static CALLER: HeaderName = HeaderName::from_static(wire::CALLER_HEADER);

/// Runs `S` in the lane of each request; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct LaneService<S> {
    inner: S,
    rules: Option<LaneRules>,
}

impl<S> LaneService<S> {
    pub(super) fn new(inner: S, rules: Option<LaneRules>) -> Self {
        LaneService { inner, rules }
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
        let future = scope::sync_scope(lane.clone(), || inner.call(request));
        ResponseFuture::new(scope::scope(lane, future))
    }
}

impl<S> LaneService<S> {
    fn lane_of<B>(&self, request: &mut Request<B>) -> Option<Lane> {
        if let Some(context) = RequestContext::from_extensions(request.extensions())
            && let Some(lane) = &context.lane
        {
            return Some(lane.clone());
        }
        let lane = extract::from_headers(request.headers()).or_else(|| {
            self.rules
                .as_ref()
                .and_then(|rules| rules.assign(request.headers(), request.uri()))
        });
        let caller = request
            .headers()
            .get(&CALLER)
            .and_then(|value| value.to_str().ok())
            .and_then(|name| ServiceName::new(name).ok());
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
