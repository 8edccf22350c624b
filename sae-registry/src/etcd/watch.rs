//! The watch task: one service's keys as a gap-free stream of [`WatchEvent`]s.
//!
//! [`EtcdRegistry::watch`](super::EtcdRegistry) lists the service's prefix
//! at revision R and sends that as the first [`WatchEvent::Snapshot`]; this
//! task then watches the prefix from R + 1. etcd delivers every change after
//! a revision exactly once per watch, so nothing falls between the list and
//! the watch. When the stream breaks (member killed, etcd restarting), the
//! task reconnects with backoff and resumes from the last revision it
//! delivered + 1, skipping anything at or below it. When etcd has compacted
//! that revision away, the history is gone: the task lists again and sends
//! a new snapshot, as the [`Registry`](sae_core::Registry) contract asks.
//!
//! Events of one etcd transaction share its revision; sae writes one key
//! per transaction, so only an operator's bulk delete yields equal revisions.

use std::collections::HashSet;

use etcd_client::{Client, Event, EventType, GetOptions, KeyValue, WatchOptions};
use sae_core::{
    Error, Instance, InstanceId, Registered, RemovalReason, ServiceName, Snapshot, WatchEvent,
};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use super::keys;
use super::rpc::{Backoff, revision};

/// Events buffered for a consumer before the task stops reading etcd (which
/// then buffers for it). Registry changes are rare; this is plenty.
const EVENT_BUFFER: usize = 256;

/// Reconnect backoff: quick first retries for a leader change, at most 1 s
/// apart so a consumer sees changes soon after etcd returns.
const RECONNECT_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// One service's watch, owned by its task.
pub(super) struct ServiceWatch {
    client: Client,
    service: ServiceName,
    prefix: String,
    /// The last etcd revision delivered; the watch resumes after it.
    last_revision: i64,
    /// The ids currently advertised to the consumer.
    known: HashSet<InstanceId>,
    events: mpsc::Sender<WatchEvent>,
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

/// Lists `service` at one revision: the snapshot, or an error.
pub(super) async fn list(
    client: &mut Client,
    service: &ServiceName,
) -> Result<Snapshot, etcd_client::Error> {
    let prefix = keys::service_prefix(service);
    let answer = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await?;
    let at = answer.header().map_or(0, |header| header.revision());
    let instances = answer
        .kvs()
        .iter()
        .filter_map(|kv| decode(service, &prefix, kv).map(|(_, entry)| entry))
        .collect();
    Ok(Snapshot {
        revision: revision(at),
        instances,
    })
}

/// Decodes one stored instance, or warns naming the key and returns `None`.
fn decode(service: &ServiceName, prefix: &str, kv: &KeyValue) -> Option<(InstanceId, Registered)> {
    let key = kv.key();
    let Some(id) = keys::instance_id(prefix, key) else {
        tracing::warn!(key = %keys::display(key), "skipping etcd key that is not an instance key");
        return None;
    };
    let instance = match Instance::from_json(kv.value()) {
        Ok(instance) => instance,
        Err(error) => {
            tracing::warn!(key = %keys::display(key), %error, "skipping malformed etcd registry entry");
            return None;
        }
    };
    if instance.service() != service || instance.id() != &id {
        tracing::warn!(
            key = %keys::display(key),
            service = %instance.service().as_str(),
            id = %instance.id().as_str(),
            "skipping etcd registry entry whose value names another instance than its key"
        );
        return None;
    }
    let entry = Registered {
        instance,
        revision: revision(kv.mod_revision()),
    };
    Some((id, entry))
}

impl ServiceWatch {
    /// A watch that has delivered `snapshot` and continues after it.
    pub(super) fn new(
        client: Client,
        service: ServiceName,
        snapshot: &Snapshot,
        events: mpsc::Sender<WatchEvent>,
    ) -> Self {
        ServiceWatch {
            client,
            prefix: keys::service_prefix(&service),
            service,
            last_revision: i64::try_from(snapshot.revision.0).unwrap_or(i64::MAX),
            known: snapshot
                .instances
                .iter()
                .map(|entry| entry.instance.id().clone())
                .collect(),
            events,
        }
    }

    /// The channel capacity for [`ServiceWatch::new`].
    pub(super) fn channel() -> (mpsc::Sender<WatchEvent>, mpsc::Receiver<WatchEvent>) {
        mpsc::channel(EVENT_BUFFER)
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
            tracing::warn!(service = %self.service.as_str(), %error, "etcd watch interrupted; reconnecting and resuming from revision {}", self.last_revision + 1);
        }
    }

    /// Watches from `last_revision + 1` until the stream ends.
    async fn stream(&mut self, backoff: &mut Backoff, outage: &mut bool) -> WatchEnd {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.last_revision + 1);
        let mut watch_client = self.client.watch_client();
        let opened = tokio::select! {
            opened = watch_client.watch(self.prefix.as_str(), Some(options)) => opened,
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
                tracing::warn!(service = %self.service.as_str(), compacted = response.compact_revision(), "etcd compacted the watched history; listing again");
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
                    tracing::info!(service = %self.service.as_str(), "etcd watch resumed from revision {}", self.last_revision + 1);
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

    /// Turns one etcd event into at most one [`WatchEvent`]; false when the
    /// consumer is gone.
    async fn apply(&mut self, event: &Event, delivered: i64) -> bool {
        let Some(kv) = event.kv() else { return true };
        let at = kv.mod_revision();
        if at <= delivered {
            return true;
        }
        self.last_revision = self.last_revision.max(at);
        let change = match event.event_type() {
            EventType::Put => match decode(&self.service, &self.prefix, kv) {
                Some((id, mut entry)) => {
                    entry.revision = revision(at);
                    self.known.insert(id);
                    Some(WatchEvent::Upsert(entry))
                }
                // The valid entry it replaced no longer describes anything.
                None => self.removal(kv, at),
            },
            EventType::Delete => self.removal(kv, at),
        };
        match change {
            Some(change) => self.events.send(change).await.is_ok(),
            None => true,
        }
    }

    /// A removal of the instance `kv` names, if the consumer knows it.
    fn removal(&mut self, kv: &KeyValue, at: i64) -> Option<WatchEvent> {
        let id = keys::instance_id(&self.prefix, kv.key())?;
        self.known.remove(&id).then(|| WatchEvent::Remove {
            revision: revision(at),
            id,
            // etcd reports an expired lease's delete like any other delete.
            reason: RemovalReason::Deregistered,
        })
    }

    /// Lists again after a compaction and sends the result as a new
    /// snapshot. `Ok(false)` when the consumer is gone.
    async fn relist(&mut self) -> Result<bool, Error> {
        let snapshot = list(&mut self.client, &self.service)
            .await
            .map_err(|error| super::rpc::failed("listing after compaction", &error))?;
        let at = i64::try_from(snapshot.revision.0).unwrap_or(i64::MAX);
        if at <= self.last_revision {
            return Ok(true);
        }
        self.last_revision = at;
        self.known = snapshot
            .instances
            .iter()
            .map(|entry| entry.instance.id().clone())
            .collect();
        Ok(self
            .events
            .send(WatchEvent::Snapshot(snapshot))
            .await
            .is_ok())
    }
}
