//! The watch task: one prefix's keys as a gap-free stream of events — a
//! service's instances ([`super::instances`]) or its rule documents
//! ([`super::rules`]).
//!
//! [`EtcdRegistry::watch`](super::EtcdRegistry) lists the prefix
//! at revision R and sends that as the first snapshot event; this
//! task then watches the prefix from R + 1. etcd delivers every change after
//! a revision exactly once per watch, so nothing falls between the list and
//! the watch. When the stream breaks (member killed, etcd restarting), the
//! task reconnects with backoff and resumes from the last revision it
//! delivered + 1, skipping anything at or below it. When etcd has compacted
//! that revision away, the history is gone: the task lists again and sends
//! a new snapshot, as the [`Registry`](sae_core::Registry) contract asks.
//! What a key means is the [`Follow`] implementation's business.
//!
//! Events of one etcd transaction share its revision; sae writes one key
//! per transaction, so only an operator's bulk delete yields equal revisions.

use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, Event, WatchOptions};
use sae_core::{Error, ServiceName};
use tokio::sync::{mpsc, watch};

use super::rpc::Backoff;

/// Events buffered for a consumer before the task stops reading etcd (which
/// then buffers for it). Registry changes are rare; this is plenty.
const EVENT_BUFFER: usize = 256;

/// Reconnect backoff: quick first retries for a leader change, at most 1 s
/// apart so a consumer sees changes soon after etcd returns.
const RECONNECT_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// What the keys under one prefix mean: how to list them as a snapshot and
/// how to turn one etcd event into at most one consumer event.
pub(super) trait Follow: Send + 'static {
    /// The consumer's event type.
    type Event: Send + 'static;

    /// The service whose keys these are, for logs.
    fn service(&self) -> &ServiceName;

    /// The prefix watched, ending with `/`.
    fn prefix(&self) -> &str;

    /// One etcd event at revision `at`, or `None` when the consumer need
    /// not hear of it.
    fn change(&mut self, event: &Event, at: i64) -> Option<Self::Event>;

    /// Lists the prefix: its revision and the snapshot event.
    fn list(
        &self,
        client: Client,
    ) -> impl Future<Output = Result<(i64, Self::Event), etcd_client::Error>> + Send;

    /// The consumer is sent `snapshot`: what the follower knows is reset to it.
    fn adopt(&mut self, snapshot: &Self::Event);
}

/// One prefix's watch, owned by its task.
pub(super) struct PrefixWatch<F: Follow> {
    client: Client,
    follow: F,
    /// The last etcd revision delivered; the watch resumes after it.
    last_revision: i64,
    events: mpsc::Sender<F::Event>,
}

/// Why a watch stream ended.
enum WatchEnd {
    /// The consumer dropped its stream.
    ConsumerGone,
    /// The revision to resume from was compacted away.
    Compacted,
    /// etcd went away or cancelled the watch; resume after a pause.
    Disconnected(String),
}

/// The channel a [`PrefixWatch`] sends on.
pub(super) fn channel<E>() -> (mpsc::Sender<E>, mpsc::Receiver<E>) {
    mpsc::channel(EVENT_BUFFER)
}

impl<F: Follow> PrefixWatch<F> {
    /// A watch that has delivered everything up to `last_revision` (its
    /// snapshot) and continues after it.
    pub(super) fn new(
        client: Client,
        follow: F,
        last_revision: sae_core::Revision,
        events: mpsc::Sender<F::Event>,
    ) -> Self {
        PrefixWatch {
            client,
            follow,
            last_revision: i64::try_from(last_revision.0).unwrap_or(i64::MAX),
            events,
        }
    }

    /// Runs until the consumer drops its stream or the registry is dropped.
    pub(super) async fn run(mut self, mut registry_closed: watch::Receiver<()>) {
        tokio::select! {
            () = self.follow() => {}
            _ = registry_closed.changed() => {}
        }
    }

