//! The canary chain of the lane tests: services A → B → C over real
//! loopback, every instance a `Provider` behind `LaneLayer`; each handler
//! records the lane it saw and calls the next service through the sae
//! `Client` (no lane code in the handler), and the answer is the path the
//! request took: `a-base>b-gray>c-base`.
#![allow(dead_code)] // each test binary uses a different part

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use sae_core::{Instance, RequestContext};
use sae_governance::provider::{Provider, ShutdownHandle};
use sae_governance::{Client, LaneLayer, lane};
use sae_registry::MemoryRegistry;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::{Layer, Service, ServiceExt};

use crate::support::Kind;

/// What one instance saw of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// The lane in the request's `RequestContext`.
    pub lane: Option<String>,
    /// The task's lane in the handler (must equal `lane`).
    pub task_lane: Option<String>,
    /// The `x-sae-tag` header (or gRPC metadata) received.
    pub header: Option<String>,
    /// The `baggage` header (or gRPC metadata) received.
    pub baggage: Option<String>,
}

/// The next service, through the sae client.
#[derive(Clone)]
pub enum Downstream {
    Http(Client<Full<Bytes>>),
    Grpc(Client<tonic::body::Body>),
}

/// One instance's handler state.
pub struct Hop {
    pub id: String,
    pub downstream: Option<Downstream>,
    pub seen: Mutex<Vec<Seen>>,
}

impl Hop {
    /// Requests this instance saw without a lane.
    pub fn untagged(&self) -> usize {
        self.seen.lock().iter().filter(|s| s.lane.is_none()).count()
    }

    pub fn hits(&self) -> usize {
        self.seen.lock().len()
    }

    async fn handle(
        &self,
        headers: &HeaderMap,
        context: Option<&RequestContext>,
    ) -> Result<String, String> {
        let text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        self.seen.lock().push(Seen {
            lane: context.and_then(|c| c.lane.as_ref()).map(|l| l.to_string()),
            task_lane: lane::current().map(|l| l.to_string()),
            header: text("x-sae-tag"),
            baggage: text("baggage"),
        });
        let Some(downstream) = &self.downstream else {
            return Ok(self.id.clone());
        };
        // The handler adds a baggage member of its own: sae must keep it.
        let hop = HeaderValue::from_str(&format!("hop={}", self.id)).unwrap();
        let rest = match downstream {
            Downstream::Http(client) => {
                let request = Request::get("http://next/chain")
                    .header("baggage", hop)
                    .body(Full::default())
                    .unwrap();
                let response = client
                    .clone()
                    .oneshot(request)
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?;
                let body = String::from_utf8_lossy(&body.to_bytes()).into_owned();
                if !status.is_success() {
                    return Err(body);
                }
                body
            }
            Downstream::Grpc(client) => {
                let mut request = tonic::Request::new(HopRequest {});
                request
                    .metadata_mut()
                    .insert("baggage", hop.to_str().unwrap().parse().unwrap());
                grpc_hop(client.clone(), request)
                    .await
                    .map_err(|s| s.message().to_owned())?
            }
        };
        Ok(format!("{}>{rest}", self.id))
    }
}

/// One running instance.
pub struct Node {
    pub id: String,
    pub addr: SocketAddr,
    pub hop: Arc<Hop>,
    pub shutdown: ShutdownHandle,
    pub serving: JoinHandle<Result<sae_governance::ServeReport, sae_core::Error>>,
}

impl Node {
    pub async fn stop(self) {
        self.shutdown.shutdown();
        assert!(self.serving.await.unwrap().unwrap().deregistered);
    }
}

/// Starts instance `id` of `service` (in `lane`, or base), calling
/// `downstream` (a service name) for each request, if given.
pub async fn start_node(
    registry: &MemoryRegistry,
    kind: Kind,
    service: &str,
    id: &str,
    lane: Option<&str>,
    downstream: Option<&str>,
) -> Node {
    start_node_with(
        registry,
        kind,
        service,
        id,
        lane,
        downstream,
        LaneLayer::new(),
    )
    .await
}

