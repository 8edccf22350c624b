//! `cargo run -p grpc-orders`
//!
//! Two instances of the `orders` gRPC service (generated from
//! `proto/orders.proto`, served by [`grpc_orders::serve`]: tonic's stock
//! `Server` with sae's two lines) and a `frontend` calling them through the
//! generated `OrdersClient` over sae's channel, in one process with the
//! embedded registry. `orders-1` then stops losslessly while the calls go
//! on, and `orders-2` after it.

use grpc_orders::{BoxError, GetOrderRequest, OrdersClient, OrdersService};
use sae::{Phase, Sae};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Two instances of `orders`, each with its own `Sae` (one per process in
    // production; the embedded registry is shared within the process).
    let mut instances: Vec<(Sae, JoinHandle<Result<(), BoxError>>)> = Vec::new();
    for id in ["orders-1", "orders-2"] {
        let sae = Sae::builder("orders").instance(move |i| i.id(id)).build()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{id} listening on {}", listener.local_addr()?);
        let orders = OrdersService::new(id);
        let server = sae.clone();
        let serving =
            tokio::spawn(async move { grpc_orders::serve(&server, listener, orders).await });
        instances.push((sae, serving));
    }
    for (sae, _) in &instances {
        // Registered: consumers can find it.
        sae.lifecycle().reached(Phase::Serving).await;
    }

    // The calling side: the generated client over sae's balancing channel.
    let frontend = Sae::builder("frontend").build()?;
    let mut orders = OrdersClient::new(frontend.grpc_client("orders")?);
    let mut call = async |id| -> Result<(), BoxError> {
        let response = orders.get_order(GetOrderRequest { id }).await?;
        let notice = response.metadata().contains_key(sae::wire::OFFLINE_HEADER);
        let order = response.into_inner();
        println!(
            "  order {}: {} x {}, served by {}{}",
            order.id,
            order.quantity,
            order.item,
            order.served_by,
            if notice {
                " (with the offline notice)"
            } else {
                ""
            }
        );
        Ok(())
    };

    println!("calls:");
    for id in 1..=4 {
        call(id).await?;
    }

    println!("orders-1 stops (lossless), the calls go on:");
    let (orders_1, serving_1) = instances.remove(0);
    orders_1.shutdown_handle().shutdown();
    for id in 5..=8 {
        call(id).await?;
    }
    serving_1.await??;
    orders_1.stopped().await;
    println!("orders-1 stopped: {}", orders_1.lifecycle().phase());

    let (orders_2, serving_2) = instances.remove(0);
    orders_2.shutdown_handle().shutdown();
    serving_2.await??;
    orders_2.stopped().await;
    println!("orders-2 stopped: {}", orders_2.lifecycle().phase());
    Ok(())
}
