//! [`Call`]: the protection state of one call — its policy, breaker verdict,
//! time budget, attempts and retry budget, the recording of its body — apart
//! from the network, so [`send`](super::send) reads as the request's path
//! and a bench can run exactly the same bookkeeping in process.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use sae_core::inbound::Inbound;
use sae_core::wire::rejection::Rejection;
use sae_core::{BoxError, Error, Lane, wire};
use tokio::time::Instant;

use super::body::ClientBody;
use super::breaker::{Allow, Transition};
use super::protect::{LanePolicy, Protection};
use super::replay::{Recording, SendBody};
use super::send::CallTimeout;
use crate::protection::{CallPolicy, Fallback};

const OWN: &str = "the call's timeout";
const INBOUND: &str = "the inbound deadline";
const PER_TRY: &str = "the per-attempt timeout";

/// Why an attempt may be sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Rejected before processing: safe whatever the method.
    Rejected,
    /// The endpoint failed it after it was written (an unhealthy answer, a
    /// reset, a timeout): safe only for an idempotent, replayable request.
    Failed,
}

/// What an answer says about the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Healthy (whatever the status: a 404 is the service's answer).
    Healthy,
    /// Busy: refused before processing.
    Rejected(Rejection),
    /// Unhealthy: a gateway-class status or gRPC `UNAVAILABLE`.
    Failed,
}

/// Which deadline bounds a call.
#[derive(Clone, Copy)]
enum Bound {
    Own,
    Inbound,
}

impl Bound {
    fn as_str(self) -> &'static str {
        match self {
            Bound::Own => OWN,
            Bound::Inbound => INBOUND,
        }
    }
}

/// The head and body of a request, to send it again; the URI and version
/// are set per attempt.
pub struct Replay {
    method: Method,
    headers: HeaderMap,
    recording: Recording,
}

/// A call answered without sending: an open breaker's fallback or error,
/// or a deadline already spent.
pub type Done = Result<Response<ClientBody>, Error>;

/// One call's protection state: which deadline bounds it, what it may retry.
pub struct Call {
    lane: Option<Lane>,
    policy: Arc<LanePolicy>,
    /// When the call started, read only when something needs it (a time
    /// budget, an open breaker, a slow-call breaker); else the first pick's.
    started: Option<Instant>,
    deadline: Option<Instant>,
    which: Bound,
    attempts: u32,
    answered: u32,
    repeatable: bool,
    retried_inbound: bool,
    probe: bool,
    settled: bool,
}

impl Call {
    /// The breaker's verdict and the time budget for `request`; then
    /// [`Call::send_body`] makes it sendable.
    // The request is borrowed, not moved: moving a request head and a call
    // in and out of a returned enum was a large share of the call's cost.
    // The answer is returned as it is: boxing it would allocate on every
    // call an open breaker refuses.
    #[allow(clippy::result_large_err)]
    pub fn begin<B>(
        protection: &Protection,
        request: &Request<B>,
        lane: Option<Lane>,
        inbound: Option<&Inbound>,
    ) -> Result<Call, Done> {
        let policy = protection.lane(lane.as_ref());
        let mut started = None;
        let mut probe = false;
        if let Some(breaker) = &policy.breaker {
            let (allow, transition) =
                breaker.allow(|| protection.nanos(*started.get_or_insert_with(Instant::now)));
            report(protection, lane.as_ref(), transition);
            match allow {
                Allow::Pass => {}
                Allow::Probe => probe = true,
                Allow::Refuse => {
                    return Err(refused(
                        protection,
                        breaker.policy().fallback.as_ref(),
                        lane.as_ref(),
                    ));
                }
            }
        }
        let call_timeout = if request.extensions().is_empty() {
            None
        } else {
            request
                .extensions()
                .get::<CallTimeout>()
                .map(|timeout| timeout.0)
        };
        let own = call_timeout.or(policy.policy.timeout);
        let inbound_deadline = inbound.and_then(|inbound| inbound.deadline);
        let slow_breaker = policy.breaker.as_ref().is_some_and(|breaker| {
            breaker.policy().strategy == crate::protection::BreakerStrategy::SlowRequestRatio
        });
        if own.is_some() || inbound_deadline.is_some() || slow_breaker {
            started.get_or_insert_with(Instant::now);
        }
        let (deadline, which) = match (own.zip(started).map(|(own, at)| at + own), inbound_deadline)
        {
            (Some(own), Some(inbound)) if inbound < own => (Some(inbound), Bound::Inbound),
            (Some(own), _) => (Some(own), Bound::Own),
            (None, Some(inbound)) => (Some(inbound), Bound::Inbound),
            (None, None) => (None, Bound::Own),
        };
        let call = Call {
            lane,
            started,
            deadline,
            which,
            attempts: policy
                .policy
                .retry
                .as_ref()
                .map_or(1, |retry| retry.attempts),
            answered: 0,
            repeatable: is_idempotent(request.method()),
            retried_inbound: inbound.is_some_and(|inbound| inbound.retried),
            probe,
            settled: false,
            policy,
        };
        if let Some(deadline) = deadline
            && started.is_some_and(|started| deadline <= started)
        {
            // Spent before sending: the caller's doing, not the service's.
            let error = call.timed_out(protection, None, Duration::ZERO, which.as_str());
            return Err(Err(error));
        }
        Ok(call)
    }

