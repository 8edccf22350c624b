//! `axum_service`: an axum service with sae added in two lines.
//!
//! `orders` is a plain axum service on the stock `axum::serve`; sae comes in
//! with the two lines marked `// sae:` in [`serve`]: the layer on the router
//! and the shutdown signal given to `with_graceful_shutdown`. Its handler
//! calls another service, `inventory`, through `sae.client(..)`: discovery,
//! balancing, lanes, tracing and eviction on the offline notice.
//!
//! In one process, on loopback, with the embedded registry: `inventory` and
//! `orders` start, a `frontend` client sends a few requests, then both
//! services stop losslessly and the process exits.
//!
//! ```text
//! cargo run --example axum_service
//! ```

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use sae::{HttpClient, Sae};
use tokio::net::TcpListener;
use tower::ServiceExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The stock `axum::serve`, with sae added in two lines: the layer (offline
/// notice, lanes, tracing) and the shutdown signal, which registers once
/// serving and, on SIGTERM, preStop or the shutdown handle, deregisters and
/// holds the notice window while consumers leave; axum then drains.
/// Returns once the stop is over.
async fn serve(sae: Sae, app: Router) -> Result<(), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("{} listening on {addr}", sae.service());
    axum::serve(listener, app.layer(sae.layer())) // sae: the layer
        .with_graceful_shutdown(sae.shutdown_signal(addr)?) // sae: the lossless stop
        .await?;
    Ok(())
}

/// `inventory`: how many of an item are left.
async fn stock(Path(item): Path<String>) -> String {
    let left = match item.as_str() {
        "tea" => 12,
        "coffee" => 7,
        _ => 3,
    };
    format!("{left} left")
}

/// `orders`: an order, with the stock `inventory` reports for its item.
async fn order(
    Path(id): Path<u64>,
    State(inventory): State<HttpClient>,
) -> Result<String, (StatusCode, String)> {
    let item = ["tea", "coffee", "cake"][(id % 3) as usize];
    let request = http::Request::get(format!("http://inventory/stock/{item}"))
        .body(Full::default())
        .map_err(bad_gateway)?;
    let response = inventory.oneshot(request).await.map_err(bad_gateway)?;
    let body = response.into_body().collect().await.map_err(bad_gateway)?;
    let stock = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    Ok(format!("order {id}: one {item} ({stock})"))
}

fn bad_gateway(error: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::BAD_GATEWAY, error.to_string())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // No registry given: the embedded one, shared by the services of this
    // process (SAE_REGISTRY=etcd://… points them at etcd, with the etcd feature).
    let inventory = Sae::builder("inventory").build()?;
    let inventory_app = Router::new().route("/stock/{item}", get(stock));
    let inventory_server = tokio::spawn(serve(inventory.clone(), inventory_app));

    let orders = Sae::builder("orders").build()?;
    let orders_app = Router::new()
        .route("/orders/{id}", get(order))
        .with_state(orders.client("inventory")?);
    let orders_server = tokio::spawn(serve(orders.clone(), orders_app));

    // A caller of `orders`; its first request waits for `orders` to register.
    let frontend = Sae::builder("frontend").build()?;
    let client = frontend.client("orders")?;
    for id in 1..=4 {
        let request =
            http::Request::get(format!("http://orders/orders/{id}")).body(Full::default())?;
        let response = client.clone().oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "  GET /orders/{id} -> {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    // The lossless stop, as on SIGTERM or Kubernetes' preStop: callers first.
    for (sae, server) in [(orders, orders_server), (inventory, inventory_server)] {
        sae.shutdown_handle().shutdown();
        server.await??;
        sae.stopped().await;
        println!("{}: {}", sae.service(), sae.lifecycle().phase());
    }
    Ok(())
}
