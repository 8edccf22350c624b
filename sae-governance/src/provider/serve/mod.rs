//! One call to serve an axum or tonic service with lossless start and stop.
//!
//! # The sequence
//!
//! ```text
//!  caller binds the listener
//!  │ readiness check passes ─ register ─ Serving          (accepting, no notice)
//!  │ … SIGTERM / SIGINT / preStop / ShutdownHandle …
//!  │ Draining ─ deregister (≤ deregister timeout; a failure is logged, not fatal)
//!  │ notice window: keep accepting, stamp x-sae-offline (+ connection: close)
//!  │   until no request arrived for the quiet period (≤ notice max)
//!  │ graceful shutdown: stop accepting, close connections that have not
//!  │   completed a request head, HTTP/1 closes after the current response,
//!  │   HTTP/2 gets GOAWAY; wait for connections (≤ drain timeout)
//!  ▼ Stopped ─ the serve call returns a ServeReport
//! ```
//!
//! Each step is a `tracing` info event with its duration. Consumers using
//! sae's client evict the instance on the first noticed response; others
//! learn from the registry, which was updated first.
//!
//! # Connections
//!
//! The serve calls bound what a connection may hold on both listeners, the
//! service's and the admin one: a connection must complete a request head
//! within the header-read timeout
//! ([`ProviderBuilder::header_read_timeout`], default 10 s) or it is
//! closed, and each listener serves at most so many connections at once
//! ([`ProviderBuilder::max_connections`], default 10,000;
//! [`ProviderBuilder::admin_max_connections`], default 64); past the cap a
//! new connection is closed at once. A client sending half a request head
//! therefore cannot hold a connection, nor the drain: connections without
//! a request are closed when it starts.
//!
//! # Dropping the serve future is `kill -9`
//!
//! Connection tasks are owned by the serve future (a `JoinSet`), as are the
//! admin listener and the [`Registration`](sae_core::Registration). Dropping
//! or aborting the future closes every connection and drops the registration
//! *without* deregistering: the registry entry stays until its lease expires,
//! exactly as when the process is killed. The `rolling_deploy` demo simulates
//! a crash this way. (Handlers of HTTP/2 streams run in tasks spawned by
//! hyper; they see their stream reset and finish on their own.)
//!
//! # Your own server
//!
//! Keep `axum::serve` or tonic's `Server` and add two things:
//! [`Provider::layer`] on the router or server, and
//! [`Provider::shutdown_signal`] as its graceful-shutdown signal. The
//! signal runs the same sequence (readiness, registration, triggers, admin
//! endpoints, deregistration, notice window) and resolves when the server
//! should stop accepting; the server's own graceful shutdown then drains.
//! The stock servers own their connections, so there the drain bound is
//! reported (a warning naming the requests still in flight) but cannot
//! drop connections as [`Provider::serve`] does.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sae_core::Instance;
//! use sae_governance::provider::Provider;
//! use sae_registry::MemoryRegistry;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let provider = Provider::builder(Instance::builder("orders"), MemoryRegistry::new())
//!     .admin_port(9901) // preStop, /ready, /live on 127.0.0.1:9901
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hello" }));
//!
//! let app = app.layer(provider.layer());
//! let shutdown = provider.shutdown_signal(listener.local_addr()?);
//! axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Or the one-call form, which also bounds the drain:
//!
//! ```no_run
//! # use axum::{Router, routing::get};
//! # use sae_core::Instance;
//! # use sae_governance::provider::Provider;
//! # use sae_registry::MemoryRegistry;
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! # let app = Router::new().route("/", get(|| async { "hello" }));
//! let provider = Provider::builder(Instance::builder("orders"), MemoryRegistry::new()).build()?;
//! let report = provider.serve_router(listener, app).await?;
//! println!("stopped in {:?}", report.stop);
//! # Ok(())
//! # }
//! ```

mod builder;
mod connections;
mod drive;
#[cfg(test)]
mod hygiene_tests;
mod report;
mod sequence;
mod signal;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use sae_core::{BoxError, Error, Instance, InstanceBuilder, InstanceId, IntoRegistry, Lifecycle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_layer::Layer;
use tower_service::Service;

pub use builder::{
    DEFAULT_ADMIN_MAX_CONNECTIONS, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_NOTICE_MAX, DEFAULT_NOTICE_QUIET_PERIOD, ProviderBuilder,
};
pub use report::ServeReport;
pub use signal::{ShutdownSignal, StopReport};

use connections::{Connections, Limits};
use sequence::Timings;

use crate::provider::admin::Admin;
use crate::provider::in_flight::InFlight;
use crate::provider::layer::ProviderLayer;
use crate::provider::registrar::Registrar;
use crate::provider::shutdown::ShutdownHandle;

/// How long the admin listener may finish its last answers (the preStop
/// reply) after the provider stopped.
const ADMIN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum AdminBind {
    Addr(SocketAddr),
    Listener(TcpListener),
}

/// One provider instance: its registration, lifecycle, shutdown triggers and
/// server. See the [module docs](self) for the sequence.
#[derive(Debug)]
pub struct Provider {
    /// Follows this service's rule documents while the provider runs.
    rules: Option<crate::rules::RuleFollower>,
    rule_status: crate::rules::RuleStatus,
    registrar: Registrar,
    lifecycle: Lifecycle,
    shutdown: ShutdownHandle,
    in_flight: InFlight,
    layer: ProviderLayer,
    /// Whether the serve calls record each connection's peer address (the
    /// ingress trust needs it).
    record_peer: bool,
    admin: Option<(AdminBind, Admin)>,
    timings: Timings,
    handle_signals: bool,
    offline_notice: bool,
    /// The service listener's connection bounds.
    limits: Limits,
    /// The admin listener's.
    admin_limits: Limits,
}

impl Provider {
    /// Starts configuring a provider of the instance `instance` describes,
    /// registered in `registry` (a backend by value, in an `Arc`, or what
    /// `from_url` returns). The instance's address may be left out, or name
    /// only the IP: the bound listener completes it when serving starts
    /// ([`InstanceBuilder::build_bound`]).
    pub fn builder(instance: InstanceBuilder, registry: impl IntoRegistry) -> ProviderBuilder {
        ProviderBuilder::new(instance, registry)
    }