    /// The request as it is sent and, when an answer may call for sending
    /// it again, what a retry needs: its head, and its body as recorded
    /// while it is read. (Kept apart from the call, which stays small
    /// enough to move without `memcpy`.)
    #[inline]
    pub fn send_body<B>(&self, request: Request<B>) -> (Request<SendBody<B>>, Option<Replay>)
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        if self.attempts < 2 {
            return (request.map(|body| SendBody::live(body, false).0), None);
        }
        let (parts, body) = request.into_parts();
        let (body, recording) = SendBody::live(body, true);
        let replay = Replay {
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            recording,
        };
        (Request::from_parts(parts, body), Some(replay))
    }

    /// The lane of the call.
    pub fn lane(&self) -> Option<&Lane> {
        self.lane.as_ref()
    }

    /// The policy the call follows.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy.policy
    }

    /// What is left of the call's time at `now`; `None` without a bound.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// The end of an attempt started at `at`: the call's deadline, or the
    /// per-attempt timeout when it comes first. The first attempt's start is
    /// the call's, when nothing needed the clock before.
    pub fn try_until(&mut self, at: Instant) -> Option<Instant> {
        self.started.get_or_insert(at);
        match (self.deadline, self.policy.policy.per_try_timeout) {
            (Some(deadline), Some(each)) => Some(deadline.min(at + each)),
            (Some(deadline), None) => Some(deadline),
            (None, Some(each)) => Some(at + each),
            (None, None) => None,
        }
    }

    /// Counts an attempt that was answered (or failed after being written).
    pub fn answered(&mut self) {
        self.answered += 1;
    }

    /// The request to send again after `cause`, when a retry is allowed:
    /// attempts and time are left, the method allows it (for a failure),
    /// the body can be replayed, and the retry budget has a token. It has
    /// the first request's method, headers and body, and the retry mark;
    /// the caller points it at the next endpoint (URI and version).
    pub fn retry<B>(
        &mut self,
        protection: &Protection,
        cause: Cause,
        replay: Option<&Replay>,
    ) -> Option<Request<SendBody<B>>> {
        let allowed = self.answered < self.attempts
            && match cause {
                Cause::Rejected => true,
                Cause::Failed => self.repeatable && !self.retried_inbound,
            };
        if !allowed
            || self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return None;
        }
        let replay = replay?;
        let body = SendBody::replay(&replay.recording)?;
        if !self.policy.withdraw(protection.nanos(Instant::now())) {
            tracing::info!(name: wire::event::RETRY_BUDGET_EXHAUSTED, service = %protection.service(), "retry budget spent; returning the failure");
            return None;
        }
        let mut request = Request::new(body);
        *request.method_mut() = replay.method.clone();
        *request.headers_mut() = replay.headers.clone();
        request
            .headers_mut()
            .insert(wire::RETRY, HeaderValue::from(self.answered + 1));
        Some(request)
    }

    /// Counts the call toward the retry budget and reports its outcome to
    /// its breaker, once; `now` is when the answer came (the clock is not
    /// read again).
    pub fn settle(&mut self, protection: &Protection, failed: bool, now: Instant) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let now_ns = protection.nanos(now);
        self.policy.deposit(now_ns);
        if let Some(breaker) = &self.policy.breaker {
            let took = || {
                self.started.map_or(Duration::ZERO, |started| {
                    now.saturating_duration_since(started)
                })
            };
            let transition = breaker.record(now_ns, failed, took, self.probe);
            report(protection, self.lane.as_ref(), transition);
        }
    }

    /// The error of a call whose time ran out, with its event. `id` names
    /// the instance of the last attempt; `per_try` when only the attempt's
    /// own timeout ran out.
    pub fn timed_out(
        &self,
        protection: &Protection,
        id: Option<&str>,
        budget: Duration,
        which: &'static str,
    ) -> Error {
        tracing::info!(name: wire::event::TIMEOUT, service = %protection.service(), instance = id.unwrap_or("-"), budget = ?budget, which, "call timed out");
        Error::Timeout {
            service: protection.service().to_string(),
            id: id.map(str::to_owned),
            budget,
            which,
        }
    }

    /// The timeout error of an attempt that ran out at `now`: the whole
    /// call's when its deadline passed, else the attempt's own.
    pub fn attempt_timed_out(
        &self,
        protection: &Protection,
        id: &str,
        now: Instant,
    ) -> (Error, bool) {
        let whole = self.deadline.is_some_and(|deadline| now >= deadline);
        let (budget, which) = if whole {
            (self.budget(), self.which.as_str())
        } else {
            (
                self.policy.policy.per_try_timeout.unwrap_or_default(),
                PER_TRY,
            )
        };
        (self.timed_out(protection, Some(id), budget, which), whole)
    }

    /// The call's whole budget, for an error once it ran out.
    pub fn budget_error(&self, protection: &Protection) -> Error {
        self.timed_out(protection, None, self.budget(), self.which.as_str())
    }

    fn budget(&self) -> Duration {
        match (self.deadline, self.started) {
            (Some(deadline), Some(started)) => deadline.saturating_duration_since(started),
            _ => Duration::ZERO,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.settled
            && self.probe
            && let Some(breaker) = &self.policy.breaker
        {
            breaker.probe_abandoned();
        }
    }
}

