//! One call through the balancer: the breaker, the time budget, then
//! attempts — pick, connect, send — each judged by its answer: a healthy
//! one returns, an unhealthy one counts against its endpoint, and what is
//! safe to repeat goes to another endpoint within the retry budget.
//!
//! | outcome of an attempt | counts against the endpoint | sent again |
//! |---|---|---|
//! | never written (connect failed, connection closed first) | connect ejection | always, up to `connect_attempts` |
//! | rejected before processing (`x-sae-rejected`) | no (busy, not sick) | whatever the method, within attempts and budget |
//! | 502 / 503 / 504 (500 if configured), gRPC `UNAVAILABLE`, a reset after writing, a timeout | yes (failure accrual) | idempotent methods with a replayable body, within attempts, budget and time, unless the inbound request is itself a retry |
//! | anything else | no, a success | — |

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Response, Uri, Version, header};
use hyper::body::{Body, Incoming};
use sae_core::inbound::Inbound;
use sae_core::wire::rejection::Rejection;
use sae_core::{BoxError, Error, Lane, wire};
use tokio::time::Instant;

use super::Shared;
use super::body::ClientBody;
use super::breaker::{Allow, Breaker, Transition};
use super::pool::{Conn, ConnPool, Protocol};
use super::protect::LanePolicy;
use super::replay::{Recording, SendBody};
use crate::balance::{Endpoint, Pending};
use crate::protection::Fallback;

/// A per-call timeout, put in the request's extensions: wins over the
/// client's and the rules' timeout (the inbound deadline still bounds it).
///
/// ```
/// use std::time::Duration;
/// use sae_governance::client::CallTimeout;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(CallTimeout(Duration::from_millis(150)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallTimeout(pub Duration);

/// What a call takes from the task that makes it.
pub(super) struct CallContext {
    pub(super) lane: Option<Lane>,
    pub(super) inbound: Option<Inbound>,
}

