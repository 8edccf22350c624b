//! [`ResponseFuture`] of [`super::TraceServer`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project::pin_project;

use crate::body::TracedBody;
use crate::call::{Call, Outcome, grpc_status};
use crate::carrier::{self, UnsampledTrace};
use crate::recorder::Kind;

/// Runs the inner future inside the request's span (or, unsampled, with its
/// trace in the thread's carrier), then finishes the call at the head (HTTP,
/// trailers-only gRPC) or hands it to the body (gRPC).
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    call: Option<Call>,
    /// The unsampled trace, put in the carrier around each poll.
    carried: Option<UnsampledTrace>,
    /// Only when the request carried baggage or a tracestate: attached
    /// around each poll.
    context: Option<opentelemetry::Context>,
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        call: Call,
        carried: Option<UnsampledTrace>,
        context: Option<opentelemetry::Context>,
    ) -> Self {
        ResponseFuture {
            inner,
            call: Some(call),
            carried,
            context,
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
            let _attached = this.context.clone().map(opentelemetry::Context::attach);
            let _carried = carrier::carry(*this.carried);
            ready!(this.inner.poll(cx))
        };
        let Some(call) = this.call.take() else {
            return Poll::Ready(result.map(|response| response.map(TracedBody::plain)));
        };
        Poll::Ready(finish(call, result))
    }
}

/// Finishes `call` with the response head, or hands it to the body.
pub(crate) fn finish<B, E>(
    mut call: Call,
    result: Result<Response<B>, E>,
) -> Result<Response<TracedBody<B>>, E> {
    match result {
        Ok(response) => match call.kind() {
            Kind::Http => {
                call.finish(Outcome::Http(response.status()));
                Ok(response.map(TracedBody::plain))
            }
            Kind::Grpc => match grpc_status(response.headers()) {
                Some(code) => {
                    call.finish(Outcome::Grpc(code));
                    Ok(response.map(TracedBody::plain))
                }
                None => Ok(response.map(|body| TracedBody::finishing(body, call))),
            },
        },
        Err(error) => {
            call.finish(Outcome::Failed);
            Err(error)
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
