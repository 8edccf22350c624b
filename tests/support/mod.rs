//! Shared helpers of the end-to-end tests: real providers (axum and a
//! hand-written tonic unary service) served by `Provider`, a steady load
//! through the sae `Client`, and signals to wait on instead of sleeping.
#![allow(dead_code)] // each test binary uses a different part

pub mod h2c;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use sae_core::{Instance, Lifecycle, Registry, RemovalReason, ServiceName, WatchEvent};
use sae_governance::provider::{InFlight, Provider, ServeReport, ShutdownHandle};
use sae_registry::MemoryRegistry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::{Service, ServiceExt};

/// Header the HTTP providers answer with: the instance id.
pub const SERVED_BY: &str = "x-served-by";
/// The offline notice header.
pub const OFFLINE: &str = sae_core::wire::OFFLINE_HEADER;
/// The service every provider registers.
pub const SERVICE: &str = "orders";
/// Long against the handful of paused-clock milliseconds a test step takes,
/// so the notice window is surely still open when the test probes it.
pub const QUIET: Duration = Duration::from_secs(10);

/// A counter that can be awaited: `wait_for(n)` resolves once it reached `n`.
#[derive(Debug, Default)]
pub struct Signal {
    count: AtomicUsize,
    changed: Notify,
}

impl Signal {
    pub fn bump(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
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
    pub hits: AtomicUsize,
    pub gate: Gate,
}

impl Backend {
    fn new(id: &str) -> Arc<Self> {
        Arc::new(Backend {
            id: id.to_owned(),
            hits: AtomicUsize::new(0),
            gate: Gate::default(),
        })
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    async fn handle(&self) -> String {
        self.hits.fetch_add(1, Ordering::SeqCst);
        self.gate.pass().await;
        self.id.clone()
    }
}

/// One provider served by `Provider` on 127.0.0.1:0.
pub struct Running {
    pub id: String,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub backend: Arc<Backend>,
    pub shutdown: ShutdownHandle,
    pub lifecycle: Lifecycle,
    pub in_flight: InFlight,
    pub serving: JoinHandle<Result<ServeReport, sae_core::Error>>,
}

/// Which server a provider runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Http,
    Grpc,
}

/// Starts provider `id` of [`SERVICE`] (with an admin listener when asked)
/// and returns once it is bound; registration follows on its own.
pub async fn start_provider(
    registry: &MemoryRegistry,
    id: &str,
    kind: Kind,
    admin: bool,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let instance = Instance::builder(SERVICE).id(id);
    let mut builder = Provider::builder(instance, registry.clone())
        .handle_signals(false)
        .notice_quiet_period(QUIET)
        .notice_max(2 * QUIET)
        .drain_timeout(Duration::from_secs(60));
    let mut admin_addr = None;
    if admin {
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        admin_addr = Some(admin_listener.local_addr().unwrap());
        builder = builder.admin_listener(admin_listener);
    }
    let provider = builder.build().unwrap();
    let backend = Backend::new(id);
    let (shutdown, lifecycle, in_flight) = (
        provider.shutdown_handle(),
        provider.lifecycle(),
        provider.in_flight(),
    );
    let serving = match kind {
        Kind::Http => tokio::spawn(provider.serve_router(listener, http_app(backend.clone()))),
        Kind::Grpc => {
            let routes = tonic::service::Routes::new(PingerServer(backend.clone()));
            tokio::spawn(provider.serve_grpc(listener, routes))
        }
    };
    Running {
        id: id.to_owned(),
        addr,
        admin: admin_addr,
        backend,
        shutdown,
        lifecycle,
        in_flight,
        serving,
    }
}

fn http_app(backend: Arc<Backend>) -> Router {
    Router::new()
        .route(
            "/work",
            get(|State(backend): State<Arc<Backend>>| async move {
                let id = backend.handle().await;
                ([(SERVED_BY, id.clone())], id)
            }),
        )
        .with_state(backend)
}

/// Registry events of [`SERVICE`], forwarded by a task.
pub struct RegistryEvents {
    events: mpsc::UnboundedReceiver<WatchEvent>,
    _task: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RegistryEvents {
    pub async fn watch(registry: &MemoryRegistry) -> Self {
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
        RegistryEvents {
            events,
            _task: AbortOnDrop(task),
        }
    }

    /// The next removal, skipping registrations and snapshots.
    pub async fn next_removal(&mut self) -> (String, RemovalReason) {
        loop {
            match self.events.recv().await.expect("registry watch ended") {
                WatchEvent::Remove { id, reason, .. } => return (id.to_string(), reason),
                _ => continue,
            }
        }
    }

    /// Waits until every id in `ids` is registered.
    pub async fn registered(&mut self, ids: &[&str]) {
        let mut seen: Vec<String> = Vec::new();
        while !ids.iter().all(|id| seen.iter().any(|s| s == id)) {
            match self.events.recv().await.expect("registry watch ended") {
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

/// Waits until `done(client)` holds, woken by the client's changes (discovery
/// events and evictions). The timeout only turns a bug into a failure.
pub async fn until<B>(
    client: &sae_governance::Client<B>,
    mut done: impl FnMut(&sae_governance::Client<B>) -> bool,
) {
    let mut changes = client.changes();
    let wait = async {
        while !done(client) {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("condition not reached");
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
    pub notice: bool,
}

/// Sends one request and reports the answer.
pub type Send1 =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>> + Send + Sync>;

/// A closed-loop load of `tasks` concurrent senders, until [`Load::stop`].
pub struct Load {
    started: Arc<AtomicUsize>,
    pub completed: Arc<Signal>,
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(tasks: usize, send: Send1) -> Self {
        let started = Arc::new(AtomicUsize::new(0));
        let completed = Arc::new(Signal::default());
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..tasks)
            .map(|_| {
                let (started, completed, stop, records, send) = (
                    started.clone(),
                    completed.clone(),
                    stop.clone(),
                    records.clone(),
                    send.clone(),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let seq = started.fetch_add(1, Ordering::SeqCst);
                        let outcome = send().await;
                        let seen_at = started.load(Ordering::SeqCst);
                        records.lock().push(Record {
                            seq,
                            seen_at,
                            outcome,
                        });
                        completed.bump();
                    }
                })
            })
            .collect();
        Load {
            started,
            completed,
            stop,
            records,
            tasks,
        }
    }

    /// How many requests have started so far.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Waits until `more` requests completed after this call.
    pub async fn run_for(&self, more: usize) {
        let target = self.completed.get() + more;
        self.completed.wait_for(target).await;
    }

    /// Stops the senders and returns every record, in completion order.
    pub async fn stop(self) -> Vec<Record> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.records.lock())
    }
}

/// Checks what the load saw of a provider stopped with the notice: after
/// the first noticed answer was in a caller's hands, no request that
/// started later was answered by it. Returns how many answers it gave.
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

/// The failed requests of a load.
pub fn failures(records: &[Record]) -> Vec<&Record> {
    records.iter().filter(|r| r.outcome.is_err()).collect()
}

/// Keeps a 1 ms timer pending while alive, so a paused clock advances in
/// steps of at most 1 ms when the runtime idles waiting for loopback bytes
/// (without it the clock would jump straight to the next far timer, such as
/// the end of a notice window). Nothing is asserted about durations.
pub struct ClockTicker(JoinHandle<()>);

impl ClockTicker {
    pub fn start() -> Self {
        ClockTicker(tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }))
    }
}

impl Drop for ClockTicker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `GET path` on a fresh HTTP/1.1 connection to `addr`, body collected.
pub async fn http_get(addr: SocketAddr, path: &str) -> Response<Bytes> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(http::header::HOST, "sae.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

// ---- gRPC: what tonic-build generates for
// `service Pinger { rpc Ping(Ping) returns (Pong); }`, written by hand (no protoc).

/// The request of `sae.test.Pinger/Ping`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(string, tag = "1")]
    pub from: String,
}

/// The reply of `sae.test.Pinger/Ping`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pong {
    #[prost(string, tag = "1")]
    pub served_by: String,
}

