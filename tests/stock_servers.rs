//! The rolling-deploy guarantee on the stock axum server: three providers
//! on `axum::serve` with sae's two lines (the layer and the shutdown
//! signal), an open-loop load through `sae.client(..)`, one provider
//! stopped losslessly in the middle: no request fails. The same for
//! tonic's stock `Server` is the grpc-orders example's
//! `tests/rolling_stop.rs`.

#[path = "support/stock.rs"]
mod stock;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use http::Request;
use http_body_util::{BodyExt, Full};
use sae::Sae;
use sae::registry::MemoryRegistry;
use stock::{Answer, Backend, OFFLINE, SERVICE, Send1, Started};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Header the providers answer with: the instance id.
const SERVED_BY: &str = "x-served-by";

/// Provider `id`: a plain axum app on the stock `axum::serve`, plus sae's two lines.
async fn start(registry: &MemoryRegistry, id: &str) -> Started {
    let id_owned = id.to_owned();
    let sae = Sae::builder(SERVICE)
        .registry(registry.clone())
        .instance(move |instance| instance.id(id_owned))
        .provider(|provider| provider.handle_signals(false))
        .build()
        .unwrap();
    let backend = Backend::new(id);
    let app = Router::new()
        .route(
            "/work",
            get(|State(backend): State<Arc<Backend>>| async move {
                let id = backend.handle().await;
                ([(SERVED_BY, id.clone())], id)
            }),
        )
        .with_state(backend.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum::serve(listener, app.layer(sae.layer()))
        .with_graceful_shutdown(sae.shutdown_signal(addr).unwrap());
    let serving = tokio::spawn(async move { server.await.map_err(|error| error.to_string()) });
    Started {
        sae,
        backend,
        serving,
    }
}

/// One `GET /work` through the client `sae.client(..)` hands out.
fn sender(client: sae::HttpClient) -> Send1 {
    Arc::new(move |_| {
        let client = client.clone();
        Box::pin(async move {
            let request = Request::get("http://orders/work")
                .body(Full::default())
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
    })
}

/// One of three providers on `axum::serve` stops under load: no request
/// fails, it is deregistered while it still answers with the notice, no
/// request picked after the notice reaches it, and the others take the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_serve_rolling_stop_loses_no_request() {
    let registry = MemoryRegistry::new();
    let providers = [
        start(&registry, "a").await,
        start(&registry, "b").await,
        start(&registry, "c").await,
    ];
    let frontend = Sae::builder("frontend")
        .registry(registry.clone())
        .build()
        .unwrap();
    let send = sender(frontend.client(SERVICE).unwrap());
    stock::rolling_stop_under_load(frontend.registry().clone(), providers, send).await;
}
