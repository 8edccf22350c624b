//! [`ResponseFuture`]: stamps the response when it is ready.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::CONNECTION;
use http::{HeaderValue, Response};
use pin_project::pin_project;

use super::{Notice, OFFLINE};

/// The response future of [`OfflineNotice`](super::OfflineNotice).
#[pin_project]
#[derive(Debug)]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    notice: Option<Arc<Notice>>,
    http1: bool,
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, notice: Option<Arc<Notice>>, http1: bool) -> Self {
        ResponseFuture {
            inner,
            notice,
            http1,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(notice) = this.notice
            && notice.lifecycle.is_draining()
        {
            let headers = response.headers_mut();
            headers.insert(OFFLINE.clone(), notice.value.clone());
            if *this.http1 {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
        }
        Poll::Ready(Ok(response))
    }
}
