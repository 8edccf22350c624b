//! `grpc-orders`: a tonic service generated from `proto/orders.proto` (by
//! `tonic-prost-build`, from descriptors that `protox` compiles in Rust: no
//! system `protoc`), served by tonic's stock `Server` with sae added in two
//! lines ([`serve`]), and called through the generated [`OrdersClient`]
//! over sae's channel:
//!
//! ```no_run
//! # use grpc_orders::{GetOrderRequest, OrdersClient};
//! # async fn call() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let frontend = sae::Sae::builder("frontend").build()?;
//! let mut orders = OrdersClient::new(frontend.grpc_client("orders")?);
//! let order = orders.get_order(GetOrderRequest { id: 7 }).await?.into_inner();
//! # let _ = order;
//! # Ok(())
//! # }
//! ```
//!
//! `cargo run -p grpc-orders` runs two instances and a caller in one
//! process; `tests/rolling_stop.rs` stops one of three instances under load
//! and loses no call.

use sae::Sae;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The code `tonic-prost-build` generated from `proto/orders.proto`.
#[allow(missing_docs)] // the generated modules and `new`/`with_origin` have no docs
pub mod proto {
    tonic::include_proto!("orders.v1");
}

pub use proto::orders_client::OrdersClient;
pub use proto::orders_server::{Orders, OrdersServer};
pub use proto::{GetOrderRequest, Order};

/// Errors of the example.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `orders` on `listener` with tonic's stock `Server`; returns once
/// sae's lossless stop is over (deregistered, offline notice held while
/// consumers leave, tonic's graceful shutdown drained).
///
/// # Errors
///
/// The listener has no address, the `Sae`'s provider was already started,
/// or tonic's server failed.
pub async fn serve(sae: &Sae, listener: TcpListener, orders: impl Orders) -> Result<(), BoxError> {
    let addr = listener.local_addr()?;
    tonic::transport::Server::builder()
        // sae: the layer (offline notice, lanes, tracing).
        .layer(sae.grpc_layer())
        .add_service(OrdersServer::new(orders))
        // sae: registers once serving; on SIGTERM, preStop or the handle it
        // deregisters and holds the notice window, then tonic drains.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), sae.shutdown_signal(addr)?)
        .await?;
    Ok(())
}

/// The example's `Orders`: a fixed catalogue, answered with the id of the
/// instance that served the call.
#[derive(Clone, Debug)]
pub struct OrdersService {
    instance: String,
}

impl OrdersService {
    /// The service of the instance `instance` (its sae id).
    pub fn new(instance: impl Into<String>) -> Self {
        OrdersService {
            instance: instance.into(),
        }
    }
}

#[tonic::async_trait]
impl Orders for OrdersService {
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        let id = request.into_inner().id;
        let (item, quantity) = match id % 3 {
            0 => ("tea", 2),
            1 => ("coffee", 1),
            _ => ("cake", 3),
        };
        Ok(Response::new(Order {
            id,
            item: item.to_owned(),
            quantity,
            served_by: self.instance.clone(),
        }))
    }
}
