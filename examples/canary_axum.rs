//! `canary_axum`: a canary lane through a chain of axum services.
//!
//! In one process, on loopback, with the embedded registry: services
//! A → B → C, each with a base and a `gray` instance (sae `Provider` +
//! `LaneLayer`), each handler calling the next service through the sae
//! `Client` with no lane code of its own. An edge client sends requests
//! and prints the path each one took:
//!
//! 1. untagged requests stay in base at every hop;
//! 2. requests in lane `gray` stay gray at every hop;
//! 3. an ingress rule on A puts half of the users (by `x-user-id`) in gray;
//! 4. C's gray instance stops (losslessly): gray requests fall back to
//!    C-base at that hop only, and the lane still reaches C.
//!
//! ```text
//! cargo run --example canary_axum
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use sae_core::{Instance, Lane, RequestContext};
use sae_governance::lane::{LaneLayer, LaneRules, RuleFormat};
use sae_governance::provider::{Provider, ShutdownHandle};
use sae_governance::{Client, ServeReport};
use sae_registry::MemoryRegistry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Half of the users (stable per user id) go to gray at ingress.
const RULES: &str = r#"
rules:
  - name: half-of-the-users
    lane: gray
    percentage: { header: x-user-id, percent: 50 }
"#;

struct Hop {
    id: String,
    next: Option<Client<Full<Bytes>>>,
}

struct Running {
    next: Option<Client<Full<Bytes>>>,
    shutdown: ShutdownHandle,
    serving: JoinHandle<Result<ServeReport, sae_core::Error>>,
}

/// The handler: its own id, then whatever the next service answered.
async fn chain(State(hop): State<Arc<Hop>>) -> (StatusCode, String) {
    let Some(next) = &hop.next else {
        return (StatusCode::OK, hop.id.clone());
    };
    // No lane here: the client takes it from the request being served.
    let request = Request::get("http://next/chain")
        .body(Full::default())
        .unwrap();
    match next.clone().oneshot(request).await {
        Ok(response) => {
            let body = response.into_body().collect().await.map(|b| b.to_bytes());
            let rest = body.map_or_else(
                |e| e.to_string(),
                |b| String::from_utf8_lossy(&b).into_owned(),
            );
            (StatusCode::OK, format!("{} > {rest}", hop.id))
        }
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()),
    }
}

async fn start(
    registry: &MemoryRegistry,
    service: &str,
    lane: Option<&str>,
    next: Option<&str>,
    rules: &LaneRules,
) -> Result<Running, BoxError> {
    let id = format!("{service}-{}", lane.unwrap_or("base"));
    let mut instance = Instance::builder(service).id(&id);
    if let Some(lane) = lane {
        instance = instance.lane(lane);
    }
    let provider = Provider::builder(instance, registry.clone())
        .handle_signals(false)
        // A demo: nobody else keeps calling, so a short notice window suffices.
        .notice_quiet_period(Duration::from_millis(100))
        .build()?;
    let next = match next {
        Some(next) => Some(Client::builder(next, registry.clone()).build_http()?),
        None => None,
    };
    let hop = Arc::new(Hop {
        id,
        next: next.clone(),
    });
    let app = Router::new()
        .route("/chain", get(chain))
        .with_state(hop)
        .layer(LaneLayer::with_rules(rules.clone()));
    let shutdown = provider.shutdown_handle();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let serving = tokio::spawn(provider.serve_router(listener, app));
    Ok(Running {
        next,
        shutdown,
        serving,
    })
}

/// Waits until `client` routes to `count` instances.
async fn discovered(client: &Client<Full<Bytes>>, count: usize) {
    let mut changes = client.changes();
    while client.endpoints().len() != count {
        let _ = changes.changed().await;
    }
}

async fn send(
    edge: &Client<Full<Bytes>>,
    label: &str,
    lane: Option<&str>,
    user: Option<&str>,
) -> Result<(), BoxError> {
    let mut request = Request::get("http://a/chain");
    if let Some(user) = user {
        request = request.header("x-user-id", user);
    }
    let mut request = request.body(Full::default())?;
    if let Some(lane) = lane {
        // The edge is not serving a request, so it names the lane explicitly.
        RequestContext {
            lane: Some(Lane::new(lane)?),
            caller: None,
        }
        .insert_into(request.extensions_mut());
    }
    let response = edge.clone().oneshot(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    println!("  {label:<34} -> {}", String::from_utf8_lossy(&body));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let registry = MemoryRegistry::new();
    let rules = LaneRules::parse(RULES, RuleFormat::Yaml)?;
    let no_rules = LaneRules::default();
    let mut nodes = Vec::new();
    for lane in [None, Some("gray")] {
        nodes.push(start(&registry, "c", lane, None, &no_rules).await?);
        nodes.push(start(&registry, "b", lane, Some("c"), &no_rules).await?);
        nodes.push(start(&registry, "a", lane, Some("b"), &rules).await?);
    }
    let edge: Client<Full<Bytes>> = Client::builder("a", registry.clone()).build_http()?;
    discovered(&edge, 2).await;
    for node in &nodes {
        if let Some(next) = &node.next {
            discovered(next, 2).await;
        }
    }

    println!("A -> B -> C, each with a base and a gray instance:");
    for i in 1..=2 {
        send(&edge, &format!("untagged #{i}"), None, None).await?;
    }
    for i in 1..=2 {
        send(&edge, &format!("lane gray #{i}"), Some("gray"), None).await?;
    }
    println!("ingress rule on A: 50 % of users by x-user-id go gray:");
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        send(
            &edge,
            &format!("untagged, x-user-id: {user}"),
            None,
            Some(user),
        )
        .await?;
    }

    println!("c-gray stops (lossless): gray falls back to c-base at that hop:");
    let c_gray = nodes.remove(3);
    c_gray.shutdown.shutdown();
    for node in nodes.iter().filter(|node| node.next.is_some()) {
        // B's clients drop c-gray as soon as the registry says so.
        let next = node.next.as_ref().unwrap();
        let mut changes = next.changes();
        while next.endpoints().iter().any(|e| e.id.as_str() == "c-gray") {
            let _ = changes.changed().await;
        }
    }
    for i in 1..=2 {
        send(&edge, &format!("lane gray #{i}"), Some("gray"), None).await?;
    }
    c_gray.serving.await??;

    for node in &nodes {
        node.shutdown.shutdown();
    }
    for node in nodes {
        node.serving.await??;
    }
    Ok(())
}
