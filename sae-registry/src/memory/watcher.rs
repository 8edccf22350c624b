//! One watcher's queue and the [`Stream`] half the consumer polls.
//!
//! Why not a tokio channel: an unbounded channel lets one stuck consumer
//! grow memory without limit, and a bounded one would have to either block
//! registrations (forbidden: a slow watcher must not slow providers) or drop
//! events (forbidden: none may be lost silently). This queue is bounded and,
//! on overflow, replaces everything queued by one fresh
//! [`WatchEvent::Snapshot`] — the contract's way of saying "start over from
//! here". A consumer that keeps up never sees it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use parking_lot::Mutex;
#[cfg(doc)]
use sae_core::WatchEvent;

/// Events queued for one watcher before it is resynchronised with a snapshot.
/// Registry changes are rare (deploys, crashes); 1,024 unread events means the
/// consumer is stuck, and one snapshot is cheaper than the backlog.
pub(super) const WATCH_QUEUE_CAPACITY: usize = 1024;

/// The registry's side of one watcher.
pub(super) struct WatchQueue<E> {
    inner: Mutex<QueueState<E>>,
}

struct QueueState<E> {
    events: VecDeque<E>,
    waker: Option<Waker>,
    receiver_gone: bool,
    registry_gone: bool,
}

impl<E> WatchQueue<E> {
    /// A queue whose first item is `snapshot`, and the stream reading it.
    pub(super) fn new(snapshot: E) -> (Arc<WatchQueue<E>>, WatchReceiver<E>) {
        let queue = Arc::new(WatchQueue {
            inner: Mutex::new(QueueState {
                events: VecDeque::from([snapshot]),
                waker: None,
                receiver_gone: false,
                registry_gone: false,
            }),
        });
        let receiver = WatchReceiver {
            queue: Arc::clone(&queue),
        };
        (queue, receiver)
    }

    /// Queues `event`, or on overflow a fresh snapshot instead of the backlog.
    /// Returns false when the receiver is gone (the registry then forgets
    /// this watcher).
    pub(super) fn push(&self, event: E, resync: impl FnOnce() -> E) -> bool {
        let waker = {
            let mut state = self.inner.lock();
            if state.receiver_gone {
                return false;
            }
            if state.events.len() >= WATCH_QUEUE_CAPACITY {
                state.events.clear();
                state.events.push_back(resync());
            } else {
                state.events.push_back(event);
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Whether the receiver was dropped.
    pub(super) fn is_closed(&self) -> bool {
        self.inner.lock().receiver_gone
    }

    /// The registry is gone: the stream ends after its queued events.
    pub(super) fn close(&self) {
        let waker = {
            let mut state = self.inner.lock();
            state.registry_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The consumer's side: the stream [`super::MemoryRegistry`] returns from `watch`.
pub(super) struct WatchReceiver<E> {
    queue: Arc<WatchQueue<E>>,
}

impl<E> Stream for WatchReceiver<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let mut state = self.queue.inner.lock();
        if let Some(event) = state.events.pop_front() {
            return Poll::Ready(Some(event));
        }
        if state.registry_gone {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            slot @ None => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<E> Drop for WatchReceiver<E> {
    fn drop(&mut self) {
        let mut state = self.queue.inner.lock();
        state.receiver_gone = true;
        state.events.clear();
    }
}
