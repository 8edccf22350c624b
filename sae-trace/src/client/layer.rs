//! [`TraceClientLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::TraceClient;
use crate::Telemetry;
use crate::recorder::Kind;

/// Wraps a client service in a [`TraceClient`]; see the [module docs](super).
#[derive(Clone, Debug)]
pub struct TraceClientLayer {
    telemetry: Telemetry,
    callee: Arc<str>,
    kind: Kind,
}

impl TraceClientLayer {
    /// The layer for HTTP calls to the service `callee`.
    pub fn http(telemetry: &Telemetry, callee: &str) -> Self {
        Self::new(telemetry, callee, Kind::Http)
    }

    /// The layer for gRPC calls to the service `callee`.
    pub fn grpc(telemetry: &Telemetry, callee: &str) -> Self {
        Self::new(telemetry, callee, Kind::Grpc)
    }

    fn new(telemetry: &Telemetry, callee: &str, kind: Kind) -> Self {
        TraceClientLayer {
            telemetry: telemetry.clone(),
            callee: Arc::from(callee),
            kind,
        }
    }
}

impl<S> Layer<S> for TraceClientLayer {
    type Service = TraceClient<S>;

    fn layer(&self, inner: S) -> TraceClient<S> {
        let edge = self
            .telemetry
            .topology()
            .edge(self.telemetry.service(), &self.callee);
        TraceClient::new(
            inner,
            &self.telemetry,
            Arc::clone(&self.callee),
            edge,
            self.kind,
        )
    }
}