pub(super) async fn send<B>(
    shared: Arc<Shared<B>>,
    request: Request<B>,
    context: CallContext,
) -> Result<Response<ClientBody>, Error>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let lane_policy = shared.protection.lane(context.lane.as_ref());
    let policy = &lane_policy.policy;
    let service = shared.balancer.service();

    // The breaker first: an open one refuses at once.
    let mut breaker_call = BreakerCall {
        breaker: lane_policy.breaker.as_ref(),
        probe: false,
        settled: false,
    };
    if let Some(breaker) = breaker_call.breaker {
        let (allow, transition) = breaker.allow(shared.nanos(started));
        report_transition(&shared, context.lane.as_ref(), transition);
        match allow {
            Allow::Pass => {}
            Allow::Probe => breaker_call.probe = true,
            Allow::Refuse => {
                breaker_call.settled = true;
                return refused(&shared, breaker, context.lane.as_ref());
            }
        }
    }

    // The time budget: the call's own timeout, bounded by what is left of
    // the inbound request's deadline.
    let own = request
        .extensions()
        .get::<CallTimeout>()
        .map(|timeout| timeout.0)
        .or(policy.timeout);
    let inbound_deadline = context
        .inbound
        .as_ref()
        .and_then(|inbound| inbound.deadline);
    let (deadline, which) = match (own.map(|own| started + own), inbound_deadline) {
        (Some(own), Some(inbound)) if inbound < own => (Some(inbound), INBOUND),
        (Some(own), _) => (Some(own), OWN),
        (None, Some(inbound)) => (Some(inbound), INBOUND),
        (None, None) => (None, OWN),
    };
    if let Some(deadline) = deadline
        && deadline <= started
    {
        return Err(timed_out(
            &shared,
            None,
            deadline.saturating_duration_since(started),
            which,
        ));
    }

    shared.protection.deposit();
    let retried_inbound = context
        .inbound
        .as_ref()
        .is_some_and(|inbound| inbound.retried);
    let attempts = policy.retry.as_ref().map_or(1, |retry| retry.attempts);
    let repeatable_method = is_idempotent(request.method());
    // Record the body only when an answer may call for sending it again.
    let record = attempts > 1;
    let (parts, body) = request.into_parts();
    let (body, recording) = SendBody::live(body, record);
    let snapshot = record.then(|| clone_parts(&parts));
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let explicit_host = parts.headers.contains_key(header::HOST);
    let mut request = Request::from_parts(parts, body);

    let mut connect_failures = 0;
    let mut answered = 0;
    let mut last_error = None;
    loop {
        let now = Instant::now();
        let remaining = deadline.map(|deadline| deadline.saturating_duration_since(now));
        if remaining.is_some_and(|left| left.is_zero()) {
            let error = timed_out(
                &shared,
                None,
                deadline.map_or(Duration::ZERO, |d| d - started),
                which,
            );
            breaker_call.settle(&shared, context.lane.as_ref(), true, started);
            return Err(last_error.unwrap_or(error));
        }
        let wait = remaining.map_or(shared.config.wait, |left| left.min(shared.config.wait));
        let picked = match shared.balancer.ready(context.lane.as_ref(), wait).await {
            Ok(picked) => picked,
            Err(error) => {
                breaker_call.settle(&shared, context.lane.as_ref(), true, started);
                return Err(last_error.unwrap_or(error));
            }
        };
        let endpoint = Arc::clone(&picked);
        tracing::Span::current().record(wire::event::INSTANCE_FIELD, endpoint.id().as_str());
        if let Some(lane) = &context.lane
            && endpoint.lane() != Some(lane)
        {
            tracing::info!(name: wire::event::LANE_FALLBACK, service = %service, lane = %lane, instance = %endpoint.id(), "no instance in the lane; using a base instance");
        }
        let pool = endpoint.state();
        target(
            &mut request,
            pool,
            &path,
            shared.config.protocol,
            explicit_host,
        );
        let try_until = match (deadline, policy.per_try_timeout) {
            (Some(deadline), Some(each)) => Some(deadline.min(picked.at() + each)),
            (Some(deadline), None) => Some(deadline),
            (None, Some(each)) => Some(picked.at() + each),
            (None, None) => None,
        };
        if let Some(until) = try_until {
            wire::deadline::write(
                request.headers_mut(),
                until.saturating_duration_since(picked.at()),
                shared.config.protocol == Protocol::Http2,
            );
        }
        let mut in_flight = picked.begin();
        let attempt = attempt(pool, &mut in_flight, request, try_until).await;
        match attempt {
            Attempt::Unsent {
                request: unsent,
                error,
                fresh,
            } => {
                // Nothing was written: safe to send elsewhere, always.
                request = unsent;
                drop(in_flight);
                if fresh && shared.config.eject_on_connect_failure {
                    shared.balancer.eject(&endpoint);
                }
                // An answered attempt's error says more than a later
                // connect failure.
                if last_error
                    .as_ref()
                    .is_none_or(|last| matches!(last, Error::Connect { .. }))
                {
                    last_error = Some(connect_error(&shared, &endpoint, error));
                }
                connect_failures += 1;
                if connect_failures >= shared.config.connect_attempts {
                    breaker_call.settle(&shared, context.lane.as_ref(), true, started);
                    return Err(last_error.unwrap_or_else(|| no_instance(&shared)));
                }
                retry_event(
                    &shared,
                    &endpoint,
                    "connect failed",
                    connect_failures + answered + 1,
                );
                continue;
            }
            Attempt::Answered(response) => {
                answered += 1;
                let verdict = verdict(&response, shared.config.protocol, policy);
                if shared.config.evict_on_notice && response.headers().contains_key(&wire::OFFLINE)
                {
                    tracing::info!(name: wire::event::OFFLINE_NOTICE, service = %service, instance = %endpoint.id(), "offline notice seen; evicting the endpoint");
                    shared.balancer.evict(&endpoint);
                }
                match verdict {
                    Verdict::Healthy => {
                        if in_flight.complete() {
                            probe_event(&shared, &endpoint, "restored");
                        }
                        breaker_call.settle(&shared, context.lane.as_ref(), false, started);
                        return Ok(response.map(ClientBody::Incoming));
                    }
                    Verdict::Rejected(reason) => {
                        in_flight.rejected(policy.outlier.is_some());
                        let can = answered < attempts as usize;
                        match retry_with(&shared, can, &recording, &snapshot, deadline) {
                            Some(next) => {
                                request = next;
                                retry_event(&shared, &endpoint, reason.as_str(), answered + 1);
                                continue;
                            }
                            None => {
                                // Busy, not broken: a breaker that opened
                                // under load would drop what the service
                                // can still serve.
                                breaker_call.settle(&shared, context.lane.as_ref(), false, started);
                                return Ok(response.map(ClientBody::Incoming));
                            }
                        }
                    }
                    Verdict::Failed => {
                        failed(&shared, in_flight, &endpoint, &lane_policy);
                        let can =
                            answered < attempts as usize && repeatable_method && !retried_inbound;
                        match retry_with(&shared, can, &recording, &snapshot, deadline) {
                            Some(next) => {
                                request = next;
                                retry_event(&shared, &endpoint, "unhealthy answer", answered + 1);
                                continue;
                            }
                            None => {
                                breaker_call.settle(&shared, context.lane.as_ref(), true, started);
                                return Ok(response.map(ClientBody::Incoming));
                            }
                        }
                    }
                }
            }
            Attempt::Broken(error) => {
                // Written, then the connection failed: the endpoint failed us.
                answered += 1;
                failed(&shared, in_flight, &endpoint, &lane_policy);
                let error = Error::Upstream {
                    service: service.to_string(),
                    id: endpoint.id().to_string(),
                    addr: endpoint.addr(),
                    source: error,
                };
                let can = answered < attempts as usize && repeatable_method && !retried_inbound;
                match retry_with(&shared, can, &recording, &snapshot, deadline) {
                    Some(next) => {
                        request = next;
                        last_error = Some(error);
                        retry_event(&shared, &endpoint, "connection reset", answered + 1);
                        continue;
                    }
                    None => {
                        breaker_call.settle(&shared, context.lane.as_ref(), true, started);
                        return Err(error);
                    }
                }
            }
            Attempt::TimedOut => {
                answered += 1;
                failed(&shared, in_flight, &endpoint, &lane_policy);
                let whole = deadline.is_some_and(|deadline| Instant::now() >= deadline);
                let budget = if whole {
                    deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(started))
                } else {
                    policy.per_try_timeout.unwrap_or_default()
                };
                let error = timed_out(
                    &shared,
                    Some(endpoint.id().as_str()),
                    budget,
                    if whole { which } else { PER_TRY },
                );
                let can =
                    !whole && answered < attempts as usize && repeatable_method && !retried_inbound;
                match retry_with(&shared, can, &recording, &snapshot, deadline) {
                    Some(next) => {
                        request = next;
                        last_error = Some(error);
                        retry_event(&shared, &endpoint, "attempt timed out", answered + 1);
                        continue;
                    }
                    None => {
                        breaker_call.settle(&shared, context.lane.as_ref(), true, started);
                        return Err(error);
                    }
                }
            }
        }
    }
}

