//! [`HttpClient`] and [`GrpcChannel`]: the clients a [`Sae`](super::Sae)
//! hands out, with one type whatever the features.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project::pin_project;
use sae_core::{BoxError, Error};
use sae_governance::Client;
use sae_governance::client::ClientBody;
use tower_service::Service;

#[cfg(feature = "trace")]
type Inner<B> = sae_trace::TraceClient<Client<B>>;
#[cfg(not(feature = "trace"))]
type Inner<B> = Client<B>;

#[cfg(feature = "trace")]
type InnerBody = sae_trace::TracedBody<ClientBody>;
#[cfg(not(feature = "trace"))]
type InnerBody = ClientBody;

#[cfg(feature = "trace")]
type InnerFuture = sae_trace::client::ResponseFuture<sae_governance::client::ResponseFuture>;
#[cfg(not(feature = "trace"))]
type InnerFuture = sae_governance::client::ResponseFuture;

/// A client of another service, from [`Sae::client`](super::Sae::client): a
/// tower `Service<http::Request<B>>` speaking HTTP/1.1, made of sae's
/// balancing [`Client`] (discovery, lanes, eviction on the offline notice)
/// inside the trace client layer when the `trace` feature is on. Cheap to
/// clone; clones share the balancer and its connections.
pub struct HttpClient<B = Full<Bytes>> {
    inner: Inner<B>,
}

/// The channel tonic-generated clients take, from
/// [`Sae::grpc_client`](super::Sae::grpc_client): HTTP/2, so
/// `OrdersClient::new(sae.grpc_client("orders")?)` needs no glue.
#[derive(Clone)]
pub struct GrpcChannel {
    inner: HttpClient<tonic::body::Body>,
}

impl<B> HttpClient<B> {
    pub(super) fn new(inner: Inner<B>) -> Self {
        HttpClient { inner }
    }

    /// The balancing client inside: its endpoints, statistics and change
    /// notifications.
    pub fn balancer(&self) -> &Client<B> {
        #[cfg(feature = "trace")]
        return self.inner.get_ref();
        #[cfg(not(feature = "trace"))]
        return &self.inner;
    }
}

impl GrpcChannel {
    pub(super) fn new(inner: HttpClient<tonic::body::Body>) -> Self {
        GrpcChannel { inner }
    }

    /// The balancing client inside: its endpoints, statistics and change
    /// notifications.
    pub fn balancer(&self) -> &Client<tonic::body::Body> {
        self.inner.balancer()
    }
}

impl<B> Clone for HttpClient<B> {
    fn clone(&self) -> Self {
        HttpClient {
            inner: self.inner.clone(),
        }
    }
}

impl<B> std::fmt::Debug for HttpClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("balancer", self.balancer())
            .finish()
    }
}

impl std::fmt::Debug for GrpcChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcChannel")
            .field("balancer", self.balancer())
            .finish()
    }
}

impl<B> Service<Request<B>> for HttpClient<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        ResponseFuture {
            inner: self.inner.call(request),
        }
    }
}

impl Service<Request<tonic::body::Body>> for GrpcChannel {
    type Response = Response<ResponseBody>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> ResponseFuture {
        self.inner.call(request)
    }
}

/// The response future of [`HttpClient`] and [`GrpcChannel`].
#[pin_project]
pub struct ResponseFuture {
    #[pin]
    inner: InnerFuture,
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(|inner| ResponseBody { inner })))
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The response body of [`HttpClient`] and [`GrpcChannel`]: the provider's
/// (or a circuit breaker's fallback), which finishes the gRPC call's span at
/// its trailers when tracing is on.
#[pin_project]
pub struct ResponseBody {
    #[pin]
    inner: InnerBody,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}
