//! [`Protect`]: the service [`ProtectLayer`](super::ProtectLayer) builds.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use sae_core::wire::rejection::Rejection;
use tower_service::Service;

use super::future::{Admitted, ResponseFuture};
use super::isolation::{Isolation, Ticket};
use super::reject::{Facts, Refusal, applies};
use super::{Compiled, ProtectBody, Shared};

/// The rule name rejections by the adaptive limit carry.
const ADAPTIVE_RULE: &str = "adaptive";

/// Admits, queues or rejects each request of `S` by the protection rules;
/// see the [module docs](super).
#[derive(Clone, Debug)]
pub struct Protect<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Protect<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Protect { inner, shared }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Protect<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ProtectBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let compiled = self.shared.compiled();
        let service = &self.shared.service;
        // The route and caller are looked up only when a rule targets them.
        let facts = compiled.targeted.then(|| Facts::of(&request));

        for rate in compiled.rates.iter() {
            if !applies(&rate.rule.targets, facts.as_ref()) {
                continue;
            }
            if let Some(wait) = rate.check() {
                return ResponseFuture::rejected(Refusal::new(
                    service,
                    &request,
                    Rejection::RateLimit,
                    &rate.rule.name,
                    Some(wait),
                ));
            }
        }

        let mut admitted = Admitted::default();
        for (index, isolation) in compiled.isolation.iter().enumerate() {
            if !applies(&isolation.rule.targets, facts.as_ref()) {
                continue;
            }
            if let Some(slot) = isolation.try_enter() {
                admitted.hold(slot);
                continue;
            }
            let Some(ticket) = isolation.join_queue() else {
                return ResponseFuture::rejected(Refusal::new(
                    service,
                    &request,
                    Rejection::Concurrency,
                    &isolation.rule.name,
                    None,
                ));
            };
            // The slow path: wait in the queue with the ready service.
            let compiled = arc_swap::Guard::into_inner(compiled);
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            let queued = Queued {
                shared: self.shared.clone(),
                compiled,
                inner,
                admitted,
            };
            return ResponseFuture::queued(Box::pin(queued.run(request, index, ticket)));
        }

        if let Some(adaptive) = &compiled.adaptive {
            match adaptive.try_acquire() {
                Some(permit) => admitted.permit(permit),
                None => {
                    return ResponseFuture::rejected(Refusal::new(
                        service,
                        &request,
                        Rejection::Overload,
                        ADAPTIVE_RULE,
                        None,
                    ));
                }
            }
        }
        // The rules' snapshot is not held while the handler runs.
        drop(compiled);
        ResponseFuture::running(self.inner.call(request), admitted)
    }
}

/// A request that found a concurrency rule full and waits in its queue.
struct Queued<S> {
    shared: Arc<Shared>,
    compiled: Arc<Compiled>,
    /// The service that was ready for this request.
    inner: S,
    admitted: Admitted,
}

impl<S> Queued<S> {
    /// Waits for a slot of rule `from` (holding `ticket` in its queue),
    /// then takes the remaining rules' slots (queueing again where one is
    /// full) and the adaptive limit's, and serves the request.
    async fn run<ReqBody, ResBody>(
        self,
        request: Request<ReqBody>,
        from: usize,
        ticket: Ticket,
    ) -> Result<Response<ProtectBody<ResBody>>, <S as Service<Request<ReqBody>>>::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        let Queued {
            shared,
            compiled,
            mut inner,
            mut admitted,
        } = self;
        let service = &shared.service;
        let mut ticket = Some(ticket);
        for isolation in &compiled.isolation[from..] {
            let ticket = match ticket.take() {
                Some(ticket) => Some(ticket),
                None => {
                    let facts = compiled.targeted.then(|| Facts::of(&request));
                    if !applies(&isolation.rule.targets, facts.as_ref()) {
                        continue;
                    }
                    if let Some(slot) = isolation.try_enter() {
                        admitted.hold(slot);
                        continue;
                    }
                    isolation.join_queue()
                }
            };
            // Nothing borrowed from the request lives across the wait (a
            // request body need not be `Sync`).
            let slot = match ticket {
                Some(ticket) => Isolation::wait(isolation.clone(), ticket).await,
                None => None,
            };
            match slot {
                Some(slot) => admitted.hold(slot),
                None => {
                    return Ok(Refusal::new(
                        service,
                        &request,
                        Rejection::Concurrency,
                        &isolation.rule.name,
                        None,
                    )
                    .response());
                }
            }
        }
        if let Some(adaptive) = &compiled.adaptive {
            match adaptive.try_acquire() {
                Some(permit) => admitted.permit(permit),
                None => {
                    return Ok(Refusal::new(
                        service,
                        &request,
                        Rejection::Overload,
                        ADAPTIVE_RULE,
                        None,
                    )
                    .response());
                }
            }
        }
        // The rules that admitted it stay in force for it: a swap meanwhile
        // does not take its slots.
        drop(compiled);
        ResponseFuture::running(inner.call(request), admitted).await
    }
}
