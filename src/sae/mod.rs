//! [`Sae`]: one service's governance, configured once.

mod builder;
mod client;
mod layer;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use sae_core::{Error, InstanceId, Lifecycle, Phase, Registry, ServiceName};
use sae_governance::client::ClientBuilder;
use sae_governance::{Client, Provider, ServeReport, ShutdownHandle, ShutdownSignal, StopReport};
use tokio::net::TcpListener;

pub use builder::{DEFAULT_REGISTRY_URL, REGISTRY_ENV, SaeBuilder};
pub use client::{GrpcChannel, HttpClient, ResponseBody, ResponseFuture};
pub use layer::SaeLayer;

/// One service's governance, configured once. Cheap to clone.
///
/// The service name, the registry, the lane rules and tracing are given
/// once, to [`Sae::builder`]. The [`Sae`] then hands out the server layer
/// for the stock axum and tonic servers, the shutdown signal that runs the
/// provider's lossless sequence, and clients of other services that carry
/// lanes and tracing already.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use sae::Sae;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let sae = Sae::builder("orders").registry_url("memory://demo").build()?;
/// let inventory = sae.client("inventory")?; // lanes, tracing, balancing, eviction
/// # let _ = inventory;
/// let app = Router::new().route("/orders/{id}", get(|| async { "an order" }));
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let shutdown = sae.shutdown_signal(listener.local_addr()?)?;
/// axum::serve(listener, app.layer(sae.layer()))
///     .with_graceful_shutdown(shutdown)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sae {
    shared: Arc<Shared>,
}

struct Shared {
    service: ServiceName,
    id: InstanceId,
    registry: Arc<dyn Registry>,
    lifecycle: Lifecycle,
    shutdown: ShutdownHandle,
    layer: SaeLayer,
    grpc_layer: SaeLayer,
    /// The protection rules the clients (and the provider) follow.
    protection: sae_governance::protection::ProtectionRules,
    rule_status: sae_governance::rules::RuleStatus,
    /// Taken by the first shutdown signal or serve call.
    provider: Mutex<Option<Provider>>,
    /// How the provider ended, once it was started.
    stopped: Mutex<Stopped>,
    #[cfg(feature = "trace")]
    telemetry: sae_trace::Telemetry,
    #[cfg(feature = "trace")]
    guard: Option<sae_trace::TraceGuard>,
}

impl Sae {
    /// Starts configuring the governance of `service`.
    pub fn builder(service: impl Into<String>) -> SaeBuilder {
        SaeBuilder::new(service)
    }

    /// The service this governs.
    pub fn service(&self) -> &ServiceName {
        &self.shared.service
    }

    /// This instance's id (generated unless [`SaeBuilder::instance`] set one).
    pub fn id(&self) -> &InstanceId {
        &self.shared.id
    }