    async fn follow(&mut self) {
        let mut backoff = Backoff::new(RECONNECT_FIRST, RECONNECT_MAX);
        let mut relist = false;
        let mut outage = false;
        loop {
            if relist {
                match self.relist().await {
                    Ok(true) => relist = false,
                    Ok(false) => return,
                    Err(error) => {
                        self.note_outage(&mut outage, &error.to_string());
                        tokio::time::sleep(backoff.next_pause()).await;
                        continue;
                    }
                }
            }
            match self.stream(&mut backoff, &mut outage).await {
                WatchEnd::ConsumerGone => return,
                WatchEnd::Compacted => relist = true,
                WatchEnd::Disconnected(error) => {
                    self.note_outage(&mut outage, &error);
                    let pause = backoff.next_pause();
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = self.events.closed() => return,
                    }
                }
            }
        }
    }

    /// Logs an outage once, not on every retry.
    fn note_outage(&self, outage: &mut bool, error: &str) {
        if !std::mem::replace(outage, true) {
            tracing::warn!(service = %self.follow.service().as_str(), prefix = self.follow.prefix(), %error, "etcd watch interrupted; reconnecting and resuming from revision {}", self.last_revision + 1);
        }
    }

    /// Watches from `last_revision + 1` until the stream ends.
    async fn stream(&mut self, backoff: &mut Backoff, outage: &mut bool) -> WatchEnd {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.last_revision + 1);
        let mut watch_client = self.client.watch_client();
        let opened = tokio::select! {
            opened = watch_client.watch(self.follow.prefix(), Some(options)) => opened,
            () = self.events.closed() => return WatchEnd::ConsumerGone,
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(error) => return WatchEnd::Disconnected(error.to_string()),
        };
        loop {
            let message = tokio::select! {
                message = stream.message() => message,
                () = self.events.closed() => return WatchEnd::ConsumerGone,
            };
            let response = match message {
                Ok(Some(response)) => response,
                Ok(None) => return WatchEnd::Disconnected("watch stream ended".into()),
                Err(error) => return WatchEnd::Disconnected(error.to_string()),
            };
            if response.compact_revision() > 0 {
                tracing::warn!(service = %self.follow.service().as_str(), prefix = self.follow.prefix(), compacted = response.compact_revision(), "etcd compacted the watched history; listing again");
                return WatchEnd::Compacted;
            }
            if response.canceled() {
                return WatchEnd::Disconnected(format!(
                    "watch cancelled: {}",
                    response.cancel_reason()
                ));
            }
            if response.created() {
                backoff.reset();
                if std::mem::take(outage) {
                    tracing::info!(service = %self.follow.service().as_str(), prefix = self.follow.prefix(), "etcd watch resumed from revision {}", self.last_revision + 1);
                }
            }
            // A revision is never split across responses, so everything at or
            // below the last delivered revision is a repeat after a resume.
            let delivered = self.last_revision;
            for event in response.events() {
                if !self.apply(event, delivered).await {
                    return WatchEnd::ConsumerGone;
                }
            }
        }
    }

    /// Passes one etcd event on; false when the consumer is gone.
    async fn apply(&mut self, event: &Event, delivered: i64) -> bool {
        let Some(kv) = event.kv() else { return true };
        let at = kv.mod_revision();
        if at <= delivered {
            return true;
        }
        self.last_revision = self.last_revision.max(at);
        match self.follow.change(event, at) {
            Some(change) => self.events.send(change).await.is_ok(),
            None => true,
        }
    }

    /// Lists again after a compaction and sends the result as a new
    /// snapshot. `Ok(false)` when the consumer is gone.
    async fn relist(&mut self) -> Result<bool, Error> {
        let (at, snapshot) = self
            .follow
            .list(self.client.clone())
            .await
            .map_err(|error| super::rpc::failed("listing after compaction", &error))?;
        if at <= self.last_revision {
            return Ok(true);
        }
        self.last_revision = at;
        self.follow.adopt(&snapshot);
        Ok(self.events.send(snapshot).await.is_ok())
    }
}
