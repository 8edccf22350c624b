//! [`SendBody`]: the request body as sent, recorded so that a request the
//! provider did not process (rejected before processing) or failed on (for
//! an idempotent method) can be sent again to another endpoint.
//!
//! hyper consumes a request once it is written; only a request handed back
//! unwritten can be resent as it is. So while the first attempt streams the
//! caller's body, its frames are kept (each `Bytes` frame is a reference
//! count, not a copy), up to [`MAX_REPLAY_BYTES`]; a retry sends them again.
//! A body larger than that, or one the first attempt did not read to its
//! end, cannot be replayed, and its failure is returned as it is. (linkerd's
//! `ReplayBody` does the same; tower-http has no equivalent.)

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use pin_project::pin_project;
use sae_core::BoxError;

/// Bodies up to this size are kept for a retry (the W3C-like limit linkerd uses).
pub(crate) const MAX_REPLAY_BYTES: usize = 64 * 1024;

/// What was read of a body, to send again.
#[derive(Debug, Default)]
pub struct Tape {
    frames: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    len: usize,
    /// The body was read to its end within the limit.
    complete: bool,
    /// The body was larger than the limit.
    overflowed: bool,
}

/// A request body as a [`Client`](super::Client) sends it.
#[pin_project(project = Projected)]
pub enum SendBody<B> {
    /// The caller's body, recorded when a retry may need it.
    Live {
        /// The caller's body.
        #[pin]
        body: B,
        /// Where its frames are copied, when recorded.
        tape: Option<Arc<Mutex<Tape>>>,
    },
    /// A recorded body, sent again (boxed: a retry is rare, and every
    /// request's future holds a `SendBody`).
    Replay(Box<Replayed>),
}

/// What a replayed body has left to send.
#[derive(Debug)]
pub struct Replayed {
    frames: std::vec::IntoIter<Bytes>,
    trailers: Option<HeaderMap>,
    /// The bytes left, for the size hint.
    len: usize,
}

/// Whether and how a body can be sent again.
#[derive(Clone, Debug)]
pub enum Recording {
    /// Not recorded: no retry will need it.
    Off,
    /// Empty: nothing to record, always sent again.
    Empty,
    /// Recorded as it is read.
    Tape(Arc<Mutex<Tape>>),
}

impl<B: Body<Data = Bytes>> SendBody<B> {
    /// The caller's body; recorded when `record` (and not already empty).
    pub(crate) fn live(body: B, record: bool) -> (Self, Recording) {
        if !record {
            return (SendBody::Live { body, tape: None }, Recording::Off);
        }
        if body.is_end_stream() {
            return (SendBody::Live { body, tape: None }, Recording::Empty);
        }
        let tape = Arc::new(Mutex::new(Tape::default()));
        (
            SendBody::Live {
                body,
                tape: Some(Arc::clone(&tape)),
            },
            Recording::Tape(tape),
        )
    }
}

impl<B> SendBody<B> {
    /// The same body again: `Some` when it was empty, or recorded and read
    /// to its end within the limit.
    pub(crate) fn replay(recording: &Recording) -> Option<Self> {
        match recording {
            Recording::Off => None,
            Recording::Empty => Some(SendBody::Replay(Box::new(Replayed {
                frames: Vec::new().into_iter(),
                trailers: None,
                len: 0,
            }))),
            Recording::Tape(tape) => {
                let tape = tape.lock();
                (tape.complete && !tape.overflowed).then(|| {
                    SendBody::Replay(Box::new(Replayed {
                        frames: tape.frames.clone().into_iter(),
                        trailers: tape.trailers.clone(),
                        len: tape.len,
                    }))
                })
            }
        }
    }
}

impl<B> Body for SendBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            Projected::Live { mut body, tape } => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                if let Some(tape) = tape {
                    // hyper stops polling once the body says it has ended.
                    record(tape, frame.as_ref(), body.is_end_stream());
                }
                Poll::Ready(frame.map(|frame| frame.map_err(Into::into)))
            }
            Projected::Replay(replayed) => Poll::Ready(match replayed.frames.next() {
                Some(data) => {
                    replayed.len -= data.len();
                    Some(Ok(Frame::data(data)))
                }
                None => replayed
                    .trailers
                    .take()
                    .map(|trailers| Ok(Frame::trailers(trailers))),
            }),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SendBody::Live { body, .. } => body.is_end_stream(),
            SendBody::Replay(replayed) => replayed.frames.len() == 0 && replayed.trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SendBody::Live { body, .. } => body.size_hint(),
            SendBody::Replay(replayed) => SizeHint::with_exact(replayed.len as u64),
        }
    }
}

fn record<E>(tape: &Mutex<Tape>, frame: Option<&Result<Frame<Bytes>, E>>, ended: bool) {
    let mut tape = tape.lock();
    if tape.overflowed {
        return;
    }
    if ended {
        tape.complete = true;
    }
    match frame {
        None => tape.complete = true,
        Some(Err(_)) => tape.overflowed = true,
        Some(Ok(frame)) => {
            if let Some(data) = frame.data_ref() {
                tape.len += data.len();
                if tape.len > MAX_REPLAY_BYTES {
                    tape.overflowed = true;
                    tape.frames = Vec::new();
                    return;
                }
                tape.frames.push(data.clone());
            } else if let Some(trailers) = frame.trailers_ref() {
                tape.trailers = Some(trailers.clone());
                // hyper stops polling after trailers.
                tape.complete = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};

    use super::*;

    #[tokio::test]
    async fn a_read_body_replays_and_an_unread_or_large_one_does_not() {
        let (live, tape) = SendBody::live(Full::new(Bytes::from_static(b"hello")), true);
        assert!(
            SendBody::<Full<Bytes>>::replay(&tape).is_none(),
            "not read yet"
        );
        assert_eq!(live.collect().await.unwrap().to_bytes(), "hello");
        let again = SendBody::<Full<Bytes>>::replay(&tape).unwrap();
        assert_eq!(again.size_hint().exact(), Some(5));
        assert_eq!(again.collect().await.unwrap().to_bytes(), "hello");

        let big = Bytes::from(vec![7u8; MAX_REPLAY_BYTES + 1]);
        let (live, tape) = SendBody::live(Full::new(big), true);
        live.collect().await.unwrap();
        assert!(SendBody::<Full<Bytes>>::replay(&tape).is_none());

        // An empty body needs no recording and always replays; an unrecorded one never.
        let (live, tape) = SendBody::live(Full::new(Bytes::new()), true);
        assert!(matches!(tape, Recording::Empty));
        assert!(live.collect().await.unwrap().to_bytes().is_empty());
        assert!(
            SendBody::<Full<Bytes>>::replay(&tape)
                .unwrap()
                .is_end_stream()
        );
        let (_, off) = SendBody::live(Full::new(Bytes::from_static(b"x")), false);
        assert!(SendBody::<Full<Bytes>>::replay(&off).is_none());
    }
}
