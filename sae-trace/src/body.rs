//! [`TracedBody`]: a response body that finishes a gRPC call at its trailers.
//!
//! A gRPC status usually arrives in the trailers, after the body, so a gRPC
//! call can only be finished (status on the span, duration, error count) when
//! the body ends. HTTP calls finish at the response head and their bodies
//! pass through untouched.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

use crate::call::{Call, GRPC_UNKNOWN, Outcome, grpc_status};

/// A response body from a sae trace layer: a gRPC call is finished (status,
/// duration, error count) when its trailers pass; HTTP bodies pass through.
#[pin_project]
pub struct TracedBody<B> {
    #[pin]
    inner: B,
    call: Option<Call>,
}

impl<B> TracedBody<B> {
    pub(crate) fn plain(inner: B) -> Self {
        TracedBody { inner, call: None }
    }

    pub(crate) fn finishing(inner: B, call: Call) -> Self {
        TracedBody {
            inner,
            call: Some(call),
        }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(call) = this.call.as_mut() {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        call.finish(Outcome::Grpc(grpc_status(trailers).unwrap_or(GRPC_UNKNOWN)));
                        *this.call = None;
                    }
                }
                Some(Err(_)) => {
                    call.finish(Outcome::Failed);
                    *this.call = None;
                }
                // Ended without trailers: no status, which gRPC reads as UNKNOWN.
                None => {
                    call.finish(Outcome::Grpc(GRPC_UNKNOWN));
                    *this.call = None;
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedBody")
            .field("finishing", &self.call.is_some())
            .finish_non_exhaustive()
    }
}
