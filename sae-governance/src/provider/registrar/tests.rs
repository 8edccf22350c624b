use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use futures_util::StreamExt;
use sae_core::{
    BoxFuture, Error, Instance, InstanceId, Lease, Lifecycle, Phase, Registered, Registration,
    Registry, RemovalReason, Revision, ServiceName, Snapshot, WatchEvent, WatchStream,
};
use sae_registry::MemoryRegistry;
use tokio::sync::{Notify, mpsc};

use super::*;

fn orders() -> InstanceBuilder {
    Instance::builder("orders")
}

fn registrar(
    registry: Arc<dyn Registry>,
    lifecycle: Lifecycle,
    template: InstanceBuilder,
) -> Registrar {
    Registrar::new(
        registry,
        lifecycle,
        template,
        InstanceId::new("orders-1").unwrap(),
    )
}

fn bound() -> SocketAddr {
    "127.0.0.1:4321".parse().unwrap()
}

async fn listed(registry: &dyn Registry) -> Vec<Instance> {
    let service = ServiceName::new("orders").unwrap();
    let snapshot = registry.list(&service).await.unwrap();
    snapshot.instances.into_iter().map(|e| e.instance).collect()
}

#[tokio::test(start_paused = true)]
async fn registers_only_after_readiness_passes() {
    let registry = Arc::new(MemoryRegistry::new());
    let lifecycle = Lifecycle::new();
    let ready = Arc::new(AtomicBool::new(false));
    let (probed_tx, mut probed) = mpsc::unbounded_channel();
    let check = {
        let ready = ready.clone();
        ReadinessCheck::new(move || {
            let _ = probed_tx.send(());
            let ready = ready.load(Ordering::SeqCst);
            async move { ready }
        })
    };
    let mut registrar = registrar(registry.clone(), lifecycle.clone(), orders()).readiness(check);
    let start = tokio::spawn(async move {
        registrar.register(bound()).await.unwrap();
        registrar
    });

    // Several probes have answered "not ready": nothing is registered yet.
    for _ in 0..3 {
        probed.recv().await.unwrap();
    }
    assert!(listed(&*registry).await.is_empty());
    assert_eq!(lifecycle.phase(), Phase::Starting);

    ready.store(true, Ordering::SeqCst);
    let registrar = start.await.unwrap();
    let instances = listed(&*registry).await;
    assert_eq!(instances.len(), 1);
    // The unspecified address of the builder became the bound one.
    assert_eq!(instances[0].addr(), bound());
    assert_eq!(registrar.instance().unwrap().addr(), bound());
    // The registrar never moves the lifecycle: the provider's sequence does.
    assert_eq!(lifecycle.phase(), Phase::Starting);
}

#[tokio::test(start_paused = true)]
async fn keeps_a_configured_address() {
    let registry = Arc::new(MemoryRegistry::new());
    let advertised: SocketAddr = "10.1.2.3:80".parse().unwrap();
    let mut registrar = registrar(
        registry.clone(),
        Lifecycle::new(),
        orders().addr(advertised),
    );
    registrar.register(bound()).await.unwrap();
    assert_eq!(listed(&*registry).await[0].addr(), advertised);
}

