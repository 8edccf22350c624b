//! The rolling-stop scenario for services on the stock servers (`axum::serve`,
//! tonic's `Server`) with sae's two lines, shared by `tests/stock_servers.rs`
//! and the grpc-orders example's `tests/rolling_stop.rs` (which includes
//! this file by path, so it uses only `sae`, `tokio` and `tokio-stream`).
//!
//! Each test starts three providers its own way and says how one request is
//! sent; [`rolling_stop_under_load`] drives an open-loop load through sae's
//! client, stops one provider in the middle and checks what the load saw.
//! It waits on signals (registry events, counters, the lifecycle), never on
//! time; the real clock only runs the providers' notice windows.
#![allow(dead_code)] // each test binary uses a different part

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sae::core::{RemovalReason, ServiceName, WatchEvent};
use sae::{Phase, Registry, Sae};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_stream::StreamExt;

/// The service every provider registers.
pub const SERVICE: &str = "orders";
/// The offline notice header (HTTP header or gRPC metadata key).
pub const OFFLINE: &str = sae::wire::OFFLINE_HEADER;
/// One request every this long: 250 requests per second.
pub const PERIOD: Duration = Duration::from_millis(4);
/// At most this many requests per load (40 s at [`PERIOD`]): the loop is
/// bounded even if a step it waits for never comes.
pub const MAX_REQUESTS: usize = 10_000;

/// Turns a hang into a failure naming the step; nothing is asserted about
/// how long a step takes.
pub async fn within<F: Future>(step: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{step}: not reached"))
}

/// A counter that can be awaited: `wait_for(n)` resolves once it reached `n`.
#[derive(Debug, Default)]
pub struct Signal {
    count: AtomicUsize,
    changed: Notify,
}

impl Signal {
    pub fn bump(&self) -> usize {
        let count = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        self.changed.notify_waiters();
        count
    }

    pub fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub async fn wait_for(&self, at_least: usize) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a bump in between is not missed.
            notified.as_mut().enable();
            if self.get() >= at_least {
                return;
            }
            notified.await;
        }
    }
}

/// Holds requests in the handler while armed: the test knows when one is
/// held, and releases them all at once.
#[derive(Debug)]
pub struct Gate {
    armed: AtomicBool,
    pub held: Signal,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            armed: AtomicBool::new(false),
            held: Signal::default(),
            release: Semaphore::new(0),
        }
    }
}

impl Gate {
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Lets every held and future request through.
    pub fn open(&self) {
        self.armed.store(false, Ordering::SeqCst);
        self.release.close();
    }

    async fn pass(&self) {
        if self.armed.load(Ordering::SeqCst) {
            self.held.bump();
            // Closed by `open`: every waiter (and later caller) goes on.
            let _ = self.release.acquire().await;
        }
    }
}

/// What a provider's handler shares with the test.
#[derive(Debug)]
pub struct Backend {
    pub id: String,
    /// Requests that reached the handler.
    pub hits: Signal,
    pub gate: Gate,
}

impl Backend {
    pub fn new(id: &str) -> Arc<Self> {
        Arc::new(Backend {
            id: id.to_owned(),
            hits: Signal::default(),
            gate: Gate::default(),
        })
    }

    /// Counts the request, waits at the gate, and answers with the id.
    pub async fn handle(&self) -> String {
        self.hits.bump();
        self.gate.pass().await;
        self.id.clone()
    }
}

/// One provider on a stock server: its `Sae`, its handler's state, and the
/// server task (which returns once the graceful shutdown is over).
pub struct Started {
    pub sae: Sae,
    pub backend: Arc<Backend>,
    pub serving: JoinHandle<Result<(), String>>,
}

/// What one request of the load got.
#[derive(Clone, Debug)]
pub struct Record {
    /// Order in which the request started (before the balancer picked).
    pub seq: usize,
    /// The start counter right after the caller had the outcome: every
    /// request with `seq >= seen_at` was picked after this outcome's eviction.
    pub seen_at: usize,
    pub outcome: Result<Answer, String>,
}

/// A successful answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub served_by: String,
    /// It carried the offline notice.
    pub notice: bool,
}

/// Sends request number `seq` and reports the answer.
pub type Send1 = Arc<
    dyn Fn(usize) -> Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>> + Send + Sync,
>;

/// An open-loop load: one request every [`PERIOD`], each in a task of its
/// own whether or not earlier ones have returned, until [`OpenLoad::stop`]
/// or [`MAX_REQUESTS`].
pub struct OpenLoad {
    pub started: Arc<Signal>,
    pub completed: Arc<Signal>,
    /// Answers that carried the offline notice.
    pub noticed: Arc<Signal>,
    records: Arc<Mutex<Vec<Record>>>,
    stop: oneshot::Sender<()>,
    driver: JoinHandle<()>,
}

