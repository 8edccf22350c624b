//! Traces, metrics and the call topology of two services, A → B, exported
//! over OTLP to the collector given on the command line.
//!
//! ```text
//! cargo run --example tracing_otlp -- http://127.0.0.1:4317          # OTLP/gRPC
//! cargo run --example tracing_otlp -- http://127.0.0.1:4318 http     # OTLP/HTTP protobuf
//! ```
//!
//! It starts B (an axum service registered in the embedded registry) and A
//! (an axum service calling B through sae's balancing client), sends a few
//! requests to A, prints the topology as JSON and DOT, flushes and exits.
//! Every `OTEL_*` variable still applies (`OTEL_TRACES_SAMPLER`, ...).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use sae::trace::{Config, ExportProtocol};
use sae::{Client, Instance, Registry};
use tokio::net::{TcpListener, TcpStream};
use tower::{ServiceBuilder, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:4317".to_owned());
    let protocol = match args.next().as_deref() {
        Some("http") => ExportProtocol::HttpProtobuf,
        _ => ExportProtocol::Grpc,
    };
    let guard = sae::trace::init(
        Config::new()
            .service_name("tracing-otlp-example")
            .protocol(protocol)
            .endpoint(endpoint.clone()),
    )?;
    let registry = Arc::new(sae::registry::MemoryRegistry::new());

    // B: a leaf service.
    let b = guard.telemetry("inventory");
    let b_app = Router::new()
        .route("/stock/{sku}", get(|| async { "12 in stock" }))
        .layer(b.http_server_layer());
    let b_listener = TcpListener::bind("127.0.0.1:0").await?;
    let b_instance = Instance::builder("inventory")
        .addr(b_listener.local_addr()?)
        .build()?;
    tokio::spawn(axum::serve(b_listener, b_app).into_future());
    let _registration = registry.register(b_instance).await?;

    // A: calls B through the balancing client, traced by the client layer.
    let a = guard.telemetry("orders");
    let inventory = ServiceBuilder::new()
        .layer(a.http_client_layer("inventory"))
        .service(Client::builder("inventory", registry.clone()).build_http::<Full<Bytes>>()?);
    let a_app = Router::new()
        .route(
            "/orders/{id}",
            get(move || {
                let inventory = inventory.clone();
                async move {
                    tracing::info!("looking up stock");
                    let request = http::Request::get("http://inventory/stock/42")
                        .body(Full::default())
                        .map_err(|e| e.to_string())?;
                    let response = inventory
                        .oneshot(request)
                        .await
                        .map_err(|e| e.to_string())?;
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(format!(
                        "order: {}",
                        String::from_utf8_lossy(&body.to_bytes())
                    ))
                }
            }),
        )
        .layer(a.http_server_layer());
    let a_listener = TcpListener::bind("127.0.0.1:0").await?;
    let a_addr = a_listener.local_addr()?;
    tokio::spawn(axum::serve(a_listener, a_app).into_future());

    for id in 1..=5 {
        let stream = TcpStream::connect(a_addr).await?;
        let (mut send, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let request = http::Request::get(format!("/orders/{id}"))
            .header(http::header::HOST, "orders")
            .body(Empty::<Bytes>::new())?;
        let response = send.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        println!(
            "GET /orders/{id} -> {status} {}",
            String::from_utf8_lossy(&body)
        );
    }

    println!("topology: {}", guard.topology().to_json());
    print!("{}", guard.topology().to_dot());
    // Bounded: an unreachable collector must not keep the example alive.
    match tokio::time::timeout(Duration::from_secs(15), guard.shutdown()).await {
        Ok(Ok(())) => println!("exported to {endpoint}"),
        Ok(Err(error)) => eprintln!("export to {endpoint} failed: {error}"),
        Err(_) => eprintln!("export to {endpoint} timed out"),
    }
    Ok(())
}