/// What an answer's head says about the endpoint.
pub fn verdict(
    status: StatusCode,
    headers: &HeaderMap,
    grpc: bool,
    policy: &CallPolicy,
) -> Verdict {
    if let Some(rejection) = wire::rejection::read(headers) {
        return Verdict::Rejected(rejection);
    }
    let on_500 = policy
        .outlier
        .as_ref()
        .is_some_and(|outlier| outlier.failure_on_500);
    match status.as_u16() {
        502..=504 => return Verdict::Failed,
        500 if on_500 => return Verdict::Failed,
        _ => {}
    }
    // A gRPC error answered at once (trailers-only) has its status in the
    // head: UNAVAILABLE (14) says the instance is unhealthy.
    if grpc
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
        && headers
            .get("grpc-status")
            .is_some_and(|status| status == "14")
    {
        return Verdict::Failed;
    }
    Verdict::Healthy
}

fn report(protection: &Protection, lane: Option<&Lane>, transition: Option<Transition>) {
    if let Some((from, to)) = transition {
        let lane = lane.map_or("base", Lane::as_str);
        tracing::info!(name: wire::event::BREAKER, service = %protection.service(), lane, from = from.as_str(), to = to.as_str(), "circuit breaker changed state");
    }
}

/// An open breaker's answer: the fallback, or `Error::CircuitOpen`.
fn refused(
    protection: &Protection,
    fallback: Option<&Fallback>,
    lane: Option<&Lane>,
) -> Result<Response<ClientBody>, Error> {
    tracing::info!(name: wire::event::BREAKER_REJECTED, service = %protection.service(), lane = lane.map_or("base", Lane::as_str), fallback = fallback.is_some(), "circuit open; call refused");
    match fallback {
        Some(fallback) => {
            let body = ClientBody::Fallback(http_body_util::Full::new(fallback.body.clone()));
            let mut response = Response::new(body);
            *response.status_mut() = fallback.status;
            for (name, value) in &fallback.headers {
                response.headers_mut().append(name.clone(), value.clone());
            }
            Ok(response)
        }
        None => Err(Error::CircuitOpen {
            service: protection.service().to_string(),
            lane: lane.map(Lane::to_string),
        }),
    }
}

/// Methods that RFC 9110 says can be repeated without a different effect.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}
