//! One request through the balancer: pick, connect, send, retry only what
//! was never sent, evict on the offline notice.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version, header};
use hyper::body::{Body, Incoming};
use sae_core::{BoxError, Error, Lane, wire};

use super::Shared;
use super::pool::{Conn, ConnPool, Protocol};
use crate::balance::Endpoint;

/// Looked up per response: a `HeaderName`, since a `&str` name is parsed
/// and hashed anew on every lookup.
static OFFLINE: header::HeaderName = header::HeaderName::from_static(wire::OFFLINE_HEADER);

pub(super) async fn send<B>(
    shared: Arc<Shared<B>>,
    mut request: Request<B>,
    lane: Option<Lane>,
) -> Result<Response<Incoming>, Error>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let explicit_host = request.headers().contains_key(header::HOST);
    let mut last_error = None;
    for attempt in 0..shared.config.connect_attempts {
        if attempt > 0 {
            shared.retries.fetch_add(1, Ordering::Relaxed);
            // Event names are read by sae-trace (`sae_trace::events`); plain tracing here.
            tracing::info!(name: "sae.retry", service = %shared.balancer.service(), attempt, "connect failed; sending to another endpoint");
        }
        let (endpoint, picked_at) = shared
            .balancer
            .ready_timed(lane.as_ref(), shared.config.wait)
            .await?;
        tracing::Span::current().record("sae.instance.id", endpoint.id().as_str());
        if let Some(lane) = &lane
            && endpoint.lane() != Some(lane)
        {
            tracing::info!(name: "sae.lane_fallback", service = %shared.balancer.service(), lane = %lane, instance = %endpoint.id(), "no instance in the lane; using a base instance");
        }
        let pool = endpoint.state();
        target(
            &mut request,
            pool,
            &path,
            shared.config.protocol,
            explicit_host,
        );
        let mut in_flight = endpoint.begin_at(picked_at);
        let (mut conn, reused) = match pool.acquire().await {
            Ok((conn, false)) => {
                in_flight.restart_clock();
                (conn, false)
            }
            Ok(acquired) => acquired,
            Err(source) => {
                if shared.config.eject_on_connect_failure {
                    shared.balancer.eject(&endpoint);
                }
                last_error = Some(connect_error(&shared, &endpoint, source));
                continue;
            }
        };
        match conn.send(request).await {
            Ok(response) => {
                in_flight.complete();
                if shared.config.evict_on_notice && response.headers().contains_key(&OFFLINE) {
                    tracing::info!(name: "sae.offline_notice", service = %shared.balancer.service(), instance = %endpoint.id(), "offline notice seen; evicting the endpoint");
                    shared.balancer.evict(&endpoint);
                }
                if let Conn::Http1(send) = conn
                    && !asks_to_close(&response)
                {
                    pool.release(send);
                }
                return Ok(response);
            }
            Err(mut failed) => match failed.take_message() {
                // Handed back unwritten: safe to send elsewhere.
                Some(unsent) => {
                    request = unsent;
                    // A reused connection may just have gone stale (the peer closed
                    // an idle keep-alive); only a fresh one says the endpoint is bad.
                    if !reused && shared.config.eject_on_connect_failure {
                        shared.balancer.eject(&endpoint);
                    }
                    last_error = Some(connect_error(
                        &shared,
                        &endpoint,
                        failed.into_error().into(),
                    ));
                }
                None => {
                    return Err(Error::Upstream {
                        service: shared.balancer.service().to_string(),
                        id: endpoint.id().to_string(),
                        addr: endpoint.addr(),
                        source: failed.into_error().into(),
                    });
                }
            },
        }
    }
    Err(last_error.unwrap_or_else(|| Error::NoAvailableInstance {
        service: shared.balancer.service().to_string(),
        waited: shared.config.wait,
    }))
}

/// Points the request at the endpoint: origin-form plus `Host` for HTTP/1.1,
/// absolute-form for HTTP/2 (its `:authority`). A caller's own `Host` is kept.
fn target<B>(
    request: &mut Request<B>,
    pool: &ConnPool<B>,
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
    endpoint: &Endpoint<ConnPool<B>>,
    source: BoxError,
) -> Error {
    Error::Connect {
        service: shared.balancer.service().to_string(),
        id: endpoint.id().to_string(),
        addr: endpoint.addr(),
        source,
    }
}