#[tokio::test(start_paused = true)]
async fn deregister_removes_and_drains() {
    let registry = Arc::new(MemoryRegistry::new());
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    registrar.register(bound()).await.unwrap();
    assert_eq!(listed(&*registry).await.len(), 1);

    registrar.deregister().await.unwrap();
    assert!(listed(&*registry).await.is_empty());
    assert!(!registrar.is_registered());
    // A second call has nothing to do.
    registrar.deregister().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn failing_registry_returns_the_error() {
    let registry = Arc::new(FaultyRegistry::new(Fault::Fail));
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    registrar.register(bound()).await.unwrap();
    let outcome = registrar.deregister().await;
    assert!(
        matches!(outcome, Err(Error::Registry { .. })),
        "{outcome:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn hanging_registry_times_out() {
    let registry = Arc::new(FaultyRegistry::new(Fault::Hang));
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders())
        .deregister_timeout(Duration::from_secs(2));
    registrar.register(bound()).await.unwrap();
    let outcome = registrar.deregister().await;
    assert!(
        matches!(
            outcome,
            Err(Error::RegistryTimeout {
                operation: "deregister",
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn registers_again_after_a_lost_lease() {
    let registry = Arc::new(FaultyRegistry::new(Fault::None));
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    registrar.register(bound()).await.unwrap();
    assert_eq!(registry.registrations.load(Ordering::SeqCst), 1);

    registry.lose_lease.notify_one();
    let maintained = registry.registered.notified();
    tokio::select! {
        _ = registrar.maintain() => unreachable!("maintain never returns"),
        _ = maintained => {}
    }
    assert_eq!(registry.registrations.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn does_not_register_again_while_draining() {
    let registry = Arc::new(FaultyRegistry::new(Fault::None));
    let lifecycle = Lifecycle::new();
    let mut registrar = registrar(registry.clone(), lifecycle.clone(), orders());
    registrar.register(bound()).await.unwrap();
    lifecycle.advance(Phase::Draining).unwrap();

    registry.lose_lease.notify_one();
    // With the clock paused, the timeout fires only once maintain has nothing left to do.
    let outcome = tokio::time::timeout(Duration::from_secs(60), registrar.maintain()).await;
    assert!(outcome.is_err());
    assert_eq!(registry.registrations.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn registration_is_retried_through_a_registry_outage_at_start() {
    let registry = Arc::new(FaultyRegistry::new(Fault::None));
    // Down for the first five attempts: with backoff doubling from 200 ms
    // that is several seconds, far past a single try.
    registry.refusals.store(5, Ordering::SeqCst);
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    registrar.register(bound()).await.unwrap();
    assert_eq!(registry.attempts.load(Ordering::SeqCst), 6);
    assert_eq!(registry.registrations.load(Ordering::SeqCst), 1);
    assert!(registrar.is_registered());
}

#[tokio::test(start_paused = true)]
async fn an_unroutable_bound_address_is_a_configuration_error() {
    let registry = Arc::new(FaultyRegistry::new(Fault::None));
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    let outcome = registrar.register("0.0.0.0:8080".parse().unwrap()).await;
    assert!(
        matches!(outcome, Err(Error::UnroutableAddress { .. })),
        "{outcome:?}"
    );
    assert_eq!(registry.attempts.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_deleted_registration_is_re_asserted_within_one_ttl() {
    let ttl = Duration::from_secs(3);
    let registry = Arc::new(MemoryRegistry::with_ttl(ttl));
    let service = ServiceName::new("orders").unwrap();
    let mut watch = registry.watch(&service).await.unwrap();
    assert!(matches!(watch.next().await, Some(WatchEvent::Snapshot(_))));
    let mut registrar = registrar(registry.clone(), Lifecycle::new(), orders());
    registrar.register(bound()).await.unwrap();
    let Some(WatchEvent::Upsert(first)) = watch.next().await else {
        panic!("expected the registration");
    };

    let scenario = async {
        // An operator deletes the entry while the provider's lease lives.
        let id = InstanceId::new("orders-1").unwrap();
        registry.deregister(&service, &id).await.unwrap();
        assert!(matches!(
            watch.next().await,
            Some(WatchEvent::Remove {
                reason: RemovalReason::Deregistered,
                ..
            })
        ));
        let deleted = tokio::time::Instant::now();
        let Some(WatchEvent::Upsert(again)) = watch.next().await else {
            panic!("expected the registration again");
        };
        (deleted.elapsed(), first.revision, again)
    };
    let (after, first, again) = tokio::select! {
        () = registrar.maintain() => unreachable!("maintain never returns while serving"),
        outcome = scenario => outcome,
    };
    assert!(after <= ttl, "re-asserted after {after:?}");
    assert!(again.revision > first);
    assert_eq!(again.instance.addr(), bound());
}

/// What the fault-injecting registry does on deregistration.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Fail,
    Hang,
}

/// A registry whose deregistration fails or never answers, and whose lease
/// can be "lost" on demand.
#[derive(Debug)]
struct FaultyRegistry {
    fault: Fault,
    /// Registrations still to refuse (an unreachable registry).
    refusals: AtomicUsize,
    attempts: AtomicUsize,
    registrations: AtomicUsize,
    registered: Notify,
    lose_lease: Arc<Notify>,
}

impl FaultyRegistry {
    fn new(fault: Fault) -> Self {
        FaultyRegistry {
            fault,
            refusals: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
            registrations: AtomicUsize::new(0),
            registered: Notify::new(),
            lose_lease: Arc::new(Notify::new()),
        }
    }
}

struct FaultyLease {
    fault: Fault,
    lose: Arc<Notify>,
}

impl Lease for FaultyLease {
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        let fault = self.fault;
        Box::pin(async move {
            match fault {
                Fault::None => Ok(()),
                Fault::Fail => Err(Error::registry("faulty", "connection refused")),
                Fault::Hang => std::future::pending().await,
            }
        })
    }

    fn lost(&self) -> BoxFuture<'static, ()> {
        let lose = self.lose.clone();
        Box::pin(async move { lose.notified().await })
    }
}

impl Registry for FaultyRegistry {
    fn backend(&self) -> &'static str {
        "faulty"
    }

    fn register(&self, instance: Instance) -> BoxFuture<'_, Result<Registration, Error>> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let refuse = self
                .refusals
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if refuse.is_ok() {
                return Err(Error::registry("faulty", "connection refused"));
            }
            let count = self.registrations.fetch_add(1, Ordering::SeqCst) + 1;
            self.registered.notify_waiters();
            let entry = Registered {
                instance,
                revision: Revision(count as u64),
            };
            let lease = FaultyLease {
                fault: self.fault,
                lose: self.lose_lease.clone(),
            };
            Ok(Registration::new(entry, Box::new(lease)))
        })
    }

    fn deregister<'a>(
        &'a self,
        _service: &'a ServiceName,
        _id: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        let lease = Box::new(FaultyLease {
            fault: self.fault,
            lose: self.lose_lease.clone(),
        });
        lease.deregister()
    }

    fn list<'a>(&'a self, _service: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>> {
        Box::pin(async { Ok(Snapshot::default()) })
    }

    fn watch<'a>(&'a self, _service: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>> {
        Box::pin(async { Err(Error::registry("faulty", "watch is not supported")) })
    }
}