impl OpenLoad {
    pub fn start(send: Send1) -> Self {
        let started = Arc::new(Signal::default());
        let completed = Arc::new(Signal::default());
        let noticed = Arc::new(Signal::default());
        let records = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = oneshot::channel::<()>();
        let driver = {
            let (started, completed, noticed, records) = (
                started.clone(),
                completed.clone(),
                noticed.clone(),
                records.clone(),
            );
            tokio::spawn(async move {
                let mut requests = JoinSet::new();
                let mut ticks = tokio::time::interval(PERIOD);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for _ in 0..MAX_REQUESTS {
                    tokio::select! {
                        _ = ticks.tick() => {}
                        _ = &mut stopped => break,
                    }
                    let seq = started.bump() - 1;
                    let (started, completed, noticed, records, send) = (
                        started.clone(),
                        completed.clone(),
                        noticed.clone(),
                        records.clone(),
                        send.clone(),
                    );
                    requests.spawn(async move {
                        let outcome = send(seq).await;
                        let seen_at = started.get();
                        if matches!(&outcome, Ok(answer) if answer.notice) {
                            noticed.bump();
                        }
                        records.lock().unwrap().push(Record {
                            seq,
                            seen_at,
                            outcome,
                        });
                        completed.bump();
                    });
                    // Reap the finished ones as it goes; a panic is the test's.
                    while let Some(done) = requests.try_join_next() {
                        done.unwrap();
                    }
                }
                while let Some(done) = requests.join_next().await {
                    done.unwrap();
                }
            })
        };
        OpenLoad {
            started,
            completed,
            noticed,
            records,
            stop,
            driver,
        }
    }

    /// Stops sending, waits for every request sent, and returns the
    /// records in completion order.
    pub async fn stop(self) -> Vec<Record> {
        let _ = self.stop.send(());
        within("the load's last requests", self.driver)
            .await
            .unwrap();
        std::mem::take(&mut *self.records.lock().unwrap())
    }
}

/// Registry events of [`SERVICE`], forwarded by a task.
pub struct RegistryEvents {
    events: mpsc::UnboundedReceiver<WatchEvent>,
    task: JoinHandle<()>,
}

impl Drop for RegistryEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RegistryEvents {
    pub async fn watch(registry: &Arc<dyn Registry>) -> Self {
        let service = ServiceName::new(SERVICE).unwrap();
        let mut stream = registry.watch(&service).await.unwrap();
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        RegistryEvents { events, task }
    }

    async fn next(&mut self) -> WatchEvent {
        self.events.recv().await.expect("registry watch ended")
    }

    /// The next removal, skipping registrations and snapshots.
    pub async fn next_removal(&mut self) -> (String, RemovalReason) {
        loop {
            if let WatchEvent::Remove { id, reason, .. } = self.next().await {
                return (id.to_string(), reason);
            }
        }
    }

    /// Waits until every id in `ids` is registered.
    pub async fn registered(&mut self, ids: &[&str]) {
        let mut seen: Vec<String> = Vec::new();
        while !ids.iter().all(|id| seen.iter().any(|s| s == id)) {
            match self.next().await {
                WatchEvent::Snapshot(snapshot) => seen.extend(
                    snapshot
                        .instances
                        .iter()
                        .map(|e| e.instance.id().to_string()),
                ),
                WatchEvent::Upsert(entry) => seen.push(entry.instance.id().to_string()),
                WatchEvent::Remove { .. } => {}
            }
        }
    }
}

/// The ids registered for [`SERVICE`], sorted.
pub async fn registered_ids(registry: &Arc<dyn Registry>) -> Vec<String> {
    let service = ServiceName::new(SERVICE).unwrap();
    let mut ids: Vec<String> = registry
        .list(&service)
        .await
        .unwrap()
        .instances
        .iter()
        .map(|e| e.instance.id().to_string())
        .collect();
    ids.sort();
    ids
}

/// Stops provider `running` through its shutdown handle and waits until its
/// server returned and its lifecycle reached Stopped.
pub async fn stop(running: Started) {
    running.sae.shutdown_handle().shutdown();
    let id = running.backend.id.clone();
    within(&format!("{id}'s server returns"), running.serving)
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("{id}'s server failed: {error}"));
    within(&format!("{id} stopped"), running.sae.stopped()).await;
    assert_eq!(running.sae.lifecycle().phase(), Phase::Stopped);
}