    /// The handle that starts the shutdown from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The lifecycle this provider advances.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// Which rule revision this provider runs, per kind ([`crate::rules`]).
    pub fn rule_status(&self) -> crate::rules::RuleStatus {
        self.rule_status.clone()
    }

    /// The requests-in-flight tracker of this provider.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// The instance id (generated when the instance builder gave none).
    pub fn id(&self) -> &InstanceId {
        self.registrar.id()
    }

    /// The instance as registered, once serving started and the listener's
    /// address completed it.
    pub fn instance(&self) -> Option<&Instance> {
        self.registrar.instance()
    }

    /// The provider's server layer ([`ProviderLayer`]: in-flight tracking,
    /// the offline notice, lanes, traffic protection), for a server you run
    /// yourself with [`Provider::shutdown_signal`]; on an axum `Router`, add
    /// it with `Router::layer` so protection rules can target routes. The
    /// serve calls apply it already; do not add it twice.
    pub fn layer(&self) -> ProviderLayer {
        self.layer.clone()
    }

    /// Serves an axum [`Router`](axum::Router) on `listener` through the whole sequence.
    ///
    /// The provider layer goes on the router (`Router::layer`), so
    /// protection rules see the route each request matched.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`].
    pub async fn serve_router(
        self,
        listener: TcpListener,
        router: axum::Router,
    ) -> Result<ServeReport, Error> {
        let router = router.layer(self.layer());
        self.serve_layered(listener, router).await
    }

    /// Serves tonic services (HTTP/2 with prior knowledge) on `listener`
    /// through the whole sequence.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`].
    pub async fn serve_grpc(
        self,
        listener: TcpListener,
        routes: tonic::service::Routes,
    ) -> Result<ServeReport, Error> {
        self.serve(listener, routes.prepare()).await
    }

    /// Serves any tower HTTP service on `listener` (HTTP/1.1 and h2c)
    /// through the whole sequence, and returns when the provider stopped.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the listener's or the admin listener's address
    /// cannot be had; [`Error::UnroutableAddress`](sae_core::Error) when the
    /// instance has no routable address even with the listener's (a
    /// listener on `0.0.0.0` and no advertised IP): the provider then stops.
    /// A registry that fails is retried until it accepts, never an error.
    pub async fn serve<S, B>(self, listener: TcpListener, service: S) -> Result<ServeReport, Error>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send + From<Bytes>,
        B::Error: Into<BoxError>,
    {
        let service = self.layer().layer(service);
        self.serve_layered(listener, service).await
    }

    /// [`Provider::serve`] of a service you already wrapped in this
    /// provider's layer: [`Provider::layer`], or its
    /// [outer part](ProviderLayer::outer) and [protection](ProviderLayer::protect)
    /// with layers of your own between them (sae's facade puts tracing
    /// there). The offline notice, the notice window and the drain count on
    /// that layer; without it the stop is not lossless.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`].
    pub async fn serve_layered<S, B>(
        self,
        listener: TcpListener,
        service: S,
    ) -> Result<ServeReport, Error>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let bound = listener
            .local_addr()
            .map_err(|error| Error::io("reading the listener's address", error))?;
        let record_peer = self.record_peer;
        let limits = self.limits;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (drained_tx, drained_rx) = oneshot::channel::<()>();

        let server = async move {
            let mut connections = Connections::new(limits, record_peer);
            connections
                .accept_until(&listener, service, async {
                    let _ = stop_rx.await;
                })
                .await;
            // Closing the listener now makes new connections fail fast
            // (refused), which a consumer may safely retry elsewhere.
            drop(listener);
            connections.shutdown().await;
            let _ = drained_tx.send(());
        };
        let stop_server = move || async move {
            let _ = stop_tx.send(());
            let _ = drained_rx.await;
        };
        let drive = self.drive(bound, stop_server);
        // The drive ends the call; the server future (and with it every
        // connection still open after the drain timeout) is dropped then.
        tokio::pin!(server);
        tokio::pin!(drive);
        let mut server_done = false;
        loop {
            tokio::select! {
                report = &mut drive => return report,
                () = &mut server, if !server_done => server_done = true,
            }
        }
    }
}
