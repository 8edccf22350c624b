//! Test helpers for the server modules: a hand-written unary gRPC service
//! and client (prost messages, no protoc), raw HTTP/1 requests, and a
//! registry whose deregistration never answers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sae_core::{
    BoxFuture, Error, Instance, InstanceBuilder, InstanceId, Lease, Registration, Registry,
    ServiceName, Snapshot, WatchStream,
};
use sae_registry::MemoryRegistry;
use tokio::net::{TcpListener, TcpStream};
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::util::BoxCloneService;
use tower_service::Service;

/// A listener on an ephemeral loopback port.
pub(crate) async fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The test instance: service `orders`, id `orders-1`.
pub(crate) fn orders() -> InstanceBuilder {
    Instance::builder("orders").id("orders-1")
}

/// A response with its body collected.
pub(crate) type Collected = Response<Bytes>;

/// One HTTP/1.1 connection that sends requests one after another.
pub(crate) struct Http1Connection {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Http1Connection {
    pub(crate) async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Http1Connection { send }
    }

    pub(crate) async fn send(
        &mut self,
        request: Request<Empty<Bytes>>,
    ) -> Result<Collected, hyper::Error> {
        self.send.ready().await?;
        let response = self.send.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response::from_parts(parts, body))
    }

    pub(crate) async fn get(&mut self, path: &str) -> Collected {
        self.send(get(path)).await.unwrap()
    }
}

/// A `GET path` request with an empty body.
pub(crate) fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header(http::header::HOST, "sae.test")
        .body(Empty::new())
        .unwrap()
}

/// Sends one request on a fresh HTTP/1.1 connection.
pub(crate) async fn send_once(addr: SocketAddr, request: Request<Empty<Bytes>>) -> Collected {
    Http1Connection::open(addr)
        .await
        .send(request)
        .await
        .unwrap()
}

/// The request message of the test gRPC service.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EchoRequest {
    #[prost(string, tag = "1")]
    pub(crate) message: String,
}

/// The reply message of the test gRPC service.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EchoReply {
    #[prost(string, tag = "1")]
    pub(crate) message: String,
}

const ECHO_PATH: &str = "/sae.test.Echo/Say";

/// A unary gRPC service `sae.test.Echo/Say` that echoes its message, or
/// answers `UNAVAILABLE` (a trailers-only response) when the message is `fail`.
#[derive(Clone, Debug, Default)]
pub(crate) struct EchoServer;

impl tonic::server::NamedService for EchoServer {
    const NAME: &'static str = "sae.test.Echo";
}

impl Service<Request<tonic::body::Body>> for EchoServer {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != ECHO_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<EchoReply, EchoRequest>::new());
            Ok(grpc.unary(tower::service_fn(say), request).await)
        })
    }
}

async fn say(request: tonic::Request<EchoRequest>) -> Result<tonic::Response<EchoReply>, Status> {
    let message = request.into_inner().message;
    if message == "fail" {
        return Err(Status::unavailable("asked to fail"));
    }
    Ok(tonic::Response::new(EchoReply { message }))
}

type H2Service = BoxCloneService<Request<tonic::body::Body>, Response<Incoming>, hyper::Error>;

/// A gRPC client of [`EchoServer`] over one HTTP/2 (h2c) connection.
pub(crate) struct EchoClient {
    grpc: tonic::client::Grpc<H2Service>,
}

impl EchoClient {
    pub(crate) async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (send, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let service = tower::service_fn(move |request: Request<tonic::body::Body>| {
            let mut send = send.clone();
            async move { send.send_request(request).await }
        });
        let grpc = tonic::client::Grpc::with_origin(
            BoxCloneService::new(service),
            Uri::from_static("http://sae.test"),
        );
        EchoClient { grpc }
    }

    pub(crate) async fn say(
        &mut self,
        message: &str,
    ) -> Result<tonic::Response<EchoReply>, Status> {
        self.grpc
            .ready()
            .await
            .map_err(|error| Status::unknown(error.to_string()))?;
        let request = tonic::Request::new(EchoRequest {
            message: message.to_owned(),
        });
        self.grpc
            .unary(
                request,
                PathAndQuery::from_static(ECHO_PATH),
                ProstCodec::<EchoRequest, EchoReply>::new(),
            )
            .await
    }
}

/// A [`MemoryRegistry`] whose deregistration never answers: a registry that
/// went away mid-deploy.
#[derive(Clone, Debug, Default)]
pub(crate) struct HangingRegistry {
    pub(crate) inner: MemoryRegistry,
}

/// Holds the real registration (so the entry stays alive) and never answers deregistration.
struct HangingLease {
    _registration: Registration,
}

impl Lease for HangingLease {
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            let _keep = self;
            std::future::pending().await
        })
    }
}

impl Registry for HangingRegistry {
    fn backend(&self) -> &'static str {
        "hanging"
    }

    fn register(&self, instance: Instance) -> BoxFuture<'_, Result<Registration, Error>> {
        Box::pin(async move {
            let registration = self.inner.register(instance).await?;
            let entry = registration.entry().clone();
            Ok(Registration::new(
                entry,
                Box::new(HangingLease {
                    _registration: registration,
                }),
            ))
        })
    }

    fn deregister<'a>(
        &'a self,
        _service: &'a ServiceName,
        _id: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(std::future::pending())
    }

    fn list<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>> {
        self.inner.list(service)
    }

    fn watch<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>> {
        self.inner.watch(service)
    }

    fn watch_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<sae_core::rules::RuleStream, Error>> {
        self.inner.watch_rules(service)
    }
}

/// The registry as the trait object the provider takes.
pub(crate) fn shared(registry: &MemoryRegistry) -> Arc<dyn Registry> {
    Arc::new(registry.clone())
}

/// Keeps a 1 ms timer pending while alive, so a paused clock advances in
/// steps of at most 1 ms.
///
/// With a paused clock, tokio advances time to the next timer whenever the
/// runtime looks idle. Over real sockets it can look idle for a moment while
/// bytes are still on their way through loopback (observed: an h2 DATA frame
/// not yet read), and without a nearer timer the clock would jump straight to
/// the end of the notice window or the drain timeout. With the ticker, such
/// a moment costs 1 ms, and the tests' windows are thousands of times longer.
pub(crate) struct ClockTicker(tokio::task::JoinHandle<()>);

impl ClockTicker {
    pub(crate) fn start() -> Self {
        ClockTicker(tokio::spawn(async {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }))
    }
}

impl Drop for ClockTicker {
    fn drop(&mut self) {
        self.0.abort();
    }
}