const OWN: &str = "the call's timeout";
const INBOUND: &str = "the inbound deadline";
const PER_TRY: &str = "the per-attempt timeout";

/// How one attempt ended.
// A response head is large, but this lives on one call's stack; boxing it
// would allocate for every request.
#[allow(clippy::large_enum_variant)]
enum Attempt<B> {
    /// Handed back unwritten; `fresh` when a new connection failed (a
    /// reused one may just have gone stale).
    Unsent {
        request: Request<SendBody<B>>,
        error: BoxError,
        fresh: bool,
    },
    /// A response head arrived.
    Answered(Response<Incoming>),
    /// Written, then the connection failed.
    Broken(BoxError),
    /// The attempt's time ran out.
    TimedOut,
}

/// Connects (or reuses a connection) and sends, within `until`.
async fn attempt<B>(
    pool: &ConnPool<SendBody<B>>,
    in_flight: &mut Pending<ConnPool<SendBody<B>>>,
    request: Request<SendBody<B>>,
    until: Option<Instant>,
) -> Attempt<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let exchange = async {
        let (mut conn, reused) = match pool.acquire().await {
            Ok(acquired) => acquired,
            Err(error) => {
                return Attempt::Unsent {
                    request,
                    error,
                    fresh: true,
                };
            }
        };
        if !reused {
            in_flight.restart_clock();
        }
        match conn.send(request).await {
            Ok(response) => {
                if let Conn::Http1(send) = conn
                    && !asks_to_close(&response)
                {
                    pool.release(send);
                }
                Attempt::Answered(response)
            }
            Err(mut failed) => match failed.take_message() {
                Some(unsent) => Attempt::Unsent {
                    request: unsent,
                    error: failed.into_error().into(),
                    fresh: !reused,
                },
                None => Attempt::Broken(failed.into_error().into()),
            },
        }
    };
    match until {
        None => exchange.await,
        Some(until) => tokio::time::timeout_at(until, exchange)
            .await
            .unwrap_or(Attempt::TimedOut),
    }
}

