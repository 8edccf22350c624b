//! The call chain `edge → orders → inventory`: every instance a stock
//! `axum::serve` with sae's two lines, calling the next hop through
//! `sae.client(..)`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sae::governance::protection::ProtectionRules;
use sae::{HttpClient, Registry, Sae};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::inventory::{Capacity, Fault, Health};

/// Instances per service.
pub const EDGES: usize = 2;
pub const ORDERS: usize = 3;
pub const INVENTORIES: usize = 4;

/// The header the breaker's fallback carries (see the rules); the edge
/// passes it on, so the outside can tell a fallback from an answer.
pub const FALLBACK: &str = "x-fallback";

/// The services' names in one run: a suffix of their own, so runs sharing
/// an external registry never see each other's instances.
#[derive(Clone, Debug)]
pub struct Names {
    pub edge: String,
    pub orders: String,
    pub inventory: String,
}

impl Names {
    pub fn new(tag: &str) -> Names {
        Names {
            edge: format!("edge-{tag}"),
            orders: format!("orders-{tag}"),
            inventory: format!("inventory-{tag}"),
        }
    }
}

/// How long the edge took to answer each fallback, from the request's
/// arrival (outside sae's layer) to its response.
pub type FallbackTimes = Arc<parking_lot::Mutex<Vec<Duration>>>;

/// One running instance.
struct Running {
    sae: Sae,
    addr: SocketAddr,
    server: JoinHandle<std::io::Result<()>>,
}

/// Every instance of one run.
pub struct Fleet {
    edges: Vec<Running>,
    orders: Vec<Running>,
    inventory: Vec<Running>,
    /// Each inventory instance's fault switch.
    pub faults: Vec<Fault>,
    /// Requests inventory served to completion, all instances together.
    pub served: Arc<AtomicU64>,
    /// The edge's own answer times of its fallbacks.
    pub fallback_times: FallbackTimes,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Fleet {
    /// Starts inventory, orders, then edge, and returns once every client
    /// sees every instance of the service it calls.
    pub async fn start(
        registry: Arc<dyn Registry>,
        names: &Names,
        rules: &ProtectionRules,
    ) -> Result<Fleet, BoxError> {
        let sae = |name: &str| -> Result<Sae, sae::Error> {
            Sae::builder(name)
                .registry(registry.clone())
                .protection(rules.clone()) // its clients' and its provider's
                .provider(|provider| {
                    provider
                        .handle_signals(false)
                        .notice_quiet_period(Duration::from_millis(200))
                })
                .build()
        };
        let served = Arc::new(AtomicU64::new(0));
        let mut fleet = Fleet {
            edges: Vec::new(),
            orders: Vec::new(),
            inventory: Vec::new(),
            faults: Vec::new(),
            served: served.clone(),
            fallback_times: FallbackTimes::default(),
        };
        for _ in 0..INVENTORIES {
            let fault = Fault::new();
            let state = Arc::new((fault.clone(), Capacity::new(served.clone())));
            let app = Router::new()
                .route("/stock/{item}", get(stock))
                .with_state(state);
            fleet
                .inventory
                .push(serve(sae(&names.inventory)?, app, None).await?);
            fleet.faults.push(fault);
        }
        let mut clients = Vec::new();
        for _ in 0..ORDERS {
            let instance = sae(&names.orders)?;
            let inventory = instance.client(&names.inventory)?;
            clients.push((inventory.clone(), INVENTORIES));
            let app = Router::new()
                .route("/orders/{id}", get(order))
                .with_state(inventory);
            fleet.orders.push(serve(instance, app, None).await?);
        }
        for _ in 0..EDGES {
            let instance = sae(&names.edge)?;
            let orders = instance.client(&names.orders)?;
            clients.push((orders.clone(), ORDERS));
            let app = Router::new()
                .route("/checkout/{id}", get(checkout))
                .with_state(orders);
            let timed = Some(fleet.fallback_times.clone());
            fleet.edges.push(serve(instance, app, timed).await?);
        }
        // Started means every instance registered and seen by its callers.
        let seen = async {
            for (client, expected) in &clients {
                let mut changes = client.balancer().changes();
                while client.balancer().endpoints().len() < *expected {
                    let _ = changes.changed().await;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), seen)
            .await
            .map_err(|_| "the services did not see each other within 30 s")?;
        Ok(fleet)
    }

    /// Where the outside world reaches the edge.
    pub fn edge_addrs(&self) -> Vec<SocketAddr> {
        self.edges.iter().map(|edge| edge.addr).collect()
    }

    /// Every inventory instance healthy again.
    pub fn heal(&self) {
        for fault in &self.faults {
            fault.set(Health::Normal);
        }
    }

    /// Stops every instance the lossless way (deregister, notice, drain),
    /// callers first; returns the instances whose stop went wrong.
    pub async fn stop(self) -> Vec<String> {
        self.heal();
        let mut problems = Vec::new();
        for tier in [self.edges, self.orders, self.inventory] {
            for running in &tier {
                running.sae.shutdown_handle().shutdown();
            }
            for running in tier {
                let name = format!("{} {}", running.sae.service(), running.sae.id());
                match tokio::time::timeout(Duration::from_secs(30), running.server).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(error))) => problems.push(format!("{name}: {error}")),
                    Ok(Err(error)) => problems.push(format!("{name}: {error}")),
                    Err(_) => problems.push(format!("{name}: still serving after 30 s")),
                }
                if running.sae.stopped().await.is_none() {
                    problems.push(format!("{name}: no stop report"));
                }
            }
        }
        problems
    }
}