/// The rolling-deploy guarantee on a stock server: three providers of
/// [`SERVICE`] (registering in `registry`) serve an open-loop load that
/// `send` sends through sae's client; one stops through its shutdown handle
/// with requests held in its handler. No request fails; it is deregistered
/// while still answering, with the notice; no request picked after its
/// notice was seen reaches it; after it stopped every request succeeds on
/// the other two.
///
/// The one stopped is the first to get a request once all three hold
/// theirs: peak-EWMA may shun any given provider for a while (one slow
/// first answer, such as that of the connect of the process's first
/// request, keeps its estimate high for tens of seconds at a 10 s decay),
/// so a provider named in advance might get no request to hold.
pub async fn rolling_stop_under_load(
    registry: Arc<dyn Registry>,
    providers: [Started; 3],
    send: Send1,
) {
    let ids: Vec<String> = providers.iter().map(|p| p.backend.id.clone()).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut events = RegistryEvents::watch(&registry).await;
    within("all registered", events.registered(&id_refs)).await;

    let load = OpenLoad::start(send);
    within("100 requests answered", load.completed.wait_for(100)).await;

    // Requests are held in its handler when its stop begins.
    for provider in &providers {
        provider.backend.gate.arm();
    }
    let [p0, p1, p2] = &providers;
    let first = within("a request held", async {
        tokio::select! {
            _ = p0.backend.gate.held.wait_for(1) => 0,
            _ = p1.backend.gate.held.wait_for(1) => 1,
            _ = p2.backend.gate.held.wait_for(1) => 2,
        }
    })
    .await;
    let mut others = Vec::from(providers);
    let stopped = others.remove(first);
    for other in &others {
        other.backend.gate.open();
    }
    let id = stopped.backend.id.clone();
    stopped.sae.shutdown_handle().shutdown();
    assert_eq!(
        within("deregistered", events.next_removal()).await,
        (id.clone(), RemovalReason::Deregistered)
    );
    // Deregistered and still serving: the held requests finish, with the notice.
    assert_eq!(stopped.sae.lifecycle().phase(), Phase::Draining);
    stopped.backend.gate.open();
    within("a noticed answer", load.noticed.wait_for(1)).await;

    // The notice window ends once nothing arrives; the server drains and returns.
    let backend = stopped.backend.clone();
    let sae = stopped.sae.clone();
    stop(stopped).await;
    let mut remaining: Vec<String> = others.iter().map(|p| p.backend.id.clone()).collect();
    remaining.sort();
    assert_eq!(registered_ids(&registry).await, remaining);
    let hits_at_stop = backend.hits.get();

    // The load goes on on the other two.
    let after_stop = load.started.get();
    within(
        "100 more requests sent",
        load.started.wait_for(after_stop + 100),
    )
    .await;
    let records = load.stop().await;

    let failed: Vec<&Record> = records.iter().filter(|r| r.outcome.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        records.len()
    );
    let answered = assert_no_request_after_notice(&records, &id);
    // Every request that reached it was answered to the load, none after it stopped.
    assert_eq!(backend.hits.get(), answered);
    assert_eq!(backend.hits.get(), hits_at_stop);
    assert_eq!(sae.lifecycle().phase(), Phase::Stopped);
    let later: Vec<&Answer> = records
        .iter()
        .filter(|r| r.seq >= after_stop)
        .filter_map(|r| r.outcome.as_ref().ok())
        .collect();
    assert!(
        later.len() >= 100,
        "{} requests after the stop",
        later.len()
    );
    assert!(
        later
            .iter()
            .all(|answer| answer.served_by != id && !answer.notice),
        "{later:?}"
    );
    let served_by_others: usize = others.iter().map(|p| p.backend.hits.get()).sum();
    assert_eq!(served_by_others + answered, records.len());

    let (second, first) = (others.pop().unwrap(), others.pop().unwrap());
    tokio::join!(stop(first), stop(second));
    assert!(registered_ids(&registry).await.is_empty());
}

/// Checks what the load saw of a provider stopped with the notice: it
/// answered with the notice at least once, and after the first noticed
/// answer was in a caller's hands no request that started later was
/// answered by it. Returns how many answers it gave.
pub fn assert_no_request_after_notice(records: &[Record], id: &str) -> usize {
    let answered: Vec<(&Record, &Answer)> = records
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().map(|a| (r, a)))
        .filter(|(_, a)| a.served_by == id)
        .collect();
    let first_notice = answered
        .iter()
        .filter(|(_, a)| a.notice)
        .map(|(r, _)| r.seen_at)
        .min()
        .unwrap_or_else(|| panic!("{id} never answered with the offline notice"));
    for (record, _) in &answered {
        assert!(
            record.seq < first_notice,
            "request #{} started after the notice of {id} was seen (at #{first_notice}) and still went there",
            record.seq
        );
    }
    answered.len()
}
