//! The rolling-deploy guarantee on tonic's stock `Server`: three providers
//! of the generated `Orders` service served by [`grpc_orders::serve`]
//! (sae's two lines), an open-loop load through the generated
//! `OrdersClient` over `sae.grpc_client(..)`, one provider stopped
//! losslessly in the middle: no call fails.

#[path = "../../../tests/support/stock.rs"]
mod stock;

use std::sync::Arc;

use grpc_orders::{GetOrderRequest, Order, Orders, OrdersClient, OrdersService};
use sae::registry::MemoryRegistry;
use sae::{GrpcChannel, Sae};
use stock::{Answer, Backend, OFFLINE, SERVICE, Send1, Started};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// The example's service, counting and gating calls for the test.
struct Counted {
    backend: Arc<Backend>,
    orders: OrdersService,
}

#[tonic::async_trait]
impl Orders for Counted {
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        self.backend.handle().await;
        self.orders.get_order(request).await
    }
}

/// Provider `id`: the example's stock tonic server with sae.
async fn start(registry: &MemoryRegistry, id: &str) -> Started {
    let id_owned = id.to_owned();
    let sae = Sae::builder(SERVICE)
        .registry(registry.clone())
        .instance(move |instance| instance.id(id_owned))
        .provider(|provider| provider.handle_signals(false))
        .build()
        .unwrap();
    let backend = Backend::new(id);
    let service = Counted {
        backend: backend.clone(),
        orders: OrdersService::new(id),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = sae.clone();
    let serving = tokio::spawn(async move {
        grpc_orders::serve(&server, listener, service)
            .await
            .map_err(|error| error.to_string())
    });
    Started {
        sae,
        backend,
        serving,
    }
}

/// Call `seq` through the generated client over sae's channel.
fn sender(channel: GrpcChannel) -> Send1 {
    Arc::new(move |seq| {
        let mut orders = OrdersClient::new(channel.clone());
        Box::pin(async move {
            let id = seq as u64;
            let response = orders
                .get_order(GetOrderRequest { id })
                .await
                .map_err(|status| format!("{status:?}"))?;
            let notice = response.metadata().contains_key(OFFLINE);
            let order = response.into_inner();
            if order.id != id {
                return Err(format!("asked for order {id}, got {order:?}"));
            }
            Ok(Answer {
                served_by: order.served_by,
                notice,
            })
        })
    })
}

/// One of three providers on tonic's `Server` stops under load: no call
/// fails, it is deregistered while it still answers with the notice, no
/// call picked after the notice reaches it, and the others take the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_server_rolling_stop_loses_no_call() {
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
    let send = sender(frontend.grpc_client(SERVICE).unwrap());
    stock::rolling_stop_under_load(frontend.registry().clone(), providers, send).await;
}