const PING_PATH: &str = "/sae.test.Pinger/Ping";

/// The server side of `sae.test.Pinger`.
#[derive(Clone, Debug)]
pub struct PingerServer(Arc<Backend>);

impl tonic::server::NamedService for PingerServer {
    const NAME: &'static str = "sae.test.Pinger";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl Service<Request<tonic::body::Body>> for PingerServer {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let backend = self.0.clone();
        Box::pin(async move {
            if request.uri().path() != PING_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let ping = tower::service_fn(move |_: tonic::Request<Ping>| {
                let backend = backend.clone();
                async move {
                    let served_by = backend.handle().await;
                    Ok::<_, Status>(tonic::Response::new(Pong { served_by }))
                }
            });
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<Pong, Ping>::default());
            Ok(grpc.unary(ping, request).await)
        })
    }
}

/// The client side of `sae.test.Pinger`, over any gRPC channel.
pub struct PingerClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> PingerClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<sae_core::BoxError>,
    T::ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as hyper::body::Body>::Error: Into<sae_core::BoxError> + Send,
{
    pub fn new(inner: T) -> Self {
        PingerClient {
            inner: tonic::client::Grpc::new(inner),
        }
    }

    pub fn with_origin(inner: T, origin: Uri) -> Self {
        PingerClient {
            inner: tonic::client::Grpc::with_origin(inner, origin),
        }
    }

    pub async fn ping(&mut self) -> Result<tonic::Response<Pong>, Status> {
        self.inner
            .ready()
            .await
            .map_err(|error| Status::unknown(format!("not ready: {}", error.into())))?;
        self.inner
            .unary(
                tonic::Request::new(Ping { from: "e2e".into() }),
                PathAndQuery::from_static(PING_PATH),
                ProstCodec::<Ping, Pong>::default(),
            )
            .await
    }
}

