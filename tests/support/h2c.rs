//! A plain HTTP/2 (h2c) connection for gRPC calls that bypass sae: a test's
//! own view of a provider.

use std::net::SocketAddr;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower::util::BoxCloneService;

/// A tower service sending gRPC requests over one fresh h2c connection.
pub type H2Service = BoxCloneService<Request<tonic::body::Body>, Response<Incoming>, hyper::Error>;

/// Opens one h2c connection to `addr` (its driver spawned) and sends every
/// request on it, after `prepare` has seen the request.
pub async fn connect(
    addr: SocketAddr,
    prepare: impl Fn(&mut Request<tonic::body::Body>) + Clone + Send + Sync + 'static,
) -> H2Service {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    BoxCloneService::new(tower::service_fn(
        move |mut request: Request<tonic::body::Body>| {
            prepare(&mut request);
            let mut send = send.clone();
            async move { send.send_request(request).await }
        },
    ))
}
