//! The accept loop and the connections it owns.
//!
//! Connection tasks live in a [`JoinSet`] owned by the serve future, not in
//! detached `tokio::spawn`s: dropping the serve future drops the set, which
//! aborts every connection. That is what makes "abort the serve future"
//! behave like `kill -9` (see [`Provider`](super::Provider)).
//!
//! # Hygiene
//!
//! A connection costs a task, buffers and a file descriptor whether or not
//! it ever sends a request, so each listener bounds them ([`Limits`]):
//!
//! - **Header-read timeout.** A connection must complete its first request
//!   head within the timeout or it is closed: one that sends nothing, part
//!   of an HTTP/2 preface, or part of an HTTP/1 head. An HTTP/2 client that
//!   has sent its whole preface is spared (a gRPC channel connects before
//!   its first call and may then sit idle); later HTTP/1 heads are bounded
//!   by hyper's own header-read timeout, which runs on tokio's timer (and
//!   so also closes an HTTP/1 connection left idle that long between
//!   requests).
//! - **Connection cap.** At the cap a new connection is accepted and closed
//!   at once, rather than left in the kernel's accept queue. A caller
//!   learns at once that this instance is full, with nothing of its
//!   request processed, and can go to another instance (Envoy's listener
//!   connection limit does the same); a queued connection would wait blind
//!   until its connect timeout, and might be stale by the time it was
//!   accepted.
//! - **Drain.** At the drain a connection that has not completed a request
//!   head is closed at once: nothing of it is in flight. hyper's graceful
//!   shutdown alone would wait for it, since an HTTP/1 connection counts as
//!   busy until its first request is answered. The others get the graceful
//!   shutdown (an idle HTTP/1 connection closes, an HTTP/2 one gets a
//!   GOAWAY, requests in flight finish).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use pin_project::pin_project;
use sae_core::BoxError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

/// Pause after an accept error that is not about one connection (out of file
/// descriptors, say), so the loop does not spin; axum and hyper use the same.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What every HTTP/2 connection starts with (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The bounds of one listener's connections; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Limits {
    /// How long a connection may take to complete a request head.
    pub(super) header_read_timeout: Duration,
    /// Connections served at once; more are closed at once.
    pub(super) max_connections: usize,
}

/// Connections being served, each watched for graceful shutdown.
pub(super) struct Connections {
    tasks: JoinSet<()>,
    graceful: GracefulShutdown,
    builder: auto::Builder<TokioExecutor>,
    limits: Limits,
    /// Whether each request carries its connection's peer address, as
    /// axum's [`ConnectInfo`] (the ingress trust reads it).
    record_peer: bool,
    /// Turns `true` when the drain starts.
    drain: watch::Sender<bool>,
    /// Whether the cap was reached and not left since (one warning each time).
    at_cap: bool,
}

impl Connections {
    pub(super) fn new(limits: Limits, record_peer: bool) -> Self {
        // HTTP/1.1 and HTTP/2 with prior knowledge (h2c), so gRPC works.
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // Without a timer hyper's header-read timeout never fires.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        Connections {
            tasks: JoinSet::new(),
            graceful: GracefulShutdown::new(),
            builder,
            limits,
            record_peer,
            drain: watch::Sender::new(false),
            at_cap: false,
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
                    Ok((stream, peer)) => self.admit(stream, peer, &service),
                    Err(error) if is_connection_error(&error) => {}
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
    }

