//! [`OfflineNotice`]: the service the layer builds.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, Version};
use tower_service::Service;

use super::{Notice, ResponseFuture};

/// Stamps the offline notice on responses of `S` while draining; built by
/// [`OfflineNoticeLayer`](super::OfflineNoticeLayer).
#[derive(Clone, Debug)]
pub struct OfflineNotice<S> {
    inner: S,
    notice: Option<Arc<Notice>>,
}

impl<S> OfflineNotice<S> {
    pub(super) fn new(inner: S, notice: Option<Arc<Notice>>) -> Self {
        OfflineNotice { inner, notice }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OfflineNotice<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // `connection: close` means something only to HTTP/1.x; on HTTP/2 it
        // is a protocol error, and GOAWAY does the job there.
        let http1 = request.version() < Version::HTTP_2;
        ResponseFuture::new(self.inner.call(request), self.notice.clone(), http1)
    }
}
