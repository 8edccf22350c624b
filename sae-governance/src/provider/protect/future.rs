//! [`ResponseFuture`] and what an admitted request holds while it runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project::pin_project;
use sae_core::BoxFuture;

use super::ProtectBody;
use super::adaptive::Permit;
use super::isolation::Slot;
use super::reject::Refusal;
use crate::waiting::{self, Downstream};

/// What an admitted request holds until its response is ready: its slots
/// in the concurrency rules that matched it, and its place under the
/// adaptive limit. With no fixed limit (the default rules) that is one
/// permit and no allocation.
#[derive(Debug, Default)]
pub(super) struct Admitted {
    first: Option<Slot>,
    more: Vec<Slot>,
    permit: Option<Permit>,
}

impl Admitted {
    pub(super) fn hold(&mut self, slot: Slot) {
        if self.first.is_none() {
            self.first = Some(slot);
        } else {
            self.more.push(slot);
        }
    }

    pub(super) fn permit(&mut self, permit: Permit) {
        self.permit = Some(permit);
    }

    /// The scope the handler's outbound calls report to, if it is timed.
    fn downstream(&self) -> Option<&Arc<Downstream>> {
        self.permit.as_ref().and_then(Permit::downstream)
    }

    /// The response is ready (`answered`) or failed: a latency sample for
    /// the adaptive limit when answered; every slot is returned.
    fn finish(self, answered: bool) {
        if answered && let Some(permit) = self.permit {
            permit.complete();
        }
    }
}

/// The response future of [`Protect`](super::Protect): the inner future
/// holding the request's slots, a rejection ready at once, or a request
/// waiting in a concurrency rule's queue.
#[pin_project]
pub struct ResponseFuture<F, B, E> {
    #[pin]
    state: State<F, B, E>,
}

#[pin_project(project = StateProj)]
enum State<F, B, E> {
    Running {
        #[pin]
        inner: F,
        admitted: Option<Admitted>,
    },
    /// The response is made when polled: a `Response` would make every
    /// response future as big as itself.
    Rejected { refusal: Option<Refusal> },
    Queued {
        waiting: BoxFuture<'static, Result<Response<ProtectBody<B>>, E>>,
    },
}

impl<F, B, E> ResponseFuture<F, B, E> {
    pub(super) fn running(inner: F, admitted: Admitted) -> Self {
        ResponseFuture {
            state: State::Running {
                inner,
                admitted: Some(admitted),
            },
        }
    }

    pub(super) fn rejected(refusal: Refusal) -> Self {
        ResponseFuture {
            state: State::Rejected {
                refusal: Some(refusal),
            },
        }
    }

    pub(super) fn queued(waiting: BoxFuture<'static, Result<Response<ProtectBody<B>>, E>>) -> Self {
        ResponseFuture {
            state: State::Queued { waiting },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ProtectBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Running { inner, admitted } => {
                // A timed request's outbound calls report their waiting.
                let output = match admitted.as_ref().and_then(Admitted::downstream) {
                    Some(downstream) => ready!(waiting::scope(downstream, || inner.poll(cx))),
                    None => ready!(inner.poll(cx)),
                };
                // Release now rather than when the finished future is dropped.
                if let Some(admitted) = admitted.take() {
                    admitted.finish(output.is_ok());
                }
                Poll::Ready(output.map(|response| response.map(ProtectBody::inner)))
            }
            StateProj::Rejected { refusal } => Poll::Ready(Ok(refusal
                .take()
                .expect("ResponseFuture polled after completion")
                .response())),
            StateProj::Queued { waiting } => waiting.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Rejected { .. } => "rejected",
            State::Queued { .. } => "queued",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
