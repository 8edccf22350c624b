use std::time::Duration;

use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
use sae_core::{Registry, Revision, ServiceName};
use sae_registry::MemoryRegistry;
use tokio::sync::broadcast;

use super::{Applied, RuleFollower, RuleSource, RuleStatus, compile};
use crate::lane::{LaneRules, RuleSet};
use crate::protection::ProtectionRules;

fn edge() -> ServiceName {
    ServiceName::new("edge").unwrap()
}

fn kind(name: &str) -> RuleKind {
    RuleKind::new(name).unwrap()
}

fn document(kind: &str, text: &str) -> RuleDocument {
    RuleDocument::new("edge", kind, RuleFormat::Yaml, text).unwrap()
}

fn percent(percent: u32) -> RuleDocument {
    document(
        RuleKind::LANES,
        &format!(
            "rules: [{{ name: rollout, lane: gray, percentage: {{ header: x-user-id, percent: {percent} }} }}]"
        ),
    )
}

async fn next_applied(applied: &mut broadcast::Receiver<Applied>) -> Applied {
    tokio::time::timeout(Duration::from_secs(5), applied.recv())
        .await
        .expect("no application within the bound")
        .expect("status dropped")
}

struct Following {
    registry: MemoryRegistry,
    lanes: LaneRules,
    protection: ProtectionRules,
    status: RuleStatus,
    _task: super::FollowerTask,
}

async fn follow(configure: impl FnOnce(RuleFollower) -> RuleFollower) -> Following {
    let registry = MemoryRegistry::new();
    let lanes = LaneRules::default();
    let protection = ProtectionRules::default();
    let follower = RuleFollower::new(registry.clone(), edge())
        .lanes(lanes.clone())
        .protection(protection.clone());
    let follower = configure(follower);
    let status = follower.status();
    let task = follower.spawn();
    status.first_read().await;
    Following {
        registry,
        lanes,
        protection,
        status,
        _task: task,
    }
}

