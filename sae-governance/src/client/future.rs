//! [`ResponseFuture`]: the future [`super::Client`] returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use sae_core::Error;

use super::ClientBody;

type Inner = Pin<Box<dyn Future<Output = Result<Response<ClientBody>, Error>> + Send>>;

/// The response of a [`super::Client`] call.
///
/// It boxes the call once: hyper's `try_send_request` returns an unnameable
/// `impl Future`, so a hand-written state machine cannot hold it without
/// boxing anyway, and one allocation per request is small next to a
/// network round trip. Picking, retrying and evicting all run inside it.
/// A call answered at once (an open circuit breaker) is not boxed.
pub struct ResponseFuture {
    inner: Kind,
}

enum Kind {
    Sending(Inner),
    Answered(Option<Result<Response<ClientBody>, Error>>),
}

impl ResponseFuture {
    pub(super) fn new(inner: Inner) -> Self {
        ResponseFuture {
            inner: Kind::Sending(inner),
        }
    }

    pub(super) fn ready(answer: Result<Response<ClientBody>, Error>) -> Self {
        ResponseFuture {
            inner: Kind::Answered(Some(answer)),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ClientBody>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.inner {
            Kind::Sending(inner) => inner.as_mut().poll(cx),
            Kind::Answered(answer) => Poll::Ready(
                answer
                    .take()
                    .expect("ResponseFuture polled after completion"),
            ),
        }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
