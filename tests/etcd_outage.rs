//! A whole-registry outage on real etcd: a consumer under load loses no
//! request while etcd is down, keeps routing to the last-known instances,
//! sees changes made after etcd is back, and logs the outage once.
//!
//! Needs the etcd binary (`scripts/setup.sh`); run with
//! `cargo test --features etcd-test-util --test etcd_outage`.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use parking_lot::Mutex;
use sae_core::{Instance, Registry};
use sae_governance::Client;
use sae_governance::provider::{Provider, ServeReport};
use sae_registry::etcd::testing::EtcdCluster;
use support::{Signal, until};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// How long etcd is down: longer than the lease TTL, as in a real restart.
const OUTAGE: Duration = Duration::from_secs(10);
/// Lease TTL of every registration (renewed every second).
const TTL: &str = "3s";
/// Concurrent request loops, and the pause between two requests of one loop.
const LOOPS: usize = 4;
const PACE: Duration = Duration::from_millis(10);
/// Guards against a hang; nothing is asserted about durations.
const BOUND: Duration = Duration::from_secs(60);

const SERVICE: &str = "orders";

/// One `sae_*` log line at INFO or above, as the capture layer saw it.
#[derive(Clone, Debug)]
struct Logged {
    level: Level,
    target: String,
    message: String,
    /// The `key` field (the lease's etcd key), when there is one.
    key: Option<String>,
}

/// A tracing layer keeping sae's INFO/WARN/ERROR lines, and a signal bumped
/// on each, to wait for a log line instead of sleeping.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<Logged>>>,
    logged: Arc<Signal>,
}

#[derive(Default)]
struct Fields {
    message: String,
    key: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "key" => self.key = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        // More verbose levels compare greater.
        if !metadata.target().starts_with("sae") || *metadata.level() > Level::INFO {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.lines.lock().push(Logged {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message: fields.message,
            key: fields.key,
        });
        self.logged.bump();
    }
}

impl Capture {
    fn lines(&self) -> Vec<Logged> {
        self.lines.lock().clone()
    }

    /// Lines of `level` whose target contains `target`.
    fn count(&self, level: Level, target: &str) -> usize {
        self.lines()
            .iter()
            .filter(|line| line.level == level && line.target.contains(target))
            .count()
    }

    /// Waits until `done` holds over the lines logged so far.
    async fn until(&self, done: impl Fn(&Capture) -> bool) {
        let wait = async {
            loop {
                let seen = self.logged.get();
                if done(self) {
                    return;
                }
                self.logged.wait_for(seen + 1).await;
            }
        };
        tokio::time::timeout(BOUND, wait)
            .await
            .unwrap_or_else(|_| panic!("log condition not reached; logged {:#?}", self.lines()));
    }
}

/// An axum app answering `GET /work` with `id`.
fn app(id: &str) -> Router {
    let id = id.to_owned();
    Router::new().route("/work", get(move || async move { id }))
}

/// Provider `id` served by sae's `Provider`, registering in `registry`.
async fn start_provider(
    registry: Arc<dyn Registry>,
    id: &str,
) -> JoinHandle<Result<ServeReport, sae_core::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Provider::builder(Instance::builder(SERVICE).id(id), registry)
        .handle_signals(false)
        .build()
        .unwrap();
    tokio::spawn(provider.serve_router(listener, app(id)))
}

/// A plain server (no sae) on 127.0.0.1:0, for an instance the test
/// registers and deregisters itself.
async fn start_plain_server(id: &str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(id);
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, task)
}

/// Paced request loops through the sae client, until stopped.
struct Load {
    completed: Arc<Signal>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    loops: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(client: &Client<Full<Bytes>>) -> Load {
        let completed = Arc::new(Signal::default());
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let loops = (0..LOOPS)
            .map(|_| {
                let (client, completed, failures, stop) = (
                    client.clone(),
                    completed.clone(),
                    failures.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    let mut pace = tokio::time::interval(PACE);
                    while !stop.load(Ordering::SeqCst) {
                        pace.tick().await;
                        let request = Request::get("http://orders/work")
                            .body(Full::default())
                            .unwrap();
                        match client.clone().oneshot(request).await {
                            Ok(response) if response.status().is_success() => {}
                            Ok(response) => failures.lock().push(format!("{}", response.status())),
                            Err(error) => failures.lock().push(error.to_string()),
                        }
                        completed.bump();
                    }
                })
            })
            .collect();
        Load {
            completed,
            failures,
            stop,
            loops,
        }
    }

    /// Stops the loops and returns the failures.
    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.loops {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.failures.lock())
    }
}

