//! [`ClientBody`]: the response body of a [`Client`](super::Client) call.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use pin_project::pin_project;

/// The body of a response a [`Client`](super::Client) returns: the
/// provider's (hyper's `Incoming`), or the body of a circuit breaker's
/// fallback, made here with no request sent.
#[pin_project(project = Projected)]
#[derive(Debug)]
pub enum ClientBody {
    /// The provider's body.
    Incoming(#[pin] Incoming),
    /// A fallback's body.
    Fallback(#[pin] Full<Bytes>),
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.project() {
            Projected::Incoming(body) => body.poll_frame(cx),
            Projected::Fallback(body) => body
                .poll_frame(cx)
                .map(|frame| frame.map(|frame| frame.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Incoming(body) => body.is_end_stream(),
            ClientBody::Fallback(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Incoming(body) => body.size_hint(),
            ClientBody::Fallback(body) => body.size_hint(),
        }
    }
}
