//! Test support: tiny real providers on 127.0.0.1:0 (axum for HTTP, a
//! hand-written tonic unary service for gRPC) and a tonic-style client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::routing::get;
use bytes::Bytes;
use http::uri::PathAndQuery;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use sae_core::{Instance, wire};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tonic_prost::ProstCodec;

use super::Client;

/// Header a test provider puts on every response: its instance id.
pub(super) const SERVED_BY: &str = "x-served-by";

/// A running test provider and the switches the tests flip.
#[derive(Clone)]
pub(super) struct Provider {
    pub(super) id: String,
    pub(super) addr: SocketAddr,
    pub(super) hits: Arc<AtomicUsize>,
    pub(super) draining: Arc<AtomicBool>,
    /// Each `/slow` request sends here when it arrives, then waits for a permit.
    pub(super) arrived: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>>,
    pub(super) release: Arc<Semaphore>,
}

impl Provider {
    pub(super) fn instance(&self) -> Instance {
        Instance::builder("orders")
            .id(self.id.clone())
            .addr(self.addr)
            .build()
            .unwrap()
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct ProviderState {
    id: String,
    hits: Arc<AtomicUsize>,
    draining: Arc<AtomicBool>,
    arrived: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

impl ProviderState {
    /// What the provider-side layer does once draining: the notice and, on HTTP/1.1, `connection: close`.
    fn headers(&self) -> HeaderMap {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let mut headers = HeaderMap::new();
        headers.insert(SERVED_BY, HeaderValue::from_str(&self.id).unwrap());
        if self.draining.load(Ordering::SeqCst) {
            headers.insert(
                wire::OFFLINE_HEADER,
                HeaderValue::from_str(&self.id).unwrap(),
            );
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        headers
    }
}

/// Starts an axum provider with `/` (answers at once) and `/slow` (answers
/// once the test releases it).
pub(super) async fn http_provider(id: &str) -> Provider {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (provider, state) = switches(id, listener.local_addr().unwrap());
    let app =
        Router::new()
            .route(
                "/",
                get(|State(state): State<ProviderState>| async move {
                    (state.headers(), state.id.clone())
                }),
            )
            .route(
                "/slow",
                get(|State(state): State<ProviderState>| async move {
                    let _ = state.arrived.send(());
                    state.release.acquire().await.unwrap().forget();
                    (state.headers(), state.id.clone())
                }),
            )
            .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    provider
}

/// An address with nothing listening (bound, then released).
pub(super) async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Waits until `done` holds, woken by the client's discovery changes; the
/// timeout only turns a bug into a failure instead of a hang.
pub(super) async fn until<B>(client: &Client<B>, mut done: impl FnMut(&Client<B>) -> bool) {
    let mut changes = client.changes();
    let wait = async {
        while !done(client) {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("condition not reached");
}

/// The gRPC request of the test service.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Ping {
    /// Who asks.
    #[prost(string, tag = "1")]
    pub(super) from: String,
}

/// The gRPC response of the test service.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Pong {
    /// The instance that answered.
    #[prost(string, tag = "1")]
    pub(super) served_by: String,
}

const PING_PATH: &str = "/sae.test.Pinger/Ping";

/// Starts a gRPC provider of `Pinger/Ping` (HTTP/2 through hyper-util's auto
/// server), stamping the notice into the initial metadata when draining.
pub(super) async fn grpc_provider(id: &str) -> Provider {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (provider, _) = switches(id, listener.local_addr().unwrap());
    let (id, hits, draining) = (
        provider.id.clone(),
        provider.hits.clone(),
        provider.draining.clone(),
    );
    let ping = tower::service_fn(move |request: tonic::Request<Ping>| {
        let (id, hits, draining) = (id.clone(), hits.clone(), draining.clone());
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let _ = request.into_inner().from;
            let mut response = tonic::Response::new(Pong {
                served_by: id.clone(),
            });
            if draining.load(Ordering::SeqCst) {
                response
                    .metadata_mut()
                    .insert(wire::OFFLINE_HEADER, id.parse().unwrap());
            }
            Ok::<_, tonic::Status>(response)
        }
    });
    let service = tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let ping = ping.clone();
        async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Pong, Ping>::default());
            Ok::<_, Infallible>(grpc.unary(ping, request).await)
        }
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .http2_only()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    provider
}

/// A provider's handles for the test and the state its handlers share.
fn switches(id: &str, addr: SocketAddr) -> (Provider, ProviderState) {
    let (arrived_tx, arrived_rx) = mpsc::unbounded_channel();
    let state = ProviderState {
        id: id.to_owned(),
        hits: Arc::default(),
        draining: Arc::default(),
        arrived: arrived_tx,
        release: Arc::new(Semaphore::new(0)),
    };
    let provider = Provider {
        id: id.to_owned(),
        addr,
        hits: state.hits.clone(),
        draining: state.draining.clone(),
        arrived: Arc::new(tokio::sync::Mutex::new(arrived_rx)),
        release: state.release.clone(),
    };
    (provider, state)
}

/// What tonic-build generates for `service Pinger { rpc Ping(Ping) returns (Pong); }`,
/// written by hand (no protoc in the build).
pub(super) struct PingerClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> PingerClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<sae_core::BoxError>,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<sae_core::BoxError> + Send,
{
    pub(super) fn new(inner: T) -> Self {
        PingerClient {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    pub(super) async fn ping(
        &mut self,
        request: Ping,
    ) -> Result<tonic::Response<Pong>, tonic::Status> {
        self.inner.ready().await.map_err(|error| {
            tonic::Status::unknown(format!("service was not ready: {}", error.into()))
        })?;
        self.inner
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(PING_PATH),
                ProstCodec::<Ping, Pong>::default(),
            )
            .await
    }
}