fn routes_to(client: &Client<Full<Bytes>>) -> Vec<String> {
    let mut ids: Vec<String> = client
        .endpoints()
        .iter()
        .map(|endpoint| endpoint.id.to_string())
        .collect();
    ids.sort();
    ids
}

/// etcd is killed for 10 s under load and restarted on its data: no request
/// fails, the consumer routes to the last-known set meanwhile, an instance
/// registered and then deregistered after etcd is back is seen coming and
/// going, and the etcd backend logs one warning and one recovery per
/// interrupted watch or lease, not one per retry or per request.
///
/// On a current-thread runtime, so the thread-local log capture sees the
/// lines of every task.
#[tokio::test]
async fn a_consumer_under_load_loses_no_request_while_etcd_is_down() {
    let capture = Capture::default();
    let _logging =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(capture.clone()));

    let mut cluster = EtcdCluster::single().await;
    let url = format!("{}?ttl={TTL}", cluster.url());
    // A registry (an etcd client) per provider and one for the consumer, as
    // separate processes would have.
    let mut providers = Vec::new();
    for id in ["a", "b", "c"] {
        providers.push(start_provider(sae_registry::from_url(&url).unwrap(), id).await);
    }
    let consumer_registry = sae_registry::from_url(&url).unwrap();
    let client: Client<Full<Bytes>> = Client::builder(SERVICE, consumer_registry)
        .build_http()
        .unwrap();
    until(&client, |c| routes_to(c) == ["a", "b", "c"]).await;

    let load = Load::start(&client);
    load.completed.wait_for(50).await;

    // etcd goes away entirely.
    cluster.process_mut(0).kill();
    let at_kill = load.completed.get();
    let outage = tokio::time::sleep(OUTAGE);
    // The consumer's watch notices at once, the leases on their next renewal.
    capture
        .until(|c| {
            c.count(Level::WARN, "etcd::watch") >= 1 && c.count(Level::WARN, "etcd::lease") >= 3
        })
        .await;
    // Requests keep flowing to the last-known set while etcd is down.
    load.completed.wait_for(at_kill + 100).await;
    outage.await;
    assert_eq!(
        routes_to(&client),
        ["a", "b", "c"],
        "routing set changed while etcd was down"
    );

    // etcd returns on the same data and port.
    cluster.restart(0).await;
    let registry = sae_registry::from_url(&url).unwrap();
    let (d_addr, d_server) = start_plain_server("d").await;
    let d = Instance::builder(SERVICE)
        .id("d")
        .addr(d_addr)
        .build()
        .unwrap();
    let d = registry.register(d).await.unwrap();
    until(&client, |c| routes_to(c) == ["a", "b", "c", "d"]).await;
    d.deregister().await.unwrap();
    until(&client, |c| routes_to(c) == ["a", "b", "c"]).await;

    // Every interrupted watch and lease logs its recovery once: the
    // client's instance watch, and each provider's watch of its rules.
    let watches = 1 + providers.len();
    capture
        .until(|c| {
            c.count(Level::INFO, "etcd::watch") >= watches
                && c.count(Level::INFO, "etcd::lease") >= 3
        })
        .await;
    load.completed.wait_for(load.completed.get() + 50).await;
    let failures = load.stop().await;
    assert!(
        failures.is_empty(),
        "{} requests failed: {failures:?}",
        failures.len()
    );

    // One warning per interrupted watch or lease for the whole outage: none
    // per retry, none per request, and nothing logged by the client.
    let lines = capture.lines();
    let mut lease_warnings: BTreeMap<String, usize> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.level == Level::WARN) {
        if line.target.contains("etcd::lease") {
            *lease_warnings
                .entry(line.key.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }
    assert_eq!(lease_warnings.len(), 3, "{lines:#?}");
    assert!(
        lease_warnings.values().all(|count| *count == 1),
        "{lines:#?}"
    );
    assert_eq!(
        capture.count(Level::WARN, "etcd::watch"),
        watches,
        "{lines:#?}"
    );
    assert_eq!(
        capture.count(Level::INFO, "etcd::watch"),
        watches,
        "{lines:#?}"
    );
    assert_eq!(capture.count(Level::INFO, "etcd::lease"), 3, "{lines:#?}");
    let others: Vec<_> = lines
        .iter()
        .filter(|l| l.level <= Level::WARN && !l.target.contains("etcd::"))
        .collect();
    assert!(others.is_empty(), "unexpected warnings: {others:#?}");
    assert!(lines.iter().all(|l| !l.message.is_empty()));

    for provider in providers {
        provider.abort();
    }
    d_server.abort();
}