/// What an answer says about the endpoint.
enum Verdict {
    Healthy,
    Rejected(Rejection),
    Failed,
}

fn verdict(
    response: &Response<Incoming>,
    protocol: Protocol,
    policy: &crate::protection::CallPolicy,
) -> Verdict {
    let headers = response.headers();
    if let Some(rejection) = wire::rejection::read(headers) {
        return Verdict::Rejected(rejection);
    }
    let on_500 = policy
        .outlier
        .as_ref()
        .is_some_and(|outlier| outlier.failure_on_500);
    match response.status().as_u16() {
        502..=504 => return Verdict::Failed,
        500 if on_500 => return Verdict::Failed,
        _ => {}
    }
    // A gRPC error answered at once (trailers-only) has its status in the
    // head: UNAVAILABLE (14) says the instance is unhealthy.
    if protocol == Protocol::Http2
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

/// Counts a failure against the endpoint; ejects it after enough in a row
/// (or at once when this was its probe).
fn failed<B>(
    shared: &Shared<B>,
    in_flight: Pending<ConnPool<SendBody<B>>>,
    endpoint: &Arc<Endpoint<ConnPool<SendBody<B>>>>,
    lane_policy: &LanePolicy,
) {
    let probe = in_flight.is_probe();
    let outlier = lane_policy.policy.outlier.as_ref();
    let in_a_row = in_flight.fail(outlier.is_some());
    let Some(outlier) = outlier else {
        return;
    };
    if (probe || in_a_row >= outlier.consecutive_failures)
        && let Some(ejected) = shared.balancer.eject_outlier(endpoint, outlier)
    {
        let service = shared.balancer.service();
        let until = ejected.until.saturating_duration_since(Instant::now());
        if probe {
            tracing::info!(name: wire::event::PROBE, service = %service, instance = %endpoint.id(), outcome = "failed", ejected_for = ?until, "probe failed; ejected again");
        }
        tracing::info!(name: wire::event::OUTLIER_EJECTION, service = %service, instance = %endpoint.id(), addr = %endpoint.addr(), ejected_for = ?until, ejections = ejected.ejections, "ejected after consecutive failures");
    }
}

/// The request to send again, when a retry is allowed: the attempts and
/// the budget allow it, time is left, and the body can be replayed.
fn retry_with<B>(
    shared: &Shared<B>,
    allowed: bool,
    recording: &Recording,
    snapshot: &Option<Parts>,
    deadline: Option<Instant>,
) -> Option<Request<SendBody<B>>> {
    if !allowed || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return None;
    }
    let parts = snapshot.as_ref()?;
    let body = SendBody::replay(recording)?;
    if !shared.protection.withdraw() {
        tracing::info!(name: wire::event::RETRY_BUDGET_EXHAUSTED, service = %shared.balancer.service(), "retry budget spent; returning the failure");
        return None;
    }
    let mut request = Request::from_parts(clone_parts(parts), body);
    request
        .headers_mut()
        .insert(wire::RETRY, HeaderValue::from_static("1"));
    Some(request)
}

fn retry_event<B>(
    shared: &Shared<B>,
    endpoint: &Endpoint<ConnPool<SendBody<B>>>,
    why: &str,
    attempt: usize,
) {
    shared.retries.fetch_add(1, Ordering::Relaxed);
    tracing::info!(name: wire::event::RETRY, service = %shared.balancer.service(), instance = %endpoint.id(), attempt, reason = why, "sending to another endpoint");
}

fn probe_event<B>(shared: &Shared<B>, endpoint: &Endpoint<ConnPool<SendBody<B>>>, outcome: &str) {
    tracing::info!(name: wire::event::PROBE, service = %shared.balancer.service(), instance = %endpoint.id(), outcome, "probe answered; endpoint restored");
}

fn report_transition<B>(shared: &Shared<B>, lane: Option<&Lane>, transition: Option<Transition>) {
    if let Some((from, to)) = transition {
        let lane = lane.map_or("base", Lane::as_str);
        tracing::info!(name: wire::event::BREAKER, service = %shared.balancer.service(), lane, from = from.as_str(), to = to.as_str(), "circuit breaker changed state");
    }
}