/// [`start_node`] with a given lane layer (ingress rules).
pub async fn start_node_with(
    registry: &MemoryRegistry,
    kind: Kind,
    service: &str,
    id: &str,
    lane: Option<&str>,
    downstream: Option<&str>,
    layer: LaneLayer,
) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut instance = Instance::builder(service).id(id);
    if let Some(lane) = lane {
        instance = instance.lane(lane);
    }
    let provider = Provider::builder(instance, registry.clone())
        .handle_signals(false)
        .build()
        .unwrap();
    let downstream = downstream.map(|next| {
        let builder = Client::builder(next, registry.clone());
        match kind {
            Kind::Http => Downstream::Http(builder.build_http().unwrap()),
            Kind::Grpc => Downstream::Grpc(builder.build_grpc().unwrap()),
        }
    });
    let hop = Arc::new(Hop {
        id: id.to_owned(),
        downstream,
        seen: Mutex::new(Vec::new()),
    });
    let shutdown = provider.shutdown_handle();
    let serving = match kind {
        Kind::Http => {
            let app = Router::new()
                .route("/chain", get(http_chain))
                .with_state(hop.clone())
                .layer(layer);
            tokio::spawn(provider.serve_router(listener, app))
        }
        Kind::Grpc => {
            let routes = tonic::service::Routes::new(ChainServer(hop.clone())).prepare();
            tokio::spawn(provider.serve(listener, layer.layer(routes)))
        }
    };
    Node {
        id: id.to_owned(),
        addr,
        hop,
        shutdown,
        serving,
    }
}

async fn http_chain(
    State(hop): State<Arc<Hop>>,
    request: axum::extract::Request,
) -> (StatusCode, String) {
    let context = RequestContext::from_extensions(request.extensions());
    match hop.handle(request.headers(), context).await {
        Ok(path) => (StatusCode::OK, path),
        Err(error) => (StatusCode::BAD_GATEWAY, error),
    }
}

/// The endpoint count of a downstream client (to wait for discovery).
pub fn downstream_endpoints(node: &Node) -> Vec<String> {
    let endpoints = match node.hop.downstream.as_ref().expect("a downstream") {
        Downstream::Http(client) => client.endpoints(),
        Downstream::Grpc(client) => client.endpoints(),
    };
    let mut ids: Vec<String> = endpoints.iter().map(|e| e.id.to_string()).collect();
    ids.sort();
    ids
}

