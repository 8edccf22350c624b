//! The accept loop and the connections it owns.
//!
//! Connection tasks live in a [`JoinSet`] owned by the serve future, not in
//! detached `tokio::spawn`s: dropping the serve future drops the set, which
//! aborts every connection. That is what makes "abort the serve future"
//! behave like `kill -9` (see [`Provider`](super::Provider)).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sae_core::BoxError;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower_service::Service;

/// Pause after an accept error that is not about one connection (out of file
/// descriptors, say), so the loop does not spin; axum and hyper use the same.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Connections being served, each watched for graceful shutdown.
pub(super) struct Connections {
    tasks: JoinSet<()>,
    graceful: GracefulShutdown,
    builder: auto::Builder<TokioExecutor>,
    /// Whether each request carries its connection's peer address, as
    /// axum's [`ConnectInfo`] (the ingress trust reads it).
    record_peer: bool,
}

impl Connections {
    pub(super) fn new(record_peer: bool) -> Self {
        Connections {
            tasks: JoinSet::new(),
            graceful: GracefulShutdown::new(),
            // HTTP/1.1 and HTTP/2 with prior knowledge (h2c), so gRPC works.
            builder: auto::Builder::new(TokioExecutor::new()),
            record_peer,
        }
    }

    /// Accepts and serves connections until `stop` resolves.
    pub(super) async fn accept_until<S, B>(
        &mut self,
        listener: &TcpListener,
        service: S,
        stop: impl Future<Output = ()>,
    ) where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => return,
                // Reap finished connections so the set does not grow.
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let peer = self.record_peer.then_some(peer);
                        self.serve(stream, WithPeer { inner: service.clone(), peer });
                    }
                    Err(error) if is_connection_error(&error) => {}
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
    }

    fn serve<S, B>(&mut self, stream: TcpStream, service: WithPeer<S>)
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        // Small request/response exchanges; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        let connection = self
            .builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = self.graceful.watch(connection);
        self.tasks.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }

    /// Starts the graceful shutdown of every connection (HTTP/1 connections
    /// close after their current response, HTTP/2 ones get a GOAWAY) and
    /// waits until all have ended.
    pub(super) async fn shutdown(self) {
        let Connections {
            tasks, graceful, ..
        } = self;
        graceful.shutdown().await;
        // Every connection future has completed; nothing is left to abort.
        drop(tasks);
    }
}

/// Errors about one connection that the accept loop just skips.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection's service: records the peer address on each request when
/// asked to.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: Option<SocketAddr>,
}

impl<S, B> Service<Request<B>> for WithPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        self.inner.call(request)
    }
}