/// A gRPC client of one address over a fresh HTTP/2 (h2c) connection, bypassing sae.
pub async fn direct_grpc(addr: SocketAddr) -> PingerClient<h2c::H2Service> {
    PingerClient::with_origin(
        h2c::connect(addr, |_| {}).await,
        Uri::from_static("http://sae.test"),
    )
}

// ---- the consumer, for either protocol

/// The sae client under test, behind closures so one scenario serves both protocols.
pub struct Consumer {
    pub send: Send1,
    stats: Box<dyn Fn() -> sae_governance::client::ClientStats + Send + Sync>,
    endpoints: Box<dyn Fn() -> Vec<sae_governance::client::EndpointInfo> + Send + Sync>,
    changes: tokio::sync::watch::Receiver<u64>,
}

impl Consumer {
    pub fn new(kind: Kind, registry: &MemoryRegistry) -> Self {
        let builder = sae_governance::Client::builder(SERVICE, registry.clone());
        match kind {
            Kind::Http => {
                let client = builder.build_http::<http_body_util::Full<Bytes>>().unwrap();
                let sender = client.clone();
                let send: Send1 = Arc::new(move || {
                    let client = sender.clone();
                    Box::pin(async move {
                        let request = Request::get("http://orders/work")
                            .body(http_body_util::Full::default())
                            .unwrap();
                        let response = client.oneshot(request).await.map_err(|e| e.to_string())?;
                        if !response.status().is_success() {
                            return Err(format!("status {}", response.status()));
                        }
                        let notice = response.headers().contains_key(OFFLINE);
                        let served_by = response
                            .headers()
                            .get(SERVED_BY)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = response
                            .into_body()
                            .collect()
                            .await
                            .map_err(|e| e.to_string())?
                            .to_bytes();
                        if body != served_by.as_bytes() {
                            return Err(format!("body {body:?} from {served_by}"));
                        }
                        Ok(Answer { served_by, notice })
                    })
                });
                Consumer::wrap(send, client)
            }
            Kind::Grpc => {
                let client = builder.build_grpc::<tonic::body::Body>().unwrap();
                let sender = client.clone();
                let send: Send1 = Arc::new(move || {
                    let client = sender.clone();
                    Box::pin(async move {
                        let response = PingerClient::new(client)
                            .ping()
                            .await
                            .map_err(|status| format!("{status:?}"))?;
                        let notice = response.metadata().contains_key(OFFLINE);
                        let served_by = response.into_inner().served_by;
                        Ok(Answer { served_by, notice })
                    })
                });
                Consumer::wrap(send, client)
            }
        }
    }

