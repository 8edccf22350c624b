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
//!  │ graceful shutdown: stop accepting, HTTP/1 closes after the current
//!  │   response, HTTP/2 gets GOAWAY; wait for connections (≤ drain timeout)
//!  ▼ Stopped ─ the serve call returns a ServeReport
//! ```
//!
//! Each step is a `tracing` info event with its duration. Consumers using
//! sae's client evict the instance on the first noticed response; others
//! learn from the registry, which was updated first.
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
//! [`Provider::server_layer`] gives the layers (offline notice and in-flight
//! tracking) and [`Provider::drive`] runs the same sequence around a server
//! you run yourself: you pass a closure that performs its graceful shutdown.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use sae_core::Instance;
//! use sae_governance::server::Provider;
//! use sae_registry::MemoryRegistry;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), sae_core::Error> {
//! let registry = Arc::new(MemoryRegistry::new());
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await.unwrap();
//! let provider = Provider::builder(Instance::builder("orders").build()?, registry)
//!     .admin_port(9901) // preStop, /ready, /live on 127.0.0.1:9901
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hello" }));
//! let report = provider.serve_router(listener, app).await?;
//! println!("stopped in {:?}", report.stop);
//! # Ok(())
//! # }
//! ```

mod builder;
mod connections;
mod drive;
mod report;
mod sequence;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use sae_core::{BoxError, Error, Instance, Lifecycle, Registry};
use sae_registry::Registrar;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower_layer::{Layer, Stack};
use tower_service::Service;

pub use builder::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_NOTICE_MAX, DEFAULT_NOTICE_QUIET_PERIOD, ProviderBuilder,
};
pub use report::ServeReport;

use connections::Connections;
use sequence::Timings;

use crate::server::admin::Admin;
use crate::server::in_flight::{InFlight, InFlightLayer};
use crate::server::offline_notice::OfflineNoticeLayer;
use crate::server::shutdown::ShutdownHandle;

/// The layers every provider's service runs under: in-flight tracking
/// outside, the offline notice inside.
pub type ServerLayer = Stack<OfflineNoticeLayer, InFlightLayer>;

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
    registrar: Registrar,
    lifecycle: Lifecycle,
    shutdown: ShutdownHandle,
    in_flight: InFlight,
    notice: OfflineNoticeLayer,
    admin: Option<(AdminBind, Admin)>,
    timings: Timings,
    handle_signals: bool,
    offline_notice: bool,
}

impl Provider {
    /// Starts configuring a provider of `instance`, registered in `registry`.
    pub fn builder(instance: Instance, registry: std::sync::Arc<dyn Registry>) -> ProviderBuilder {
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

    /// The requests-in-flight tracker of this provider.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// The instance (its address is the bound one once serving started).
    pub fn instance(&self) -> &Instance {
        self.registrar.instance()
    }

    /// The layers for a server you run yourself with [`Provider::drive`].
    /// The serve calls apply them already; do not add them twice.
    pub fn server_layer(&self) -> ServerLayer {
        Stack::new(self.notice.clone(), self.in_flight.layer())
    }

    /// Serves an axum [`Router`](axum::Router) on `listener` through the whole sequence.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`].
    pub async fn serve_router(
        self,
        listener: TcpListener,
        router: axum::Router,
    ) -> Result<ServeReport, Error> {
        self.serve(listener, router).await
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
    /// cannot be had; the registry's error when registering fails (the
    /// provider then stops).
    pub async fn serve<S, B>(self, listener: TcpListener, service: S) -> Result<ServeReport, Error>
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
        let service = self.server_layer().layer(service);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (drained_tx, drained_rx) = oneshot::channel::<()>();

        let server = async move {
            let mut connections = Connections::new();
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
