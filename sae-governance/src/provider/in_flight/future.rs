//! [`ResponseFuture`]: holds the in-flight count until the response is ready.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project::pin_project;

use super::{InFlight, Shared};

/// Counts one request while alive: made on arrival, dropped when the
/// response is ready or the request is abandoned.
#[derive(Debug)]
pub(super) struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.depart();
    }
}

impl InFlight {
    pub(super) fn guard(&self) -> Guard {
        self.shared.arrive();
        Guard(self.shared.clone())
    }
}

/// The response future of [`TrackInFlight`](super::TrackInFlight).
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    guard: Option<Guard>,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, guard: Guard) -> Self {
        ResponseFuture {
            inner,
            guard: Some(guard),
        }
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.inner.poll(cx));
        // Release now rather than when the finished future is dropped.
        this.guard.take();
        Poll::Ready(output)
    }
}