    fn wrap<B: Send + 'static>(send: Send1, client: sae_governance::Client<B>) -> Self {
        let changes = client.changes();
        let for_endpoints = client.clone();
        Consumer {
            send,
            stats: Box::new(move || client.stats()),
            endpoints: Box::new(move || for_endpoints.endpoints()),
            changes,
        }
    }

    pub fn stats(&self) -> sae_governance::client::ClientStats {
        (self.stats)()
    }

    /// The ids the client routes to, sorted.
    pub fn routes_to(&self) -> Vec<String> {
        let mut ids: Vec<String> = (self.endpoints)()
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Requests in flight from this client to `id`.
    pub fn pending(&self, id: &str) -> u32 {
        (self.endpoints)()
            .iter()
            .find(|e| e.id.as_str() == id)
            .map_or(0, |e| e.pending)
    }

    /// Waits until `done` holds, woken by discovery changes and evictions;
    /// the timeout only turns a bug into a failure instead of a hang.
    pub async fn until(&mut self, mut done: impl FnMut(&Consumer) -> bool) {
        let mut changes = self.changes.clone();
        let wait = async {
            while !done(self) {
                changes.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(600), wait)
            .await
            .expect("condition not reached");
    }
}

/// Asks provider `running` for an answer directly (not through sae's client)
/// and checks it carries the offline notice: it still accepts new requests.
pub async fn probe_answers_with_notice(kind: Kind, running: &Running) {
    match kind {
        Kind::Http => {
            let response = http_get(running.addr, "/work").await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.body().as_ref(), running.id.as_bytes());
            assert_eq!(response.headers()[OFFLINE], running.id.as_str());
            assert_eq!(response.headers()["connection"], "close");
        }
        Kind::Grpc => {
            let response = direct_grpc(running.addr).await.ping().await.unwrap();
            assert_eq!(
                response.metadata().get(OFFLINE).unwrap(),
                running.id.as_str()
            );
            assert_eq!(response.get_ref().served_by, running.id);
        }
    }
}

/// Rolling stop under load: provider `a` stopped through its
/// `ShutdownHandle`, `b` through its admin `/prestop`, `c` keeps serving.
pub async fn lossless_stop_under_load(kind: Kind) {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let mut events = RegistryEvents::watch(&registry).await;
    let mut a = start_provider(&registry, "a", kind, false).await;
    let mut b = start_provider(&registry, "b", kind, true).await;
    let c = start_provider(&registry, "c", kind, false).await;
    events.registered(&["a", "b", "c"]).await;
    let mut consumer = Consumer::new(kind, &registry);
    consumer.until(|c| c.routes_to() == ["a", "b", "c"]).await;

    let load = Load::start(4, consumer.send.clone());
    load.run_for(50).await;

    // a: a request is in flight there when the shutdown starts.
    a.backend.gate.arm();
    a.backend.gate.held.wait_for(1).await;
    a.shutdown.shutdown();
    assert_eq!(
        events.next_removal().await,
        ("a".to_owned(), RemovalReason::Deregistered)
    );
    // Deregistered, and still serving: in-flight requests finish with the
    // notice, and new ones are still accepted and answered.
    assert_eq!(a.lifecycle.phase(), sae_core::Phase::Draining);
    a.backend.gate.open();
    probe_answers_with_notice(kind, &a).await;
    consumer.until(|c| c.stats().evictions_by_notice >= 1).await;
    load.run_for(50).await;

    // b: the same through Kubernetes' preStop hook.
    b.backend.gate.arm();
    b.backend.gate.held.wait_for(1).await;
    let admin = b.admin.unwrap();
    let prestop = tokio::spawn(async move { http_get(admin, "/prestop").await });
    assert_eq!(
        events.next_removal().await,
        ("b".to_owned(), RemovalReason::Deregistered)
    );
    assert_eq!(b.lifecycle.phase(), sae_core::Phase::Draining);
    b.backend.gate.open();
    probe_answers_with_notice(kind, &b).await;
    consumer.until(|c| c.stats().evictions_by_notice >= 2).await;
    load.run_for(50).await;
    let records = load.stop().await;

    // The stopped providers finish their sequence once the load is gone.
    let report_a = (&mut a.serving).await.unwrap().unwrap();
    let report_b = (&mut b.serving).await.unwrap().unwrap();
    assert_eq!(prestop.await.unwrap().status(), 200);
    for (report, trigger) in [
        (&report_a, sae_governance::Trigger::Handle),
        (&report_b, sae_governance::Trigger::PreStop),
    ] {
        assert!(report.registered, "{report:?}");
        assert!(report.deregistered, "{report:?}");
        assert!(report.drained, "{report:?}");
        assert_eq!(report.in_flight_at_stop, 0);
        assert_eq!(report.trigger, Some(trigger));
    }

    let failed = failures(&records);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        records.len()
    );
    assert_eq!(consumer.stats().evictions_by_notice, 2);
    assert_eq!(consumer.routes_to(), ["c"]);
    for stopped in [&a, &b] {
        let answered = assert_no_request_after_notice(&records, &stopped.id);
        // Every request that reached it came from the load, except the probe.
        assert_eq!(stopped.backend.hits(), answered + 1, "{}", stopped.id);
    }
    let answered_by_c = records
        .iter()
        .filter(|r| matches!(&r.outcome, Ok(a) if a.served_by == "c"))
        .count();
    assert_eq!(c.backend.hits(), answered_by_c);
    assert!(records.len() >= 150);

    c.shutdown.shutdown();
    assert!(c.serving.await.unwrap().unwrap().deregistered);
}

