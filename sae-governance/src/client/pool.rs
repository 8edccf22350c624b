//! [`ConnPool`]: the connections to one endpoint.
//!
//! Written on `hyper::client::conn` instead of using hyper-util's legacy
//! `Client` because that client drops the request when connecting fails, and
//! sae must send that same request to another endpoint (nothing was sent, so
//! it is safe for every method). Here connecting and handshaking come first,
//! and sending goes through `try_send_request`, which hands the request back
//! when the connection failed before writing it.
//!
//! - HTTP/2: one multiplexed connection per endpoint, shared by clones of its
//!   `SendRequest`, re-established when closed (a GOAWAY from a draining
//!   provider closes it).
//! - HTTP/1.1: a small stack of idle connections; a connection goes back
//!   after its response head unless the response said `connection: close`,
//!   and is taken again only once `is_ready` (its previous body is done).
//! - Before a connection is reused, the kernel is asked whether the peer has
//!   closed it ([`Probe`]): hyper learns of a close only when the
//!   connection's task next runs, and a request written into a connection the
//!   peer already closed fails *after* being written, so it could not be sent
//!   elsewhere. A provider that was killed, or that closed an idle keep-alive
//!   connection, would otherwise cost a request that never reached it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, uri::Authority};
use hyper::body::{Body, Incoming};
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use sae_core::BoxError;
use tokio::net::TcpStream;

/// Which HTTP version the client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    /// HTTP/2 with prior knowledge (gRPC).
    Http2,
}

/// Settings shared by every endpoint's pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolSettings {
    pub(crate) protocol: Protocol,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_idle: usize,
}

/// A connection ready to take one request.
pub(crate) enum Conn<B> {
    Http1(Http1Conn<B>),
    Http2(http2::SendRequest<B>),
}

/// An HTTP/1 connection with the probe on its socket.
pub(crate) struct Http1Conn<B> {
    send: http1::SendRequest<B>,
    probe: Probe,
}

/// A duplicate of a connection's socket descriptor, never registered with
/// the runtime (so it cannot disturb the connection task's readiness), used
/// only to peek whether the peer has closed the connection.
#[derive(Debug)]
struct Probe(std::net::TcpStream);

impl Probe {
    /// Whether the socket is closed or unusable. An idle HTTP/1 connection
    /// must have nothing to read; HTTP/2 peers send frames at any time, so
    /// there only an end of stream or an error counts.
    fn peer_closed(&self, protocol: Protocol) -> bool {
        let mut byte = [0u8; 1];
        match self.0.peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => protocol == Protocol::Http1,
            Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}

/// The connections to one endpoint.
pub(crate) struct ConnPool<B> {
    addr: SocketAddr,
    authority: Authority,
    host: HeaderValue,
    settings: PoolSettings,
    idle_http1: Mutex<Vec<Http1Conn<B>>>,
    shared_http2: Mutex<Option<(http2::SendRequest<B>, std::sync::Arc<Probe>)>>,
}

impl<B> ConnPool<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(addr: SocketAddr, settings: PoolSettings) -> Self {
        let text = addr.to_string();
        ConnPool {
            addr,
            authority: Authority::try_from(text.as_str())
                .expect("a socket address is an authority"),
            host: HeaderValue::try_from(text).expect("a socket address is a header value"),
            settings,
            idle_http1: Mutex::new(Vec::new()),
            shared_http2: Mutex::new(None),
        }
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }

    pub(crate) fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// A connection to send on, and whether it was reused (a reused one may
    /// have gone stale; a fresh one failing means the endpoint is bad).
    pub(crate) async fn acquire(&self) -> Result<(Conn<B>, bool), BoxError> {
        match self.settings.protocol {
            Protocol::Http1 => {
                if let Some(idle) = self.take_idle_http1() {
                    return Ok((Conn::Http1(idle), true));
                }
                let (io, probe) = self.connect().await?;
                let (send, connection) = http1::handshake(io).await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "http/1 connection ended");
                    }
                });
                Ok((Conn::Http1(Http1Conn { send, probe }), false))
            }
            Protocol::Http2 => {
                let shared = self
                    .shared_http2
                    .lock()
                    .as_ref()
                    .filter(|(send, _)| !send.is_closed())
                    .map(|(send, probe)| (send.clone(), probe.clone()));
                if let Some((send, probe)) = shared
                    && !probe.peer_closed(Protocol::Http2)
                {
                    return Ok((Conn::Http2(send), true));
                }
                let (io, probe) = self.connect().await?;
                let (send, connection) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .handshake(io)
                    .await?;
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "http/2 connection ended");
                    }
                });
                *self.shared_http2.lock() = Some((send.clone(), std::sync::Arc::new(probe)));
                Ok((Conn::Http2(send), false))
            }
        }
    }

    /// Returns an HTTP/1 connection after its response head, unless full.
    pub(crate) fn release(&self, conn: Http1Conn<B>) {
        let mut idle = self.idle_http1.lock();
        idle.retain(|conn| !conn.send.is_closed());
        if idle.len() < self.settings.max_idle && !conn.send.is_closed() {
            idle.push(conn);
        }
    }

    fn take_idle_http1(&self) -> Option<Http1Conn<B>> {
        loop {
            let candidate = {
                let mut idle = self.idle_http1.lock();
                // Most recently used first: the likeliest to be warm and still open.
                let position = idle.iter().rposition(|conn| conn.send.is_ready())?;
                idle.swap_remove(position)
            };
            // Asked outside the lock: one non-blocking syscall.
            if !candidate.probe.peer_closed(Protocol::Http1) {
                return Some(candidate);
            }
        }
    }

    async fn connect(&self) -> Result<(TokioIo<TcpStream>, Probe), BoxError> {
        let stream =
            tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(self.addr))
                .await
                .map_err(|_| {
                    format!(
                        "connect timed out after {:?}",
                        self.settings.connect_timeout
                    )
                })??;
        // Requests are small and latency-bound; Nagle would add delay.
        stream.set_nodelay(true)?;
        // The probe shares the socket (a dup of its descriptor); both are
        // dropped with the pool entry, so the socket closes with it.
        let socket = stream.into_std()?;
        let probe = Probe(socket.try_clone()?);
        let stream = TcpStream::from_std(socket)?;
        Ok((TokioIo::new(stream), probe))
    }
}

impl<B> Conn<B>
where
    B: Body + 'static,
{
    pub(crate) async fn send(
        &mut self,
        request: Request<B>,
    ) -> Result<Response<Incoming>, TrySendError<Request<B>>> {
        match self {
            Conn::Http1(conn) => conn.send.try_send_request(request).await,
            Conn::Http2(send) => send.try_send_request(request).await,
        }
    }
}
