//! The services of the demo: `edge` (applies the lane rules, calls `shop`)
//! and `shop` in a base and a gray version, each instance an axum server
//! with sae's two lines, on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use http::StatusCode;
use http_body_util::BodyExt;
use sae::{IngressTrust, Sae};
use sae_core::{Phase, Registry};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One running instance.
pub struct Running {
    pub sae: Sae,
    pub addr: SocketAddr,
    /// An edge's client of `shop`.
    shop: Option<sae::HttpClient>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops losslessly: deregister, the offline notice, drain.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.sae.shutdown_handle().shutdown();
        self.server.await??;
        Ok(())
    }
}

async fn serve(sae: Sae, app: Router, shop: Option<sae::HttpClient>) -> Result<Running, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let shutdown = sae.shutdown_signal(addr)?;
    let app = app.layer(sae.layer());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    sae.lifecycle().reached(Phase::Serving).await;
    Ok(Running {
        sae,
        addr,
        shop,
        server,
    })
}

fn builder(service: &str, registry: &Arc<dyn Registry>) -> sae::SaeBuilder {
    Sae::builder(service)
        .registry(Arc::clone(registry))
        // The demo stops instances itself, and nobody else calls them:
        // a short quiet period ends each notice window quickly.
        .provider(|provider| {
            provider
                .handle_signals(false)
                .notice_quiet_period(Duration::from_millis(300))
        })
}

/// A `shop` instance answering its version, in `lane` (`None`: base).
pub async fn shop(
    registry: &Arc<dyn Registry>,
    version: &'static str,
    lane: Option<&str>,
) -> Result<Running, BoxError> {
    let lane = lane.map(str::to_owned);
    let sae = builder("shop", registry)
        .instance(move |instance| match lane {
            Some(lane) => instance.lane(lane),
            None => instance,
        })
        .build()?;
    let app = Router::new().route("/item", get(move || async move { version }));
    serve(sae, app, None).await
}

/// An `edge` instance: the lane rules it follows in the registry pick the
/// lane of each outside request (outside lane headers are not believed);
/// it answers what `shop` answered.
pub async fn edge(registry: &Arc<dyn Registry>) -> Result<Running, BoxError> {
    let sae = builder("edge", registry)
        .ingress_trust(IngressTrust::None)
        .build()?;
    let shop = sae.client("shop")?;
    let app = Router::new()
        .route("/item", get(forward))
        .with_state(shop.clone());
    serve(sae, app, Some(shop)).await
}

/// Calls `shop` in the request's lane (the client takes it from the task).
async fn forward(State(shop): State<sae::HttpClient>) -> (StatusCode, String) {
    let request = http::Request::get("http://shop/item")
        .body(Default::default())
        .expect("a static request");
    let answer = match shop.oneshot(request).await {
        Ok(response) if response.status().is_success() => response
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes()),
        Ok(response) => return (StatusCode::BAD_GATEWAY, response.status().to_string()),
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()),
    };
    match answer {
        Ok(body) => (StatusCode::OK, String::from_utf8_lossy(&body).into_owned()),
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()),
    }
}

/// Waits until every edge's `shop` client routes to `count` instances.
pub async fn shop_seen_by_edges(edges: &[Running], count: usize) {
    for shop in edges.iter().filter_map(|edge| edge.shop.as_ref()) {
        let balancer = shop.balancer();
        let mut changes = balancer.changes();
        while balancer.endpoints().len() != count {
            let _ = changes.changed().await;
        }
    }
}