/// A provider killed under load (its serve task aborted: connections
/// dropped, no deregistration): only requests in flight there may fail,
/// later ones are retried elsewhere, and its lease expires.
pub async fn kill_under_load(kind: Kind) {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::with_ttl(Duration::from_secs(3));
    let mut events = RegistryEvents::watch(&registry).await;
    let a = start_provider(&registry, "a", kind, false).await;
    let b = start_provider(&registry, "b", kind, false).await;
    let c = start_provider(&registry, "c", kind, false).await;
    events.registered(&["a", "b", "c"]).await;
    let mut consumer = Consumer::new(kind, &registry);
    consumer.until(|c| c.routes_to() == ["a", "b", "c"]).await;

    let load = Load::start(4, consumer.send.clone());
    load.run_for(50).await;

    c.backend.gate.arm();
    c.backend.gate.held.wait_for(1).await;
    // The kill is not instantaneous: the serve task and then its connection
    // tasks are dropped when the scheduler gets to them, and requests sent
    // to c meanwhile are in flight at the kill too. So "in flight at the
    // kill" = pending to c when it began + requests started until it is over
    // (c's tasks dropped and its port refusing, observed after an I/O poll).
    let pending_at_kill = consumer.pending("c") as usize;
    let kill_began = load.started();
    c.serving.abort();
    assert!(c.serving.await.unwrap_err().is_cancelled());
    // Refused (or, rarely, another test's new listener): either way an I/O poll.
    let _ = TcpStream::connect(c.addr).await;
    let after_kill = load.started();
    let in_flight_at_kill = pending_at_kill + (after_kill - kill_began);
    assert!(pending_at_kill >= 1);
    load.run_for(100).await;
    let records = load.stop().await;

    // Not deregistered: the entry leaves when its lease expires.
    assert_eq!(
        events.next_removal().await,
        ("c".to_owned(), RemovalReason::Expired)
    );
    consumer.until(|c| c.routes_to() == ["a", "b"]).await;

    let failed = failures(&records);
    assert!(
        failed.len() <= in_flight_at_kill,
        "{} failed, {in_flight_at_kill} in flight at the kill: {failed:?}",
        failed.len()
    );
    for record in &failed {
        assert!(
            record.seq < after_kill,
            "a request sent after the kill failed: {record:?}"
        );
    }
    assert!(records.iter().filter(|r| r.seq >= after_kill).count() >= 100);
    // c stays in the balancer until its lease expires: the requests it
    // failed were re-sent elsewhere (idempotent GETs) or failed (gRPC calls
    // are not idempotent), and its failures keep it from being picked (or
    // its refusing port ejects it).
    let stats = consumer.stats();
    assert!(
        stats.retries >= 1 || stats.connect_ejections >= 1 || !failed.is_empty(),
        "the kill went unnoticed: {stats:?}"
    );
    assert_eq!(
        c.lifecycle.phase(),
        sae_core::Phase::Serving,
        "a kill runs no sequence"
    );

    for survivor in [a, b] {
        survivor.shutdown.shutdown();
        assert!(survivor.serving.await.unwrap().unwrap().deregistered);
    }
}
