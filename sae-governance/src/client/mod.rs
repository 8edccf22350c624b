//! The consumer side of lossless deploys: a discovery-fed, balancing HTTP and
//! gRPC client that stops using an instance the moment it says it is leaving.
//!
//! [`Client`] is a `tower_service::Service<http::Request<B>>`:
//!
//! 1. discovery ([`DiscoveryMode`]: the registry's watch, or a poll) keeps
//!    the balancer current in a background task, whether or not requests
//!    flow (linkerd runs its balancer pool the same way: a balancer updated
//!    only when a request arrives would route the first request after a
//!    quiet period to a long-gone instance);
//! 2. each request picks an endpoint (power of two choices over peak-EWMA
//!    load, weighted by warm-up) in the request's lane, waiting up to a
//!    bound when none is available. The lane is the one of the
//!    [`sae_core::RequestContext`] in the request's extensions, else the
//!    lane of the request being served ([`crate::lane::current`]); it is
//!    written on the request as `x-sae-tag` and the `sae-tag` baggage member
//!    (see [`crate::lane`]); with no instance in the lane the request goes
//!    to base, or fails for a strict service
//!    ([`ClientBuilder::lane_fallback`]);
//! 3. it connects (or reuses a pooled connection) and only then sends, so a
//!    connect failure leaves the request unsent: that endpoint is ejected and
//!    the same request goes to another one. A failure after the request was
//!    written is returned unchanged as [`Error::Upstream`], never retried;
//! 4. a response carrying [`sae_core::wire::OFFLINE_HEADER`] (HTTP header or
//!    gRPC initial metadata) evicts its endpoint at once; the response itself
//!    is returned as is, and requests already in flight there complete.
//!
//! The pending count of an endpoint drops when the response *head* arrives
//! (or the call is dropped), not when the body ends: that keeps the response
//! type hyper's own `Incoming` (no wrapper per body) and is what tower's
//! `CompleteOnResponse` does; for the short unary calls that dominate
//! service-to-service traffic the difference is a body transfer time.
//!
//! Details worth knowing:
//!
//! - the notice's value (the instance id) is informational: the endpoint that
//!   answered is the one evicted, even behind a proxy that renamed it;
//! - the request URI may be `/path` or `http://orders/path`: scheme and
//!   authority are replaced by the picked endpoint's; over HTTP/1.1 the
//!   `Host` header becomes the endpoint address unless the caller set one;
//! - an HTTP/2 (gRPC) client keeps one multiplexed connection per endpoint;
//!   a draining provider's GOAWAY closes it and the next request reconnects.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use sae_core::{Instance, Registry};
//! use sae_governance::client::Client;
//! use sae_registry::MemoryRegistry;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // A provider of "orders", registered in the embedded registry.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let instance = Instance::builder("orders").addr(listener.local_addr()?).build()?;
//! tokio::spawn(axum::serve(listener, Router::new().route("/orders/7", get(|| async { "order 7" }))).into_future());
//! let registry = MemoryRegistry::new();
//! let _registration = registry.register(instance).await?;
//!
//! // The consumer: discovery, balancing and eviction in one tower Service.
//! let orders = Client::builder("orders", registry).build_http::<Full<Bytes>>()?;
//! let request = http::Request::get("http://orders/orders/7").body(Full::default())?;
//! let response = orders.oneshot(request).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "order 7");
//! # Ok(())
//! # }
//! ```

mod body;
mod breaker;
#[cfg(test)]
mod breaker_tests;
mod budget;
mod builder;
mod call;
mod future;
mod pool;
mod protect;
#[cfg(test)]
mod protect_tests;
mod replay;
mod send;
#[cfg(test)]
mod support;
#[cfg(test)]
mod tests;
mod window;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::body::Body;
use sae_core::{BoxError, Error, InstanceId, IntoRegistry};
use tokio::sync::watch;

pub use crate::balance::{BalanceConfig, LaneFallback};
pub use crate::discovery::DiscoveryMode;
pub use body::ClientBody;
pub use builder::{
    ClientBuilder, DEFAULT_CONNECT_ATTEMPTS, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_IDLE,
    DEFAULT_WAIT,
};
pub use future::ResponseFuture;
pub use send::CallTimeout;

use crate::balance::{BalanceStats, Balancer};
use crate::discovery::DiscoveryHandle;
use pool::{ConnPool, Protocol};
#[cfg(not(feature = "demo-internals"))]
use protect::Protection;
#[cfg(not(feature = "demo-internals"))]
use replay::SendBody;

