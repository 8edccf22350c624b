//! [`ResponseFuture`] of [`super::TraceClient`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project::pin_project;

use crate::body::TracedBody;
use crate::call::Call;
use crate::server::future_finish as finish;

/// Runs the inner call inside the client span (so the balancer's events and
/// `sae.instance.id` land in it), then finishes the call at the head (HTTP,
/// trailers-only gRPC) or hands it to the body (gRPC).
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    call: Option<Call>,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, call: Call) -> Self {
        ResponseFuture {
            inner,
            call: Some(call),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            ready!(this.inner.poll(cx))
        };
        match this.call.take() {
            Some(call) => Poll::Ready(finish(call, result)),
            None => Poll::Ready(result.map(|response| response.map(TracedBody::plain))),
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