/// The stock `axum::serve` with sae's two lines (and, on the edge, a
/// timing of its fallbacks outside them).
async fn serve(sae: Sae, app: Router, timed: Option<FallbackTimes>) -> Result<Running, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = sae.shutdown_signal(addr)?; // sae: register, and the lossless stop
    let mut app = app.layer(sae.layer()); // sae: the provider's layer
    if let Some(times) = timed {
        app = app.layer(axum::middleware::from_fn(
            move |request, next: axum::middleware::Next| {
                let times = times.clone();
                async move {
                    let arrived = tokio::time::Instant::now();
                    let response = next.run(request).await;
                    if response.headers().contains_key(FALLBACK) {
                        times.lock().push(arrived.elapsed());
                    }
                    response
                }
            },
        ));
    }
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    Ok(Running { sae, addr, server })
}

/// inventory: `GET /stock/{item}`.
async fn stock(State(state): State<Arc<(Fault, Capacity)>>, Path(_item): Path<String>) -> Response {
    let (fault, capacity) = &*state;
    match fault.now() {
        Health::Failing => {
            return (StatusCode::SERVICE_UNAVAILABLE, "inventory is sick").into_response();
        }
        Health::Hanging => fault.while_hanging().await,
        Health::Normal => {}
    }
    capacity.serve().await;
    "12 left".into_response()
}

/// orders: `GET /orders/{id}`, with the stock inventory reports.
async fn order(State(inventory): State<HttpClient>, Path(id): Path<u64>) -> Response {
    let request = http::Request::get(format!("http://inventory/stock/{}", id % 7))
        .body(Full::<Bytes>::default())
        .expect("a valid request");
    pass_on(inventory.oneshot(request).await, |stock| {
        format!("order {id}: {stock}")
    })
    .await
}

/// edge: `GET /checkout/{id}`, the order as orders answers it.
async fn checkout(State(orders): State<HttpClient>, Path(id): Path<u64>) -> Response {
    let request = http::Request::get(format!("http://orders/orders/{id}"))
        .body(Full::<Bytes>::default())
        .expect("a valid request");
    pass_on(orders.oneshot(request).await, |order| order.to_owned()).await
}

/// What a handler answers for the next hop's answer: a success in its own
/// words, the next hop's failure status as it came, `502` (`504` for a
/// timeout) when the call failed. A fallback is passed on with its mark,
/// and so is a rejection: these handlers do nothing but the call, so when
/// the next hop refused it before processing, so did they, and the caller
/// may send it elsewhere (and its breaker sees a busy service, not a
/// broken one).
async fn pass_on(
    answer: Result<http::Response<sae::ResponseBody>, sae::Error>,
    success: impl FnOnce(&str) -> String,
) -> Response {
    let response = match answer {
        Ok(response) => response,
        Err(error) => {
            let status = match error {
                sae::Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            return (status, error.to_string()).into_response();
        }
    };
    let status = response.status();
    let fallback = response.headers().get(FALLBACK).cloned();
    let rejected = sae::core::wire::rejection::read(response.headers());
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let text = String::from_utf8_lossy(&body);
    let mut answer = if status.is_success() {
        (status, success(&text)).into_response()
    } else {
        (status, text.into_owned()).into_response()
    };
    if let Some(mark) = fallback {
        answer.headers_mut().insert(FALLBACK, mark);
    }
    if let Some(rejection) = rejected {
        sae::core::wire::rejection::write(answer.headers_mut(), rejection);
    }
    answer
}
