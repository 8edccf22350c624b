//! One call through the balancer: its protection ([`Call`]: the breaker,
//! the time budget), then attempts — pick, connect, send — each judged by
//! its answer: a healthy one returns, an unhealthy one counts against its
//! endpoint, and what is safe to repeat goes to another endpoint within
//! the retry budget.
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
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version, header};
use hyper::body::{Body, Incoming};
use sae_core::{BoxError, Error, wire};
use tokio::time::Instant;

use super::Shared;
use super::body::ClientBody;
use super::call::{Call, Cause, Replay, Verdict, verdict};
use super::pool::{Conn, ConnPool, Protocol};
use super::replay::SendBody;
use crate::balance::{Endpoint, Pending};
use crate::waiting::Waiting;

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

type Endpointed<B> = Arc<Endpoint<ConnPool<SendBody<B>>>>;

/// Sends a call [`Call::begin`] let through (in the caller's task, where
/// the lane and the inbound deadline are). `_waiting` counts the call as
/// pending for the request being served until the call ends.
pub(super) async fn send<B>(
    shared: Arc<Shared<B>>,
    mut call: Call,
    mut request: Request<SendBody<B>>,
    replay: Option<Replay>,
    _waiting: Waiting,
) -> Result<Response<ClientBody>, Error>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let protection = &shared.protection;
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let explicit_host = request.headers().contains_key(header::HOST);
    let grpc = shared.config.protocol == Protocol::Http2;

    let mut connect_failures = 0;
    let mut last_error = None;
    loop {
        let now = Instant::now();
        let remaining = call.remaining(now);
        if remaining.is_some_and(|left| left.is_zero()) {
            let error = call.budget_error(protection);
            call.settle(protection, true, now);
            return Err(last_error.unwrap_or(error));
        }
        let wait = remaining.map_or(shared.config.wait, |left| left.min(shared.config.wait));
        let picked = match shared.balancer.ready(call.lane(), wait).await {
            Ok(picked) => picked,
            Err(error) => {
                call.settle(protection, true, Instant::now());
                return Err(last_error.unwrap_or(error));
            }
        };
        let endpoint = Arc::clone(&picked);
        tracing::Span::current().record(wire::event::INSTANCE_FIELD, endpoint.id().as_str());
        if let Some(lane) = call.lane()
            && endpoint.lane() != Some(lane)
        {
            tracing::info!(name: wire::event::LANE_FALLBACK, service = %shared.balancer.service(), lane = %lane, instance = %endpoint.id(), "no instance in the lane; using a base instance");
        }
        let pool = endpoint.state();
        target(
            &mut request,
            pool,
            &path,
            shared.config.protocol,
            explicit_host,
        );
        let until = call.try_until(picked.at());
        if let Some(until) = until {
            wire::deadline::write(
                request.headers_mut(),
                until.saturating_duration_since(picked.at()),
                grpc,
            );
        }
        let mut in_flight = picked.begin();
        match attempt(pool, &mut in_flight, request, until).await {
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
                    call.settle(protection, true, Instant::now());
                    return Err(last_error.unwrap_or_else(|| no_instance(&shared)));
                }
                retried(&shared, &endpoint, "connect failed");
            }
            Attempt::Answered(response, at) => {
                call.answered();
                if shared.config.evict_on_notice && response.headers().contains_key(&wire::OFFLINE)
                {
                    tracing::info!(name: wire::event::OFFLINE_NOTICE, service = %shared.balancer.service(), instance = %endpoint.id(), "offline notice seen; evicting the endpoint");
                    shared.balancer.evict(&endpoint);
                }
                match verdict(response.status(), response.headers(), grpc, call.policy()) {
                    Verdict::Healthy => {
                        if in_flight.complete_at(at) {
                            tracing::info!(name: wire::event::PROBE, service = %shared.balancer.service(), instance = %endpoint.id(), outcome = "restored", "probe answered; endpoint restored");
                        }
                        call.settle(protection, false, at);
                        return Ok(response.map(ClientBody::Incoming));
                    }
                    Verdict::Rejected(reason) => {
                        in_flight.rejected(call.policy().outlier.is_some());
                        match call.retry(protection, Cause::Rejected, replay.as_ref()) {
                            Some(next) => {
                                request = next;
                                retried(&shared, &endpoint, reason.as_str());
                            }
                            None => {
                                // Busy, not broken: a breaker that opened
                                // under load would drop what the service
                                // can still serve.
                                call.settle(protection, false, at);
                                return Ok(response.map(ClientBody::Incoming));
                            }
                        }
                    }
                    Verdict::Failed => {
                        failed(&shared, in_flight, &endpoint, &call);
                        match call.retry(protection, Cause::Failed, replay.as_ref()) {
                            Some(next) => {
                                request = next;
                                retried(&shared, &endpoint, "unhealthy answer");
                            }
                            None => {
                                call.settle(protection, true, at);
                                return Ok(response.map(ClientBody::Incoming));
                            }
                        }
                    }
                }
            }
            Attempt::Broken(source) => {
                // Written, then the connection failed: the endpoint failed us.
                call.answered();
                failed(&shared, in_flight, &endpoint, &call);
                let error = Error::Upstream {
                    service: shared.balancer.service().to_string(),
                    id: endpoint.id().to_string(),
                    addr: endpoint.addr(),
                    source,
                };
                match call.retry(protection, Cause::Failed, replay.as_ref()) {
                    Some(next) => {
                        request = next;
                        last_error = Some(error);
                        retried(&shared, &endpoint, "connection reset");
                    }
                    None => {
                        call.settle(protection, true, Instant::now());
                        return Err(error);
                    }
                }
            }
            Attempt::TimedOut => {
                call.answered();
                failed(&shared, in_flight, &endpoint, &call);
                let now = Instant::now();
                let (error, whole) =
                    call.attempt_timed_out(protection, endpoint.id().as_str(), now);
                match (!whole)
                    .then(|| call.retry(protection, Cause::Failed, replay.as_ref()))
                    .flatten()
                {
                    Some(next) => {
                        request = next;
                        last_error = Some(error);
                        retried(&shared, &endpoint, "attempt timed out");
                    }
                    None => {
                        call.settle(protection, true, now);
                        return Err(error);
                    }
                }
            }
        }
    }
}

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
    /// A response head arrived, at this instant.
    Answered(Response<Incoming>, Instant),
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
                let at = Instant::now();
                if let Conn::Http1(send) = conn
                    && !asks_to_close(&response)
                {
                    pool.release(send);
                }
                Attempt::Answered(response, at)
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

