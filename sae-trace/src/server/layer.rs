//! [`TraceServerLayer`].

use tower_layer::Layer;

use super::TraceServer;
use crate::Telemetry;
use crate::recorder::Kind;

/// Wraps a service in a [`TraceServer`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct TraceServerLayer {
    telemetry: Telemetry,
    kind: Kind,
}

impl TraceServerLayer {
    /// The layer for HTTP services.
    pub fn http(telemetry: &Telemetry) -> Self {
        TraceServerLayer {
            telemetry: telemetry.clone(),
            kind: Kind::Http,
        }
    }

    /// The layer for gRPC services.
    pub fn grpc(telemetry: &Telemetry) -> Self {
        TraceServerLayer {
            telemetry: telemetry.clone(),
            kind: Kind::Grpc,
        }
    }
}

impl<S> Layer<S> for TraceServerLayer {
    type Service = TraceServer<S>;

    fn layer(&self, inner: S) -> TraceServer<S> {
        TraceServer::new(inner, &self.telemetry, self.kind)
    }
}
