//! [`ResponseFuture`]: the inner future, polled in the request's lane.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use sae_core::inbound::Inbound;
use tokio::task::futures::TaskLocalFuture;

/// The response future of [`LaneService`](super::LaneService): every poll
/// of the inner future (and its drop) happens with the request's inbound
/// context (lane, deadline, retry mark) as the task's. No allocation.
#[pin_project]
pub struct ResponseFuture<F: Future> {
    #[pin]
    inner: TaskLocalFuture<Inbound, F>,
}

impl<F: Future> ResponseFuture<F> {
    pub(super) fn new(inner: TaskLocalFuture<Inbound, F>) -> Self {
        ResponseFuture { inner }
    }
}

impl<F: Future> Future for ResponseFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F: Future> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
