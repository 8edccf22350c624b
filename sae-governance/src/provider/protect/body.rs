//! [`ProtectBody`]: the handler's body, or the short body of a rejection.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project::pin_project;

/// The response body of [`Protect`](super::Protect): the inner service's
/// body, or, for a request rejected before processing, a short static text
/// (HTTP) or nothing at all (a gRPC trailers-only response).
#[pin_project]
pub struct ProtectBody<B> {
    #[pin]
    kind: Kind<B>,
}

#[pin_project(project = KindProj)]
enum Kind<B> {
    Inner(#[pin] B),
    /// A static text (not yet sent), so the body stays small: every
    /// response carries this type.
    Rejected(Option<&'static [u8]>),
}

impl<B> ProtectBody<B> {
    pub(super) fn inner(body: B) -> Self {
        ProtectBody {
            kind: Kind::Inner(body),
        }
    }

    /// A rejection's body: `text` (static, so no allocation), or none.
    pub(super) fn rejected(text: &'static str) -> Self {
        let data = (!text.is_empty()).then_some(text.as_bytes());
        ProtectBody {
            kind: Kind::Rejected(data),
        }
    }

    /// Whether this is the body of a rejection.
    pub fn is_rejection(&self) -> bool {
        matches!(self.kind, Kind::Rejected(_))
    }

    /// The inner service's body; `None` for a rejection.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Inner(body) => Some(body),
            Kind::Rejected(_) => None,
        }
    }
}

impl<B> Body for ProtectBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner(body) => body.poll_frame(cx),
            KindProj::Rejected(data) => Poll::Ready(
                data.take()
                    .map(|data| Ok(Frame::data(Bytes::from_static(data).into()))),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner(body) => body.is_end_stream(),
            Kind::Rejected(data) => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner(body) => body.size_hint(),
            Kind::Rejected(data) => SizeHint::with_exact(data.map_or(0, |data| data.len() as u64)),
        }
    }
}

impl<B> std::fmt::Debug for ProtectBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtectBody")
            .field("rejection", &self.is_rejection())
            .finish_non_exhaustive()
    }
}
