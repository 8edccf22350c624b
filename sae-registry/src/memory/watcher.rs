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
use sae_core::{Snapshot, WatchEvent};

/// Events queued for one watcher before it is resynchronised with a snapshot.
/// Registry changes are rare (deploys, crashes); 1,024 unread events means the
/// consumer is stuck, and one snapshot is cheaper than the backlog.
pub(super) const WATCH_QUEUE_CAPACITY: usize = 1024;

/// The registry's side of one watcher.
#[derive(Default)]
pub(super) struct WatchQueue {
    inner: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    events: VecDeque<WatchEvent>,
    waker: Option<Waker>,
    receiver_gone: bool,
    registry_gone: bool,
}

impl WatchQueue {
    /// A queue whose first item is `snapshot`, and the stream reading it.
    pub(super) fn new(snapshot: Snapshot) -> (Arc<WatchQueue>, WatchReceiver) {
        let queue = Arc::new(WatchQueue::default());
        queue
            .inner
            .lock()
            .events
            .push_back(WatchEvent::Snapshot(snapshot));
        let receiver = WatchReceiver {
            queue: Arc::clone(&queue),
        };
        (queue, receiver)
    }

    /// Queues `event`, or on overflow a fresh snapshot instead of the backlog.
    /// Returns false when the receiver is gone (the registry then forgets
    /// this watcher).
    pub(super) fn push(&self, event: WatchEvent, resync: impl FnOnce() -> Snapshot) -> bool {
        let waker = {
            let mut state = self.inner.lock();
            if state.receiver_gone {
                return false;
            }
            if state.events.len() >= WATCH_QUEUE_CAPACITY {
                state.events.clear();
                state.events.push_back(WatchEvent::Snapshot(resync()));
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
pub(super) struct WatchReceiver {
    queue: Arc<WatchQueue>,
}

impl Stream for WatchReceiver {
    type Item = WatchEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchEvent>> {
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

impl Drop for WatchReceiver {
    fn drop(&mut self) {
        let mut state = self.queue.inner.lock();
        state.receiver_gone = true;
        state.events.clear();
    }
}