    /// The registry it registers in and discovers from.
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.shared.registry
    }

    /// Which rule revision this service runs, per kind: the documents it
    /// follows in the registry (`sae rules apply`); see
    /// `sae::governance::rules`.
    pub fn rule_status(&self) -> sae_governance::rules::RuleStatus {
        self.shared.rule_status.clone()
    }

    /// The provider's lifecycle (Starting → Serving → Draining → Stopped).
    pub fn lifecycle(&self) -> Lifecycle {
        self.shared.lifecycle.clone()
    }

    /// The handle that starts the provider's shutdown from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shared.shutdown.clone()
    }

    /// The layer for an HTTP service (axum `Router::layer`): the provider's
    /// layer and, with the `trace` feature, the server span. See [`SaeLayer`].
    pub fn layer(&self) -> SaeLayer {
        self.shared.layer.clone()
    }

    /// The layer for a gRPC service (tonic `Server::builder().layer(..)`).
    pub fn grpc_layer(&self) -> SaeLayer {
        self.shared.grpc_layer.clone()
    }

    /// Starts the provider's lossless sequence for the server listening on
    /// `bound` and returns its graceful-shutdown signal; see
    /// [`Provider::shutdown_signal`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when this `Sae`'s provider was already started (by
    /// an earlier signal or serve call).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn shutdown_signal(&self, bound: SocketAddr) -> Result<ShutdownSignal, Error> {
        let provider = self.take_provider()?;
        self.flush_when_stopped();
        let signal = provider.shutdown_signal(bound);
        *self.shared.stopped.lock() = Stopped::Signal(signal.report());
        Ok(signal)
    }

    /// The one-call form for axum: serves `router` under [`Sae::layer`] on
    /// `listener` through the provider's whole sequence, with the drain
    /// bounded, and returns when the provider stopped.
    ///
    /// # Errors
    ///
    /// As [`Provider::serve`], and [`Error::Config`] when the provider was
    /// already started.
    pub async fn serve_router(
        &self,
        listener: TcpListener,
        router: axum::Router,
    ) -> Result<ServeReport, Error> {
        let provider = self.take_provider()?;
        self.flush_when_stopped();
        // Router::layer, so the protection sees the matched route.
        let router = router.layer(self.layer());
        let report = provider.serve_layered(listener, router).await?;
        *self.shared.stopped.lock() = Stopped::Served(report.clone());
        Ok(report)
    }

    /// A client of `service` with the defaults: HTTP/1.1, lanes, tracing.
    ///
    /// # Errors
    ///
    /// The service name is invalid.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: discovery runs in a task.
    pub fn client(&self, service: &str) -> Result<HttpClient, Error> {
        self.client_with(service, |builder| builder)
    }

    /// A client of `service` whose options `configure` sets
    /// ([`ClientBuilder`]: discovery mode, waits, lane fallback, …), for any
    /// request body type.
    ///
    /// # Errors
    ///
    /// As [`Sae::client`].
    pub fn client_with<B>(
        &self,
        service: &str,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Result<HttpClient<B>, Error>
    where
        B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<sae_core::BoxError>,
    {
        let client = configure(
            Client::builder(service, Arc::clone(&self.shared.registry))
                .protection(self.shared.protection.clone()),
        )
        .build_http::<B>()?;
        #[cfg(feature = "trace")]
        let client =
            tower_layer::Layer::layer(&self.shared.telemetry.http_client_layer(service), client);
        Ok(HttpClient::new(client))
    }

    /// The channel for tonic-generated clients of `service`:
    /// `OrdersClient::new(sae.grpc_client("orders")?)`.
    ///
    /// # Errors
    ///
    /// As [`Sae::client`].
    pub fn grpc_client(&self, service: &str) -> Result<GrpcChannel, Error> {
        self.grpc_client_with(service, |builder| builder)
    }

    /// [`Sae::grpc_client`] with options.
    ///
    /// # Errors
    ///
    /// As [`Sae::client`].
    pub fn grpc_client_with(
        &self,
        service: &str,
        configure: impl FnOnce(ClientBuilder) -> ClientBuilder,
    ) -> Result<GrpcChannel, Error> {
        let client = configure(
            Client::builder(service, Arc::clone(&self.shared.registry))
                .protection(self.shared.protection.clone()),
        )
        .build_grpc::<tonic::body::Body>()?;
        #[cfg(feature = "trace")]
        let client =
            tower_layer::Layer::layer(&self.shared.telemetry.grpc_client_layer(service), client);
        Ok(GrpcChannel::new(HttpClient::new(client)))
    }

    /// The trace layers' shared state (the call topology, for one).
    #[cfg(feature = "trace")]
    pub fn telemetry(&self) -> &sae_trace::Telemetry {
        &self.shared.telemetry
    }

    /// Resolves once the provider has stopped (its drain over or bounded)
    /// and, with [`SaeBuilder::trace`], the telemetry was flushed; returns
    /// the provider's [`ServeReport`]. Await it after the server returned,
    /// before the process exits. A `Sae` whose provider was never started
    /// (a process that only calls other services) resolves at once, after
    /// the flush, with `None`; so does one whose sequence failed (the error
    /// was logged).
    pub async fn stopped(&self) -> Option<ServeReport> {
        let started = std::mem::replace(&mut *self.shared.stopped.lock(), Stopped::Waited);
        let report = match started {
            Stopped::NotStarted => {
                if self.shared.provider.lock().is_none() {
                    // A serve call is still running: wait for its end.
                    self.shared.lifecycle.reached(Phase::Stopped).await;
                }
                None
            }
            Stopped::Signal(report) => report.wait().await.ok(),
            Stopped::Served(report) => Some(report),
            Stopped::Waited => None,
        };
        #[cfg(feature = "trace")]
        if let Some(guard) = &self.shared.guard
            && let Err(error) = guard.flush().await
        {
            tracing::warn!(%error, "flushing telemetry failed");
        }
        report
    }

    fn take_provider(&self) -> Result<Provider, Error> {
        self.shared.provider.lock().take().ok_or_else(|| Error::Config {
            at: "Sae".into(),
            message: format!(
                "the provider of {} was already started; call shutdown_signal or serve_router once",
                self.shared.service
            ),
        })
    }

    fn flush_when_stopped(&self) {
        #[cfg(feature = "trace")]
        if let Some(guard) = &self.shared.guard {
            // Detached: it ends by itself after the flush.
            drop(guard.flush_when_stopped(&self.shared.lifecycle));
        }
    }
}

/// How a `Sae`'s provider ended, for [`Sae::stopped`].
enum Stopped {
    NotStarted,
    Signal(StopReport),
    Served(ServeReport),
    /// Already handed to a `stopped` call.
    Waited,
}

impl std::fmt::Debug for Sae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sae")
            .field("service", &self.shared.service)
            .field("registry", &self.shared.registry)
            .field("phase", &self.shared.lifecycle.phase())
            .finish_non_exhaustive()
    }
}