    /// Serves a new connection, or closes it at once at the cap.
    fn admit<S, B>(&mut self, stream: TcpStream, peer: SocketAddr, service: &S)
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        while self.tasks.try_join_next().is_some() {}
        if self.tasks.len() >= self.limits.max_connections {
            if !self.at_cap {
                self.at_cap = true;
                tracing::warn!(
                    max_connections = self.limits.max_connections,
                    "connection cap reached; closing new connections until one ends"
                );
            }
            tracing::debug!(%peer, "connection closed at once: at the connection cap");
            drop(stream);
            return;
        }
        self.at_cap = false;
        let peer = self.record_peer.then_some(peer);
        self.serve(stream, service.clone(), peer);
    }

    fn serve<S, B>(&mut self, stream: TcpStream, service: S, peer: Option<SocketAddr>)
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
        let state = Arc::new(ConnectionState::default());
        let stream = Watched {
            io: stream,
            preface: 0,
            state: state.clone(),
        };
        let service = ConnectionService {
            inner: service,
            peer,
            state: state.clone(),
        };
        let connection = self
            .builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = self.graceful.watch(connection);
        let header_read_timeout = self.limits.header_read_timeout;
        let mut drain = self.drain.subscribe();
        self.tasks.spawn(async move {
            tokio::pin!(connection);
            let first_head = tokio::time::sleep(header_read_timeout);
            tokio::pin!(first_head);
            let mut timing_first_head = true;
            let mut draining = false;
            loop {
                tokio::select! {
                    // The connection first: a request whose bytes have
                    // arrived is read before the checks below look.
                    biased;
                    result = &mut connection => {
                        if let Err(error) = result {
                            tracing::debug!(error = %error, "connection ended with an error");
                        }
                        return;
                    }
                    () = &mut first_head, if timing_first_head => {
                        timing_first_head = false;
                        if !state.spared() {
                            tracing::debug!(
                                timeout = ?header_read_timeout,
                                "closing a connection that sent no complete request head in time"
                            );
                            return;
                        }
                    }
                    _ = drain.wait_for(|draining| *draining), if !draining => {
                        draining = true;
                        if !state.has_request() {
                            tracing::debug!("closing a connection without a request at the drain");
                            return;
                        }
                    }
                }
            }
        });
    }

    /// Closes the connections that have not completed a request head,
    /// starts the graceful shutdown of the others (HTTP/1 connections close
    /// after their current response, HTTP/2 ones get a GOAWAY) and waits
    /// until all have ended.
    pub(super) async fn shutdown(self) {
        let Connections {
            tasks,
            graceful,
            drain,
            ..
        } = self;
        drain.send_replace(true);
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

/// What a connection's task needs to know about it.
#[derive(Debug, Default)]
struct ConnectionState {
    /// A request head was completed (the service was called).
    request: AtomicBool,
    /// The client sent the whole HTTP/2 preface.
    h2: AtomicBool,
}

impl ConnectionState {
    fn has_request(&self) -> bool {
        self.request.load(Ordering::Acquire)
    }

    /// Whether the first-head deadline spares the connection.
    fn spared(&self) -> bool {
        self.has_request() || self.h2.load(Ordering::Acquire)
    }
}

/// A connection's socket, watching its first bytes for the HTTP/2 preface.
#[pin_project]
struct Watched {
    #[pin]
    io: TcpStream,
    /// Preface bytes matched so far; [`PREFACE_DECIDED`] once settled.
    preface: u8,
    state: Arc<ConnectionState>,
}

/// [`Watched::preface`] once the first bytes settled the question.
const PREFACE_DECIDED: u8 = u8::MAX;

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.io.poll_read(cx, buf);
        if *this.preface != PREFACE_DECIDED && matches!(result, Poll::Ready(Ok(()))) {
            for &byte in &buf.filled()[before..] {
                let matched = usize::from(*this.preface);
                if byte != H2_PREFACE[matched] {
                    *this.preface = PREFACE_DECIDED;
                    break;
                }
                if matched + 1 == H2_PREFACE.len() {
                    this.state.h2.store(true, Ordering::Release);
                    *this.preface = PREFACE_DECIDED;
                    break;
                }
                *this.preface += 1;
            }
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}

/// A connection's service: notes that a request arrived, and records the
/// peer address on each request when asked to.
#[derive(Clone)]
struct ConnectionService<S> {
    inner: S,
    peer: Option<SocketAddr>,
    state: Arc<ConnectionState>,
}

impl<S, B> Service<Request<B>> for ConnectionService<S>
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
        if !self.state.has_request() {
            self.state.request.store(true, Ordering::Release);
        }
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        self.inner.call(request)
    }
}