// The call's bookkeeping apart from the network, for sae's benches.
#[cfg(feature = "demo-internals")]
#[doc(hidden)]
pub use {
    crate::waiting::Waiting,
    call::{Call, Cause, Done, Replay, Verdict, verdict},
    protect::{LanePolicy, Protection},
    replay::SendBody,
};

/// A balancing client for one service; see the [module docs](self).
///
/// Cloning is cheap and shares the balancer, pools and discovery task; the
/// task stops when the last clone is dropped.
pub struct Client<B = Full<Bytes>> {
    shared: Arc<Shared<B>>,
    _body: PhantomData<fn(B)>,
}

struct Shared<B> {
    balancer: Balancer<ConnPool<SendBody<B>>>,
    config: ClientConfig,
    protection: Protection,
    retries: AtomicU64,
    _discovery: DiscoveryHandle,
}

#[derive(Clone, Copy, Debug)]
struct ClientConfig {
    protocol: Protocol,
    evict_on_notice: bool,
    wait: Duration,
    connect_attempts: usize,
    eject_on_connect_failure: bool,
}

/// What a [`Client`] did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Endpoints evicted by an offline notice.
    pub evictions_by_notice: u64,
    /// Endpoints ejected after a connect failure.
    pub connect_ejections: u64,
    /// Endpoints ejected after consecutive failures (or a failed probe).
    pub outlier_ejections: u64,
    /// Requests re-sent to another endpoint after a connect failure.
    pub retries: u64,
    /// Discovery updates withheld by push-empty protection.
    pub withheld_updates: u64,
    /// Discovery events received.
    pub discovery_events: u64,
}

/// A routable endpoint, as [`Client::endpoints`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointInfo {
    /// The instance id.
    pub id: InstanceId,
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// Requests in flight to it.
    pub pending: u32,
}

impl Client {
    /// Starts configuring a client of `service`, discovered in `registry`
    /// (a backend by value, in an `Arc`, or what `from_url` returns).
    pub fn builder(service: impl Into<String>, registry: impl IntoRegistry) -> ClientBuilder {
        ClientBuilder::new(service, registry)
    }
}

impl<B> Client<B> {
    /// Counters for dashboards and demos.
    pub fn stats(&self) -> ClientStats {
        let BalanceStats {
            evictions_by_notice,
            connect_ejections,
            outlier_ejections,
            withheld_updates,
            discovery_events,
            ..
        } = self.shared.balancer.stats();
        ClientStats {
            evictions_by_notice,
            connect_ejections,
            outlier_ejections,
            retries: self.shared.retries.load(Ordering::Relaxed),
            withheld_updates,
            discovery_events,
        }
    }

    /// The endpoints requests may currently go to (evicted ones excluded).
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        self.shared
            .balancer
            .endpoints()
            .iter()
            .map(|endpoint| EndpointInfo {
                id: endpoint.id().clone(),
                addr: endpoint.addr(),
                pending: endpoint.pending(),
            })
            .collect()
    }

    /// A receiver that changes whenever discovery delivers an event or an
    /// endpoint is evicted, to await a change instead of polling.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.balancer.changes()
    }
}

impl<B> Clone for Client<B> {
    fn clone(&self) -> Self {
        Client {
            shared: Arc::clone(&self.shared),
            _body: PhantomData,
        }
    }
}

impl<B> std::fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("balancer", &self.shared.balancer)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for Client<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<ClientBody>;
    type Error = Error;
    type Future = ResponseFuture;

    /// Always ready: waiting for an instance happens, bounded, in the call.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<B>) -> ResponseFuture {
        // Read here, in the caller's task, where the server layer's scope is.
        let lane = crate::lane::outbound::prepare(&mut request);
        let inbound = sae_core::inbound::current();
        // Begun before boxing: an open breaker answers without allocating,
        // and the box holds the call, not the call and the request twice.
        let call =
            match call::Call::begin(&self.shared.protection, &request, lane, inbound.as_ref()) {
                Ok(call) => call,
                Err(answer) => return ResponseFuture::ready(answer),
            };
        let (request, replay) = call.send_body(request);
        let waiting = crate::waiting::Waiting::begin();
        ResponseFuture::new(Box::pin(send::send(
            Arc::clone(&self.shared),
            call,
            request,
            replay,
            waiting,
        )))
    }
}