/// An open breaker's answer: the fallback, or `Error::CircuitOpen`.
fn refused<B>(
    shared: &Shared<B>,
    breaker: &Breaker,
    lane: Option<&Lane>,
) -> Result<Response<ClientBody>, Error> {
    let service = shared.balancer.service();
    let fallback = breaker.policy().fallback.as_ref();
    tracing::info!(name: wire::event::BREAKER_REJECTED, service = %service, lane = lane.map_or("base", Lane::as_str), fallback = fallback.is_some(), "circuit open; call refused");
    match fallback {
        Some(fallback) => Ok(fallback_response(fallback)),
        None => Err(Error::CircuitOpen {
            service: service.to_string(),
            lane: lane.map(Lane::to_string),
        }),
    }
}

fn fallback_response(fallback: &Fallback) -> Response<ClientBody> {
    let mut response = Response::new(ClientBody::Fallback(http_body_util::Full::new(
        fallback.body.clone(),
    )));
    *response.status_mut() = fallback.status;
    for (name, value) in &fallback.headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

/// The breaker's part in one call: its outcome is reported once; a probe
/// dropped before it has one frees the breaker for the next probe.
struct BreakerCall<'a> {
    breaker: Option<&'a Breaker>,
    probe: bool,
    settled: bool,
}

impl BreakerCall<'_> {
    fn settle<B>(
        &mut self,
        shared: &Shared<B>,
        lane: Option<&Lane>,
        failed: bool,
        started: Instant,
    ) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        if let Some(breaker) = self.breaker {
            let now = Instant::now();
            let transition = breaker.record(
                shared.nanos(now),
                failed,
                now.saturating_duration_since(started),
                self.probe,
            );
            report_transition(shared, lane, transition);
        }
    }
}

impl Drop for BreakerCall<'_> {
    fn drop(&mut self) {
        if !self.settled
            && self.probe
            && let Some(breaker) = self.breaker
        {
            breaker.probe_abandoned();
        }
    }
}

fn timed_out<B>(
    shared: &Shared<B>,
    id: Option<&str>,
    budget: Duration,
    which: &'static str,
) -> Error {
    tracing::info!(name: wire::event::TIMEOUT, service = %shared.balancer.service(), instance = id.unwrap_or("-"), budget = ?budget, which, "call timed out");
    Error::Timeout {
        service: shared.balancer.service().to_string(),
        id: id.map(str::to_owned),
        budget,
        which,
    }
}

fn no_instance<B>(shared: &Shared<B>) -> Error {
    Error::NoAvailableInstance {
        service: shared.balancer.service().to_string(),
        waited: shared.config.wait,
    }
}

/// Methods that RFC 9110 says can be repeated without a different effect.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The request's head again, for another attempt (extensions are not kept).
fn clone_parts(parts: &Parts) -> Parts {
    let mut request = Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.version_mut() = parts.version;
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

/// Points the request at the endpoint: origin-form plus `Host` for HTTP/1.1,
/// absolute-form for HTTP/2 (its `:authority`). A caller's own `Host` is kept.
fn target<B>(
    request: &mut Request<SendBody<B>>,
    pool: &ConnPool<SendBody<B>>,
    path: &PathAndQuery,
    protocol: Protocol,
    explicit_host: bool,
) where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    match protocol {
        Protocol::Http1 => {
            *request.uri_mut() = Uri::from(path.clone());
            *request.version_mut() = Version::HTTP_11;
            if !explicit_host {
                request
                    .headers_mut()
                    .insert(header::HOST, pool.host().clone());
            }
        }
        Protocol::Http2 => {
            let mut parts = http::uri::Parts::default();
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = Some(pool.authority().clone());
            parts.path_and_query = Some(path.clone());
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
            *request.version_mut() = Version::HTTP_2;
        }
    }
}

fn asks_to_close(response: &Response<Incoming>) -> bool {
    response
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .any(|value| {
            value
                .as_bytes()
                .split(|b| *b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
        })
}

fn connect_error<B>(
    shared: &Shared<B>,
    endpoint: &Endpoint<ConnPool<SendBody<B>>>,
    source: BoxError,
) -> Error {
    Error::Connect {
        service: shared.balancer.service().to_string(),
        id: endpoint.id().to_string(),
        addr: endpoint.addr(),
        source,
    }
}
