//! A service's instance keys: the snapshot, decoding, and the watch's [`Follow`].

use std::collections::HashSet;

use etcd_client::{Client, Event, EventType, GetOptions, KeyValue};
use sae_core::{
    Instance, InstanceId, Registered, RemovalReason, ServiceName, Snapshot, WatchEvent,
};

use super::keys;
use super::rpc::revision;
use super::watch::Follow;

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

/// What the instance watch of one service knows.
pub(super) struct Instances {
    service: ServiceName,
    prefix: String,
    /// The ids currently advertised to the consumer.
    known: HashSet<InstanceId>,
}

impl Instances {
    /// The follower of `service`'s instances; it learns what the consumer
    /// knows from the first snapshot it adopts.
    pub(super) fn new(service: ServiceName) -> Self {
        Instances {
            prefix: keys::service_prefix(&service),
            service,
            known: HashSet::new(),
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
}

impl Follow for Instances {
    type Event = WatchEvent;

    fn service(&self) -> &ServiceName {
        &self.service
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn change(&mut self, event: &Event, at: i64) -> Option<WatchEvent> {
        let kv = event.kv()?;
        match event.event_type() {
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
        }
    }

    async fn list(&self, mut client: Client) -> Result<(i64, WatchEvent), etcd_client::Error> {
        let snapshot = list(&mut client, &self.service).await?;
        let at = i64::try_from(snapshot.revision.0).unwrap_or(i64::MAX);
        Ok((at, WatchEvent::Snapshot(snapshot)))
    }

    fn adopt(&mut self, snapshot: &WatchEvent) {
        if let WatchEvent::Snapshot(snapshot) = snapshot {
            self.known = snapshot
                .instances
                .iter()
                .map(|entry| entry.instance.id().clone())
                .collect();
        }
    }
}
