//! `sae watch SERVICE`: a service's instance and rule changes as they
//! happen, one line each, until interrupted.

use std::future::Future;
use std::io::Write;
use std::time::SystemTime;

use futures_util::StreamExt;
use sae_core::rules::{RuleDocument, RuleEvent};
use sae_core::{Registered, Registry, RemovalReason, Revision, ServiceName, WatchEvent};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::services::{WarmUp, instance_json, lane_name};

/// Follows `service`'s instances and rule documents (both watches at once)
/// and writes one line per event (with `json`, one JSON object per line)
/// until `stop` resolves.
///
/// # Errors
///
/// [`CliError::Registry`] when a watch cannot start or ends (the registry
/// went away); [`CliError::Output`] when `out` cannot be written.
pub async fn watch(
    registry: &dyn Registry,
    service: &ServiceName,
    out: &mut dyn Write,
    json: bool,
    stop: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let (mut instances, mut rules) =
        tokio::try_join!(registry.watch(service), registry.watch_rules(service))
            .map_err(CliError::registry)?;
    let ended = |what: &str| {
        CliError::registry(sae_core::Error::registry(
            registry.backend(),
            format!("the {what} watch of service {:?} ended", service.as_str()),
        ))
    };
    tokio::pin!(stop);
    loop {
        let line = tokio::select! {
            () = &mut stop => return Ok(()),
            event = instances.next() => {
                let event = event.ok_or_else(|| ended("instance"))?;
                instance_line(&event, SystemTime::now(), json)
            }
            event = rules.next() => {
                let event = event.ok_or_else(|| ended("rules"))?;
                rule_line(&event, SystemTime::now(), json)
            }
        };
        writeln!(out, "{line}")?;
        // Each change as it happens, also when stdout is a pipe.
        out.flush()?;
    }
}

/// One line for an instance event.
fn instance_line(event: &WatchEvent, now: SystemTime, json: bool) -> String {
    let revision = event.revision();
    match event {
        WatchEvent::Snapshot(snapshot) if json => {
            let instances: Vec<Value> = snapshot
                .instances
                .iter()
                .map(|entry| instance_json(entry, now))
                .collect();
            json_line(
                now,
                revision,
                "instances",
                json!({ "instances": instances }),
            )
        }
        WatchEvent::Snapshot(snapshot) => {
            let listed: Vec<String> = snapshot
                .instances
                .iter()
                .map(|Registered { instance, .. }| {
                    format!(
                        "{} {} {}",
                        instance.id().as_str(),
                        instance.addr(),
                        lane_name(instance)
                    )
                })
                .collect();
            let what = if listed.is_empty() {
                "none registered".to_owned()
            } else {
                format!("{} registered: {}", listed.len(), listed.join(", "))
            };
            text_line(now, revision, &format!("instances: {what}"))
        }
        WatchEvent::Upsert(entry) if json => json_line(
            now,
            revision,
            "instance_up",
            json!({ "instance": instance_json(entry, now) }),
        ),
        WatchEvent::Upsert(Registered { instance, .. }) => text_line(
            now,
            revision,
            &format!(
                "instance up: {} {} lane {}, weight {}, {}",
                instance.id().as_str(),
                instance.addr(),
                lane_name(instance),
                instance.weight(),
                WarmUp::of(instance, now)
            ),
        ),
        WatchEvent::Remove { id, reason, .. } => {
            let reason = match reason {
                RemovalReason::Deregistered => "deregistered",
                RemovalReason::Expired => "expired",
            };
            if json {
                json_line(
                    now,
                    revision,
                    "instance_down",
                    json!({ "id": id.as_str(), "reason": reason }),
                )
            } else {
                text_line(
                    now,
                    revision,
                    &format!("instance down: {} ({reason})", id.as_str()),
                )
            }
        }
    }
}