#[test]
fn errors_name_the_key_the_rule_and_the_field() {
    let error = compile(&document(
        RuleKind::LANES,
        "rules: [{ name: beta, lane: 'no spaces', path_prefix: / }]",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("/sae/v1/rules/edge/lanes: rules[0] (\"beta\").lane"),
        "{error}"
    );
    let error = compile(&document(
        RuleKind::PROTECTION,
        "rules: [{ strategy: { kind: retry, attempts: 0 } }]",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("/sae/v1/rules/edge/protection: rules[0].strategy.attempts"),
        "{error}"
    );
    let error = compile(&document("canary", "rules: []"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/sae/v1/rules/edge/canary") && error.contains("unknown rule kind"),
        "{error}"
    );
    let error = compile(&document(
        RuleKind::LANES,
        "rules: [{ lane: gray, bogus: 1 }]",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("/sae/v1/rules/edge/lanes: YAML rules at rules[0]"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn every_write_is_applied_once_in_order_and_an_invalid_one_changes_nothing() {
    let following = follow(|follower| follower).await;
    let mut applied = following.status.subscribe();
    let lanes_kind = kind(RuleKind::LANES);

    let mut written = Vec::new();
    for share in [5, 50, 100] {
        written.push(following.registry.put_rules(percent(share)).await.unwrap());
    }
    for revision in &written {
        assert_eq!(
            next_applied(&mut applied).await,
            Applied {
                kind: lanes_kind.clone(),
                revision: *revision
            }
        );
    }
    assert_eq!(following.lanes.load().len(), 1);

    // An invalid write: refused, the running rules (100 %) stay.
    let bad = following
        .registry
        .put_rules(document(RuleKind::LANES, "rules: [{ name: rollout, lane: gray, percentage: { header: x-user-id, percent: 101 } }]"))
        .await
        .unwrap();
    following.status.reached(&lanes_kind, bad).await;
    let status = following.status.kind(&lanes_kind).unwrap();
    assert_eq!(status.revision, Some(written[2]));
    assert_eq!(status.source, RuleSource::Registry);
    let refusal = status.refused.expect("the invalid write is refused");
    assert_eq!(refusal.revision, bad);
    assert!(
        refusal
            .error
            .contains("/sae/v1/rules/edge/lanes: rules[0] (\"rollout\").percentage.percent"),
        "{}",
        refusal.error
    );
    assert_eq!(status.applied, 3);
    let request = http::Request::get("/")
        .header("x-user-id", "u1")
        .body(())
        .unwrap();
    assert_eq!(
        following
            .lanes
            .assign(request.headers(), request.uri())
            .unwrap()
            .as_str(),
        "gray"
    );
    assert!(
        applied.try_recv().is_err(),
        "nothing applied for the invalid write"
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_goes_back_to_the_rules_the_instance_was_built_with() {
    let built = RuleSet::parse(
        "rules: [{ lane: blue, path_prefix: /blue/ }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let registry = MemoryRegistry::new();
    let lanes = LaneRules::new(built);
    let follower = RuleFollower::new(registry.clone(), edge()).lanes(lanes.clone());
    let status = follower.status();
    let _task = follower.spawn();
    let lane_of = |path: &str| {
        let request = http::Request::get(path)
            .header("x-user-id", "u1")
            .body(())
            .unwrap();
        lanes
            .assign(request.headers(), request.uri())
            .map(|lane| lane.as_str().to_owned())
    };
    assert_eq!(lane_of("/blue/x").as_deref(), Some("blue"));

    let lanes_kind = kind(RuleKind::LANES);
    let put = registry.put_rules(percent(100)).await.unwrap();
    status.reached(&lanes_kind, put).await;
    assert_eq!(lane_of("/blue/x").as_deref(), Some("gray"));
    let deleted = registry
        .delete_rules(&edge(), &lanes_kind)
        .await
        .unwrap()
        .unwrap();
    status.reached(&lanes_kind, deleted).await;
    assert_eq!(lane_of("/blue/x").as_deref(), Some("blue"));
    let now = status.kind(&lanes_kind).unwrap();
    assert_eq!(
        (now.source, now.revision, now.applied),
        (RuleSource::Built, Some(deleted), 2)
    );
}

#[tokio::test(start_paused = true)]
async fn deleting_protection_rules_restores_the_handle() {
    let following = follow(|follower| follower).await;
    let protection_kind = kind(RuleKind::PROTECTION);
    let before = following.protection.load().len();
    let put = following
        .registry
        .put_rules(document(RuleKind::PROTECTION, "rules: [{ targets: [{ service: inventory }], strategy: { kind: timeout, timeout: 300ms } }]"))
        .await
        .unwrap();
    following.status.reached(&protection_kind, put).await;
    let inventory = ServiceName::new("inventory").unwrap();
    assert_eq!(
        following
            .protection
            .load()
            .call_policy(&inventory, None)
            .timeout,
        Some(Duration::from_millis(300))
    );
    let deleted = following
        .registry
        .delete_rules(&edge(), &protection_kind)
        .await
        .unwrap()
        .unwrap();
    following.status.reached(&protection_kind, deleted).await;
    assert_eq!(following.protection.load().len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_pinned_kind_keeps_its_local_rules() {
    let following =
        follow(|follower| follower.pin_local(RuleKind::lanes(), "/etc/edge/lanes.yaml")).await;
    let lanes_kind = kind(RuleKind::LANES);
    following.registry.put_rules(percent(5)).await.unwrap();
    // A later protection write proves the lanes write was handled before it.
    let protection_kind = kind(RuleKind::PROTECTION);
    let later = following
        .registry
        .put_rules(document(RuleKind::PROTECTION, "rules: []"))
        .await
        .unwrap();
    following.status.reached(&protection_kind, later).await;
    assert!(
        following.lanes.load().is_empty(),
        "the registry's lanes were not applied"
    );
    let status = following.status.kind(&lanes_kind).unwrap();
    assert_eq!(
        status.source,
        RuleSource::Local("/etc/edge/lanes.yaml".into())
    );
    assert_eq!((status.revision, status.applied), (None, 0));
}

#[tokio::test(start_paused = true)]
async fn rules_written_before_the_follower_starts_are_applied_from_the_snapshot() {
    let registry = MemoryRegistry::new();
    let written = registry.put_rules(percent(5)).await.unwrap();
    let lanes = LaneRules::default();
    let follower = RuleFollower::new(registry.clone(), edge()).lanes(lanes.clone());
    let status = follower.status();
    let _task = follower.spawn();
    status.first_read().await;
    assert_eq!(lanes.load().len(), 1);
    assert_eq!(
        status.kind(&kind(RuleKind::LANES)).unwrap().revision,
        Some(written)
    );
    let json = status.to_json();
    assert_eq!(json["kinds"]["lanes"]["revision"], written.0);
    assert_eq!(json["kinds"]["lanes"]["source"], "registry");
    assert!(written > Revision(0));
}

/// A registry that stores no rules: the trait's default rule methods.
#[derive(Debug)]
struct NoRules;

impl Registry for NoRules {
    fn backend(&self) -> &'static str {
        "no-rules"
    }
    fn register(
        &self,
        _: sae_core::Instance,
    ) -> sae_core::BoxFuture<'_, Result<sae_core::Registration, sae_core::Error>> {
        Box::pin(async { Err(sae_core::Error::registry("no-rules", "not in this test")) })
    }
    fn deregister<'a>(
        &'a self,
        _: &'a ServiceName,
        _: &'a sae_core::InstanceId,
    ) -> sae_core::BoxFuture<'a, Result<(), sae_core::Error>> {
        Box::pin(async { Ok(()) })
    }
    fn list<'a>(
        &'a self,
        _: &'a ServiceName,
    ) -> sae_core::BoxFuture<'a, Result<sae_core::Snapshot, sae_core::Error>> {
        Box::pin(async { Ok(sae_core::Snapshot::default()) })
    }
    fn watch<'a>(
        &'a self,
        _: &'a ServiceName,
    ) -> sae_core::BoxFuture<'a, Result<sae_core::WatchStream, sae_core::Error>> {
        Box::pin(async { Err(sae_core::Error::registry("no-rules", "not in this test")) })
    }
}

/// A registry whose rule watch yields `events`, then stays open; the rest
/// is [`NoRules`].
#[derive(Debug)]
struct Scripted(parking_lot::Mutex<Option<Vec<sae_core::rules::RuleEvent>>>);

impl Registry for Scripted {
    fn backend(&self) -> &'static str {
        "scripted"
    }
    fn register(
        &self,
        instance: sae_core::Instance,
    ) -> sae_core::BoxFuture<'_, Result<sae_core::Registration, sae_core::Error>> {
        NoRules.register(instance)
    }
    fn deregister<'a>(
        &'a self,
        service: &'a ServiceName,
        id: &'a sae_core::InstanceId,
    ) -> sae_core::BoxFuture<'a, Result<(), sae_core::Error>> {
        Box::pin(async move { NoRules.deregister(service, id).await })
    }
    fn list<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> sae_core::BoxFuture<'a, Result<sae_core::Snapshot, sae_core::Error>> {
        Box::pin(async move { NoRules.list(service).await })
    }
    fn watch<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> sae_core::BoxFuture<'a, Result<sae_core::WatchStream, sae_core::Error>> {
        Box::pin(async move { NoRules.watch(service).await })
    }
    fn watch_rules<'a>(
        &'a self,
        _: &'a ServiceName,
    ) -> sae_core::BoxFuture<'a, Result<sae_core::rules::RuleStream, sae_core::Error>> {
        let events = self.0.lock().take().unwrap_or_default();
        Box::pin(async move {
            let stream = futures_util::StreamExt::chain(
                futures_util::stream::iter(events),
                futures_util::stream::pending(),
            );
            Ok(Box::pin(stream) as sae_core::rules::RuleStream)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_registry_that_stores_no_rules_is_read_at_once() {
    let lanes = LaneRules::default();
    let follower = RuleFollower::new(NoRules, edge()).lanes(lanes.clone());
    let status = follower.status();
    let started = tokio::time::Instant::now();
    let _task = follower.spawn();
    status.first_read().await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no retry, no wait");
    assert!(status.has_read());
    assert_eq!(
        status.kind(&RuleKind::lanes()).unwrap().source,
        RuleSource::Built
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_document_in_a_re_list_is_refused_not_taken_for_a_delete() {
    use sae_core::rules::{RuleEvent, RuleSnapshot, StoredRules, UnreadableRules};

    let applied = StoredRules {
        document: percent(5),
        revision: Revision(5),
    };
    let unreadable = UnreadableRules {
        kind: RuleKind::lanes(),
        revision: Revision(11),
        error: "/sae/v1/rules/edge/lanes: encoding version 2 is not supported".into(),
    };
    let events = vec![
        RuleEvent::Snapshot(RuleSnapshot {
            revision: Revision(5),
            rules: vec![applied],
            unreadable: Vec::new(),
        }),
        // After a compaction: the document is there, in a newer envelope.
        RuleEvent::Snapshot(RuleSnapshot {
            revision: Revision(12),
            rules: Vec::new(),
            unreadable: vec![unreadable],
        }),
    ];
    let lanes = LaneRules::default();
    let follower = RuleFollower::new(Scripted(parking_lot::Mutex::new(Some(events))), edge())
        .lanes(lanes.clone());
    let status = follower.status();
    let _task = follower.spawn();
    status.reached(&RuleKind::lanes(), Revision(11)).await;
    assert_eq!(lanes.load().len(), 1, "the running rules stay");
    let now = status.kind(&RuleKind::lanes()).unwrap();
    assert_eq!(
        (now.source, now.revision, now.applied),
        (RuleSource::Registry, Some(Revision(5)), 1)
    );
    let refusal = now.refused.expect("refused");
    assert_eq!(refusal.revision, Revision(11));
    assert!(refusal.error.contains("version 2"), "{}", refusal.error);
}

#[tokio::test(start_paused = true)]
async fn deleting_a_refused_document_clears_the_refusal() {
    let following = follow(|follower| follower).await;
    let lanes_kind = RuleKind::lanes();
    let bad = following
        .registry
        .put_rules(document(
            RuleKind::LANES,
            "rules: [{ lane: 'no spaces', path_prefix: / }]",
        ))
        .await
        .unwrap();
    following.status.reached(&lanes_kind, bad).await;
    assert!(
        following
            .status
            .kind(&lanes_kind)
            .unwrap()
            .refused
            .is_some()
    );
    let deleted = following
        .registry
        .delete_rules(&edge(), &lanes_kind)
        .await
        .unwrap()
        .unwrap();
    following.status.reached(&lanes_kind, deleted).await;
    let now = following.status.kind(&lanes_kind).unwrap();
    assert_eq!(
        (now.refused, now.handled, now.applied),
        (None, Some(deleted), 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_delete_restores_what_the_handle_held_when_the_registry_took_over() {
    let following = follow(|follower| follower).await;
    // The application reloads its handle after the provider was built...
    following
        .lanes
        .reload_str(
            "rules: [{ lane: blue, path_prefix: /blue/ }]",
            RuleFormat::Yaml,
        )
        .unwrap();
    let lanes_kind = RuleKind::lanes();
    let put = following.registry.put_rules(percent(100)).await.unwrap();
    following.status.reached(&lanes_kind, put).await;
    let deleted = following
        .registry
        .delete_rules(&edge(), &lanes_kind)
        .await
        .unwrap()
        .unwrap();
    following.status.reached(&lanes_kind, deleted).await;
    // ...and a delete gives that reload back, not the rules at build time.
    let request = http::Request::get("/blue/x").body(()).unwrap();
    assert_eq!(
        following
            .lanes
            .assign(request.headers(), request.uri())
            .map(|lane| lane.as_str().to_owned()),
        Some("blue".to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn a_pinned_kind_ignores_an_unreadable_value_too() {
    use sae_core::rules::{RuleEvent, RuleSnapshot, UnreadableRules};

    let unreadable = UnreadableRules {
        kind: RuleKind::lanes(),
        revision: Revision(7),
        error: "/sae/v1/rules/edge/lanes: encoding version 2 is not supported".into(),
    };
    let events = vec![RuleEvent::Snapshot(RuleSnapshot {
        revision: Revision(7),
        rules: Vec::new(),
        unreadable: vec![unreadable],
    })];
    let follower = RuleFollower::new(Scripted(parking_lot::Mutex::new(Some(events))), edge())
        .lanes(LaneRules::default())
        .pin_local(RuleKind::lanes(), "/etc/edge/lanes.yaml");
    let status = follower.status();
    let _task = follower.spawn();
    status.reached(&RuleKind::lanes(), Revision(7)).await;
    let now = status.kind(&RuleKind::lanes()).unwrap();
    assert_eq!(now.source, RuleSource::Local("/etc/edge/lanes.yaml".into()));
    assert_eq!(
        now.refused, None,
        "a pinned instance does not refuse what it ignores"
    );
}