/// Waits until `node`'s downstream client routes to exactly `ids`.
pub async fn wait_downstream(node: &Node, ids: &[&str]) {
    let mut changes = match node.hop.downstream.as_ref().expect("a downstream") {
        Downstream::Http(client) => client.changes(),
        Downstream::Grpc(client) => client.changes(),
    };
    let wait = async {
        while downstream_endpoints(node) != ids {
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("{} never saw {ids:?}", node.id));
}

/// An HTTP/1.1 `GET /chain` to `addr` on a fresh connection with `headers`,
/// as an edge gateway that knows nothing of sae would send it.
pub async fn raw_get(
    addr: SocketAddr,
    headers: &[(&'static str, HeaderValue)],
) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::get("/chain")
        .header(http::header::HOST, "sae.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(*name, value.clone());
    }
    let response = send.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

// ---- gRPC: what tonic-build generates for
// `service Chain { rpc Hop(HopRequest) returns (HopReply); }`, by hand.

#[derive(Clone, PartialEq, prost::Message)]
pub struct HopRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HopReply {
    #[prost(string, tag = "1")]
    pub path: String,
}

const HOP_PATH: &str = "/sae.test.Chain/Hop";

/// Calls `Chain/Hop` over any gRPC channel.
pub async fn grpc_hop<T>(channel: T, request: tonic::Request<HopRequest>) -> Result<String, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<sae_core::BoxError>,
    T::ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as hyper::body::Body>::Error: Into<sae_core::BoxError> + Send,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unknown(format!("not ready: {}", error.into())))?;
    let reply = grpc
        .unary(
            request,
            PathAndQuery::from_static(HOP_PATH),
            ProstCodec::<HopRequest, HopReply>::default(),
        )
        .await?;
    Ok(reply.into_inner().path)
}

/// The server side of `sae.test.Chain`.
#[derive(Clone)]
pub struct ChainServer(Arc<Hop>);

impl tonic::server::NamedService for ChainServer {
    const NAME: &'static str = "sae.test.Chain";
}

impl Service<Request<tonic::body::Body>> for ChainServer {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let hop = self.0.clone();
        Box::pin(async move {
            if request.uri().path() != HOP_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let handler = tower::service_fn(move |request: tonic::Request<HopRequest>| {
                let hop = hop.clone();
                async move {
                    let headers = request.metadata().clone().into_headers();
                    let path = hop
                        .handle(&headers, request.extensions().get::<RequestContext>())
                        .await
                        .map_err(Status::unavailable)?;
                    Ok::<_, Status>(tonic::Response::new(HopReply { path }))
                }
            });
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<HopReply, HopRequest>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

// ---- the scenario both protocols run

const GRAY_PATH_1: &str = "a-base>b-gray>c-base";
const GRAY_PATH_2: &str = "a-base>b-gray>c-gray";
const GRAY_PATH_3: &str = "a-base>b-base>c-gray";
const BASE_PATH: &str = "a-base>b-base>c-base";

/// One call of [`Entry::mixed`]: whether it was gray, and its path.
type Call<'a> = Pin<Box<dyn Future<Output = (bool, String)> + Send + 'a>>;

/// The ingress of the chain: HTTP from an edge that only sets the header
/// (or only baggage); gRPC through a sae client of `a`, the lane taken from
/// the task (as inside a handler) and written into metadata by the client.
pub struct Entry {
    kind: Kind,
    a: SocketAddr,
    grpc: Client<tonic::body::Body>,
}

impl Entry {
    pub fn new(kind: Kind, registry: &MemoryRegistry, a: &Node) -> Self {
        Entry {
            kind,
            a: a.addr,
            grpc: Client::builder("a", registry.clone()).build_grpc().unwrap(),
        }
    }

    /// One request through the chain; its path.
    pub async fn call(&self, lane: Option<&str>, by_baggage: bool) -> String {
        match self.kind {
            Kind::Http => {
                let mut headers = Vec::new();
                match (lane, by_baggage) {
                    (Some(lane), false) => {
                        headers.push(("x-sae-tag", HeaderValue::from_str(lane).unwrap()))
                    }
                    (Some(lane), true) => headers.push((
                        "baggage",
                        HeaderValue::from_str(&format!("user=alice,sae-tag={lane}")).unwrap(),
                    )),
                    (None, _) => {}
                }
                let (status, body) = raw_get(self.a, &headers).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body
            }
            Kind::Grpc => {
                let mut request = tonic::Request::new(HopRequest {});
                request
                    .metadata_mut()
                    .insert("baggage", "user=alice".parse().unwrap());
                let lane = lane.map(|lane| sae_core::Lane::new(lane).unwrap());
                lane::scope(lane, grpc_hop(self.grpc.clone(), request))
                    .await
                    .unwrap()
            }
        }
    }

    /// `n` gray and `n` base requests at once; asserts every path.
    pub async fn mixed(&self, n: usize, gray_path: &str) {
        let mut calls: Vec<Call<'_>> = Vec::new();
        for i in 0..n {
            calls.push(Box::pin(async move {
                (true, self.call(Some("gray"), i % 2 == 1).await)
            }));
            calls.push(Box::pin(
                async move { (false, self.call(None, false).await) },
            ));
        }
        let paths = futures_util::future::join_all(calls).await;
        for (is_gray, path) in paths {
            let expected = if is_gray { gray_path } else { BASE_PATH };
            assert_eq!(path, expected, "gray: {is_gray}");
        }
    }
}

/// Every record of `node` in lane gray has the lane everywhere: context,
/// task, header and baggage (after the handler's own member `hop=<prev>`).
fn assert_gray_seen_consistently(node: &Node, previous: &[&str]) {
    for seen in node.hop.seen.lock().iter().filter(|s| s.lane.is_some()) {
        assert_eq!(seen.lane.as_deref(), Some("gray"), "{}: {seen:?}", node.id);
        assert_eq!(seen.task_lane, seen.lane, "{}: {seen:?}", node.id);
        assert_eq!(
            seen.header.as_deref(),
            Some("gray"),
            "{}: {seen:?}",
            node.id
        );
        let baggage = seen.baggage.as_deref().unwrap_or_default();
        assert!(
            previous
                .iter()
                .any(|prev| baggage == format!("hop={prev},sae-tag=gray")),
            "{}: {seen:?}",
            node.id
        );
    }
    for seen in node.hop.seen.lock().iter().filter(|s| s.lane.is_none()) {
        assert_eq!(seen.task_lane, None, "{}: {seen:?}", node.id);
        assert_eq!(seen.header, None, "{}: {seen:?}", node.id);
    }
}

/// A → B → C: B has base and gray, C base only; then C gains a gray
/// instance at runtime; then B's gray instance stops.
pub async fn lane_chain(kind: Kind) {
    let _ticker = crate::support::ClockTicker::start();
    let registry = MemoryRegistry::new();
    let c_base = start_node(&registry, kind, "c", "c-base", None, None).await;
    let b_base = start_node(&registry, kind, "b", "b-base", None, Some("c")).await;
    let b_gray = start_node(&registry, kind, "b", "b-gray", Some("gray"), Some("c")).await;
    let a = start_node(&registry, kind, "a", "a-base", None, Some("b")).await;
    wait_downstream(&a, &["b-base", "b-gray"]).await;
    wait_downstream(&b_base, &["c-base"]).await;
    wait_downstream(&b_gray, &["c-base"]).await;
    let entry = Entry::new(kind, &registry, &a);

    // C has no gray instance: gray falls back to C-base, which still sees the lane.
    entry.mixed(20, GRAY_PATH_1).await;
    assert_eq!(b_gray.hop.hits(), 20);
    assert_eq!(
        c_base
            .hop
            .seen
            .lock()
            .iter()
            .filter(|s| s.lane.is_some())
            .count(),
        20
    );

    // C-gray registers at runtime: gray requests go there from now on.
    let c_gray = start_node(&registry, kind, "c", "c-gray", Some("gray"), None).await;
    wait_downstream(&b_base, &["c-base", "c-gray"]).await;
    wait_downstream(&b_gray, &["c-base", "c-gray"]).await;
    entry.mixed(20, GRAY_PATH_2).await;
    assert_eq!(c_gray.hop.hits(), 20);

    // B-gray leaves (lossless stop): gray falls back to B-base, which still
    // carries the lane to C-gray.
    b_gray.shutdown.shutdown();
    wait_downstream(&a, &["b-base"]).await;
    entry.mixed(20, GRAY_PATH_3).await;
    assert_eq!(c_gray.hop.hits(), 40);

    // No untagged request ever reached a gray instance.
    assert_eq!(b_gray.hop.untagged(), 0);
    assert_eq!(c_gray.hop.untagged(), 0);
    assert_eq!(c_base.hop.untagged() + c_gray.hop.untagged(), 60);
    assert_gray_seen_consistently(&b_gray, &["a-base"]);
    assert_gray_seen_consistently(&b_base, &["a-base"]);
    assert_gray_seen_consistently(&c_base, &["b-gray"]);
    assert_gray_seen_consistently(&c_gray, &["b-gray", "b-base"]);
    // The ingress saw the lane in the header or in baggage, other members kept.
    for seen in a.hop.seen.lock().iter().filter(|s| s.lane.is_some()) {
        match kind {
            Kind::Http => assert!(
                seen.header.as_deref() == Some("gray")
                    || seen.baggage.as_deref() == Some("user=alice,sae-tag=gray"),
                "{seen:?}"
            ),
            Kind::Grpc => {
                assert_eq!(seen.header.as_deref(), Some("gray"), "{seen:?}");
                assert_eq!(
                    seen.baggage.as_deref(),
                    Some("user=alice,sae-tag=gray"),
                    "{seen:?}"
                );
            }
        }
    }
    assert!(b_gray.serving.await.unwrap().unwrap().deregistered);
    for node in [a, b_base, c_base, c_gray] {
        node.stop().await;
    }
}