/// One line for a rules event. A written document is checked as instances
/// will check it, so the operator sees at once whether they will apply it.
fn rule_line(event: &RuleEvent, now: SystemTime, json: bool) -> String {
    let revision = event.revision();
    match event {
        RuleEvent::Snapshot(snapshot) if json => {
            let rules: Vec<Value> = snapshot
                .rules
                .iter()
                .map(|stored| {
                    json!({
                        "kind": stored.document.kind.as_str(),
                        "format": stored.document.format.as_str(),
                        "revision": stored.revision.0,
                    })
                })
                .collect();
            let unreadable: Vec<Value> = snapshot
                .unreadable
                .iter()
                .map(|bad| json!({ "kind": bad.kind.as_str(), "revision": bad.revision.0, "error": bad.error }))
                .collect();
            json_line(
                now,
                revision,
                "rules",
                json!({ "rules": rules, "unreadable": unreadable }),
            )
        }
        RuleEvent::Snapshot(snapshot) => {
            let mut listed: Vec<String> = snapshot
                .rules
                .iter()
                .map(|stored| {
                    format!(
                        "{} (revision {}, {})",
                        stored.document.kind,
                        stored.revision.0,
                        stored.document.format.as_str()
                    )
                })
                .chain(snapshot.unreadable.iter().map(|bad| {
                    format!(
                        "{} (revision {}, unreadable: {})",
                        bad.kind, bad.revision.0, bad.error
                    )
                }))
                .collect();
            listed.sort();
            let what = if listed.is_empty() {
                "none stored".to_owned()
            } else {
                listed.join(", ")
            };
            text_line(now, revision, &format!("rules: {what}"))
        }
        RuleEvent::Put(stored) => {
            let document = &stored.document;
            let checked = checked(document);
            if json {
                let (valid, rules, error) = match &checked {
                    Ok(rules) => (true, Some(*rules), None),
                    Err(error) => (false, None, Some(error.to_string())),
                };
                json_line(
                    now,
                    revision,
                    "rules_put",
                    json!({
                        "kind": document.kind.as_str(),
                        "format": document.format.as_str(),
                        "valid": valid,
                        "rules": rules,
                        "error": error,
                        "text": document.text,
                    }),
                )
            } else {
                let verdict = match checked {
                    Ok(rules) => crate::rules::count(rules),
                    Err(error) => format!("invalid: {error}"),
                };
                text_line(
                    now,
                    revision,
                    &format!(
                        "rules put: {} ({}, {verdict})",
                        document.kind,
                        document.format.as_str()
                    ),
                )
            }
        }
        RuleEvent::Unreadable(bad) if json => json_line(
            now,
            revision,
            "rules_unreadable",
            json!({ "kind": bad.kind.as_str(), "error": bad.error }),
        ),
        RuleEvent::Unreadable(bad) => text_line(
            now,
            revision,
            &format!(
                "rules put: {} (unreadable, instances keep their rules: {})",
                bad.kind, bad.error
            ),
        ),
        RuleEvent::Delete { kind, .. } if json => json_line(
            now,
            revision,
            "rules_deleted",
            json!({ "kind": kind.as_str() }),
        ),
        RuleEvent::Delete { kind, .. } => {
            text_line(now, revision, &format!("rules deleted: {kind}"))
        }
    }
}

fn checked(document: &RuleDocument) -> Result<usize, sae_core::Error> {
    sae_governance::rules::compile(document).map(|compiled| compiled.len())
}

fn text_line(now: SystemTime, revision: Revision, what: &str) -> String {
    format!(
        "{} revision {} {what}",
        humantime::format_rfc3339_seconds(now),
        revision.0
    )
}

