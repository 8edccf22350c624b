//! `canary_tonic`: a canary lane through a chain of gRPC (tonic) services.
//!
//! The same chain as `canary_axum` over HTTP/2: services A → B → C, each
//! with a base and a `gray` instance, served by sae's `Provider` behind
//! `LaneLayer`; each handler calls the next service through the sae
//! `Client` used as the tonic channel. The lane travels in gRPC metadata
//! (`x-sae-tag` and `baggage`); the last hop reports what it received.
//! The gRPC service is written by hand (what tonic-build would generate),
//! so the example needs no protoc.
//!
//! ```text
//! cargo run --example canary_tonic
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use http::{Request, Response};
use sae_core::Lane;
use sae_governance::lane::{self, LaneLayer};
use sae_governance::provider::{Provider, ShutdownHandle};
use sae_governance::{Client, ServeReport};
use sae_registry::MemoryRegistry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::Status;
use tonic_prost::ProstCodec;
use tower::{Layer, Service};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Channel = Client<tonic::body::Body>;

/// `rpc Hop(HopRequest) returns (HopReply)` of `sae.example.Chain`.
#[derive(Clone, PartialEq, prost::Message)]
struct HopRequest {}

#[derive(Clone, PartialEq, prost::Message)]
struct HopReply {
    #[prost(string, tag = "1")]
    path: String,
}

const HOP_PATH: &str = "/sae.example.Chain/Hop";

/// The client side of `Chain/Hop` over any channel (here: the sae client).
async fn hop(channel: Channel) -> Result<String, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let reply = grpc
        .unary(
            tonic::Request::new(HopRequest {}),
            PathAndQuery::from_static(HOP_PATH),
            ProstCodec::<HopRequest, HopReply>::default(),
        )
        .await?;
    Ok(reply.into_inner().path)
}

/// The server side: its id, then the next service's answer (or, at the
/// end of the chain, the lane metadata it received).
#[derive(Clone)]
struct ChainServer {
    id: Arc<str>,
    next: Option<Channel>,
}

impl tonic::server::NamedService for ChainServer {
    const NAME: &'static str = "sae.example.Chain";
}

impl Service<Request<tonic::body::Body>> for ChainServer {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            if request.uri().path() != HOP_PATH {
                return Ok(Status::unimplemented("no such method").into_http());
            }
            let handler = tower::service_fn(move |request: tonic::Request<HopRequest>| {
                let this = this.clone();
                async move {
                    let path = match this.next {
                        // No lane code: the channel takes it from the call being served.
                        Some(next) => format!("{} > {}", this.id, hop(next).await?),
                        None => {
                            let metadata = request.metadata();
                            let show = |key| {
                                metadata
                                    .get(key)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("-")
                            };
                            format!(
                                "{} [x-sae-tag: {}, baggage: {}]",
                                this.id,
                                show("x-sae-tag"),
                                show("baggage")
                            )
                        }
                    };
                    Ok::<_, Status>(tonic::Response::new(HopReply { path }))
                }
            });
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<HopReply, HopRequest>::default());
            Ok(grpc.unary(handler, request).await)
        })
    }
}

struct Running {
    next: Option<Channel>,
    shutdown: ShutdownHandle,
    serving: JoinHandle<Result<ServeReport, sae_core::Error>>,
}

async fn start(
    registry: &MemoryRegistry,
    service: &str,
    lane: Option<&str>,
    next: Option<&str>,
) -> Result<Running, BoxError> {
    let id = format!("{service}-{}", lane.unwrap_or("base"));
    let mut instance = sae_core::Instance::builder(service).id(&id);
    if let Some(lane) = lane {
        instance = instance.lane(lane);
    }
    let provider = Provider::builder(instance, registry.clone())
        .handle_signals(false)
        .notice_quiet_period(Duration::from_millis(100))
        .build()?;
    let next = match next {
        Some(next) => Some(Client::builder(next, registry.clone()).build_grpc()?),
        None => None,
    };
    let server = ChainServer {
        id: id.into(),
        next: next.clone(),
    };
    let routes = tonic::service::Routes::new(server).prepare();
    let shutdown = provider.shutdown_handle();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let serving = tokio::spawn(provider.serve(listener, LaneLayer::new().layer(routes)));
    Ok(Running {
        next,
        shutdown,
        serving,
    })
}

async fn discovered(client: &Channel, count: usize) {
    let mut changes = client.changes();
    while client.endpoints().len() != count {
        let _ = changes.changed().await;
    }
}

async fn send(edge: &Channel, label: &str, lane: Option<&str>) -> Result<(), BoxError> {
    let lane = lane.map(Lane::new).transpose()?;
    // The edge serves no request, so it enters the lane scope itself.
    let path = lane::scope(lane, hop(edge.clone())).await?;
    println!("  {label:<14} -> {path}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let registry = MemoryRegistry::new();
    let mut nodes = Vec::new();
    for lane in [None, Some("gray")] {
        nodes.push(start(&registry, "c", lane, None).await?);
        nodes.push(start(&registry, "b", lane, Some("c")).await?);
        nodes.push(start(&registry, "a", lane, Some("b")).await?);
    }
    let edge: Channel = Client::builder("a", registry.clone()).build_grpc()?;
    discovered(&edge, 2).await;
    for next in nodes.iter().filter_map(|node| node.next.as_ref()) {
        discovered(next, 2).await;
    }

    println!("gRPC A -> B -> C, each with a base and a gray instance:");
    for i in 1..=2 {
        send(&edge, &format!("untagged #{i}"), None).await?;
    }
    for i in 1..=2 {
        send(&edge, &format!("lane gray #{i}"), Some("gray")).await?;
    }
    println!("b-gray stops (lossless): gray falls back to b-base, which still calls c-gray:");
    let b_gray = nodes.remove(4);
    b_gray.shutdown.shutdown();
    for next in nodes.iter().filter_map(|node| node.next.as_ref()) {
        let mut changes = next.changes();
        while next.endpoints().iter().any(|e| e.id.as_str() == "b-gray") {
            let _ = changes.changed().await;
        }
    }
    for i in 1..=2 {
        send(&edge, &format!("lane gray #{i}"), Some("gray")).await?;
    }
    b_gray.serving.await??;
    for node in &nodes {
        node.shutdown.shutdown();
    }
    for node in nodes {
        node.serving.await??;
    }
    Ok(())
}