/// Counts a failure against the endpoint; ejects it after enough in a row
/// (or at once when this was its probe).
fn failed<B>(
    shared: &Shared<B>,
    in_flight: Pending<ConnPool<SendBody<B>>>,
    endpoint: &Endpointed<B>,
    call: &Call,
) {
    let probe = in_flight.is_probe();
    let outlier = call.policy().outlier.as_ref();
    let in_a_row = in_flight.fail(outlier.is_some());
    let Some(outlier) = outlier else {
        return;
    };
    if (probe || in_a_row >= outlier.consecutive_failures)
        && let Some(ejected) = shared.balancer.eject_outlier(endpoint, outlier, probe)
    {
        let service = shared.balancer.service();
        let ejected_for = ejected.until.saturating_duration_since(Instant::now());
        if probe {
            tracing::info!(name: wire::event::PROBE, service = %service, instance = %endpoint.id(), outcome = "failed", ejected_for = ?ejected_for, "probe failed; ejected again");
        }
        tracing::info!(name: wire::event::OUTLIER_EJECTION, service = %service, instance = %endpoint.id(), addr = %endpoint.addr(), ejected_for = ?ejected_for, ejections = ejected.ejections, "ejected after consecutive failures");
    }
}

fn retried<B>(shared: &Shared<B>, endpoint: &Endpointed<B>, reason: &str) {
    shared.retries.fetch_add(1, Ordering::Relaxed);
    tracing::info!(name: wire::event::RETRY, service = %shared.balancer.service(), instance = %endpoint.id(), reason, "sending to another endpoint");
}

fn no_instance<B>(shared: &Shared<B>) -> Error {
    Error::NoAvailableInstance {
        service: shared.balancer.service().to_string(),
        waited: shared.config.wait,
    }
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

fn connect_error<B>(shared: &Shared<B>, endpoint: &Endpointed<B>, source: BoxError) -> Error {
    Error::Connect {
        service: shared.balancer.service().to_string(),
        id: endpoint.id().to_string(),
        addr: endpoint.addr(),
        source,
    }
}