fn json_line(now: SystemTime, revision: Revision, event: &str, fields: Value) -> String {
    let mut line = json!({
        "time": humantime::format_rfc3339_millis(now).to_string(),
        "revision": revision.0,
        "event": event,
    });
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sae_core::Instance;
    use sae_core::rules::{RuleFormat, RuleKind};
    use sae_registry::MemoryRegistry;
    use tokio::sync::oneshot;

    use super::*;

    /// A `Write` the test reads while the watch runs; each write wakes
    /// [`Shared::wait_for`].
    #[derive(Clone, Default)]
    struct Shared(
        std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
        std::sync::Arc<tokio::sync::watch::Sender<()>>,
    );

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            self.1.send_replace(());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }

        async fn wait_for(&self, count: usize) -> Vec<String> {
            let mut written = self.1.subscribe();
            let enough = async {
                while self.lines().len() < count {
                    written.changed().await.expect("the sender lives in self");
                }
            };
            // A guard against a hang, not a timing assertion.
            if tokio::time::timeout(Duration::from_secs(5), enough)
                .await
                .is_err()
            {
                panic!("expected {count} lines, got {:?}", self.lines());
            }
            self.lines()
        }
    }

    async fn run_watch(json: bool) -> Vec<String> {
        let registry = MemoryRegistry::new();
        let edge = ServiceName::new("edge").unwrap();
        let gray = Instance::builder("edge")
            .id("e1")
            .addr("127.0.0.1:9001".parse().unwrap())
            .lane("gray")
            .build()
            .unwrap();
        let out = Shared::default();
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let changes = async {
            out.wait_for(2).await;
            let registration = registry.register(gray).await.unwrap();
            out.wait_for(3).await;
            let rules = "rules: [{ lane: gray, path_prefix: /beta/ }]";
            registry
                .put_rules(RuleDocument::new("edge", "lanes", RuleFormat::Yaml, rules).unwrap())
                .await
                .unwrap();
            out.wait_for(4).await;
            let bad = "rules: [{ lane: \"no spaces\", path_prefix: /beta/ }]";
            registry
                .put_rules(RuleDocument::new("edge", "lanes", RuleFormat::Yaml, bad).unwrap())
                .await
                .unwrap();
            out.wait_for(5).await;
            let lanes = RuleKind::new("lanes").unwrap();
            registry.delete_rules(&edge, &lanes).await.unwrap();
            out.wait_for(6).await;
            registration.deregister().await.unwrap();
            let lines = out.wait_for(7).await;
            stop.send(()).unwrap();
            lines
        };
        let mut writer = out.clone();
        let (watched, lines) =
            tokio::join!(watch(&registry, &edge, &mut writer, json, stopped), changes);
        watched.unwrap();
        lines
    }

    #[tokio::test]
    async fn changes_print_one_line_each_until_stopped() {
        let lines = run_watch(false).await;
        // Strip the time; the snapshots come first, in either order.
        let events: Vec<&str> = lines
            .iter()
            .map(|line| line.split_once(' ').unwrap().1)
            .collect();
        let mut snapshots = events[..2].to_vec();
        snapshots.sort();
        assert_eq!(
            snapshots,
            [
                "revision 0 instances: none registered",
                "revision 0 rules: none stored"
            ]
        );
        assert_eq!(
            events[2],
            "revision 1 instance up: e1 127.0.0.1:9001 lane gray, weight 100, warm"
        );
        assert_eq!(events[3], "revision 2 rules put: lanes (yaml, 1 rule)");
        assert!(
            events[4].starts_with("revision 3 rules put: lanes (yaml, invalid: "),
            "{}",
            events[4]
        );
        assert!(events[4].contains("rules[0]"), "{}", events[4]);
        assert_eq!(events[5], "revision 4 rules deleted: lanes");
        assert_eq!(events[6], "revision 5 instance down: e1 (deregistered)");
    }

    #[tokio::test]
    async fn json_prints_one_object_per_line() {
        let lines = run_watch(true).await;
        let values: Vec<Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let events: Vec<&str> = values
            .iter()
            .map(|value| value["event"].as_str().unwrap())
            .collect();
        let mut snapshots = events[..2].to_vec();
        snapshots.sort();
        assert_eq!(snapshots, ["instances", "rules"]);
        assert_eq!(
            &events[2..],
            [
                "instance_up",
                "rules_put",
                "rules_put",
                "rules_deleted",
                "instance_down"
            ]
        );
        assert_eq!(values[2]["instance"]["id"], "e1");
        assert_eq!(values[2]["instance"]["lane"], "gray");
        assert_eq!(values[3]["valid"], true);
        assert_eq!(values[3]["rules"], 1);
        assert_eq!(values[4]["valid"], false);
        assert_eq!(values[6]["reason"], "deregistered");
        assert_eq!(values[6]["revision"], 5);
    }
}
