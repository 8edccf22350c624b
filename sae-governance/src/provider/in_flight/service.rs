//! [`TrackInFlight`]: the service the layer builds.

use std::task::{Context, Poll};

use tower_service::Service;

use super::{InFlight, ResponseFuture};

/// Counts the requests of `S` in flight; built by [`InFlightLayer`](super::InFlightLayer).
#[derive(Clone, Debug)]
pub struct TrackInFlight<S> {
    inner: S,
    tracker: InFlight,
}

impl<S> TrackInFlight<S> {
    pub(super) fn new(inner: S, tracker: InFlight) -> Self {
        TrackInFlight { inner, tracker }
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

impl<S, Request> Service<Request> for TrackInFlight<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let guard = self.tracker.guard();
        ResponseFuture::new(self.inner.call(request), guard)
    }
}
