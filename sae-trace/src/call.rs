//! [`Call`]: one request in flight through a trace layer, and how it ends.
//!
//! The server and client layers, and the gRPC body wrapper that waits for the
//! trailers, all finish a call the same way: status on the span, error status
//! by the semantic conventions' rules, one histogram sample, and (client) one
//! topology sample. A call dropped before it finished counts as cancelled.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, StatusCode};
use opentelemetry::KeyValue;
use tracing::Span;

use crate::recorder::{Kind, Recorder, Side};
use crate::telemetry::{Route, RpcName};

/// How a call ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Http(StatusCode),
    Grpc(i32),
    /// The inner service or the body failed: no status.
    Failed,
    /// Dropped before it finished.
    Cancelled,
}

/// gRPC status UNKNOWN: what a response without `grpc-status` means.
pub(crate) const GRPC_UNKNOWN: i32 = 2;

pub(crate) struct Call {
    pub(crate) span: Span,
    recorder: Arc<Recorder>,
    start: Instant,
    /// Index into [`METHODS`].
    method: u8,
    finished: bool,
    route: Option<Arc<Route>>,
    rpc: Option<Arc<RpcName>>,
}

impl Call {
    pub(crate) fn new(
        recorder: Arc<Recorder>,
        start: Instant,
        span: Span,
        method: &Method,
        route: Option<Arc<Route>>,
        rpc: Option<Arc<RpcName>>,
    ) -> Self {
        Call {
            span,
            recorder,
            start,
            method: method_index(method),
            finished: false,
            route,
            rpc,
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.recorder.kind
    }

    /// Finishes the call once; later calls do nothing.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.start.elapsed();
        let failed = self.failed(outcome);
        let error_type: Option<&'static str> = match outcome {
            Outcome::Failed => Some("transport"),
            Outcome::Cancelled => Some("cancelled"),
            Outcome::Http(status) if failed => Some(status.canonical_reason().unwrap_or("_OTHER")),
            Outcome::Grpc(_) if failed => Some("grpc_error"),
            _ => None,
        };
        if !self.span.is_disabled() {
            match outcome {
                Outcome::Http(status) => {
                    self.span
                        .record("http.response.status_code", status.as_u16());
                }
                Outcome::Grpc(code) => {
                    self.span.record("rpc.grpc.status_code", code);
                }
                Outcome::Failed | Outcome::Cancelled => {}
            }
            if failed {
                self.span.record("otel.status_code", "ERROR");
            }
            if let Some(error_type) = error_type {
                self.span.record("error.type", error_type);
            }
        }
        self.record_metric(elapsed.as_secs_f64(), outcome, error_type);
        if let Some(edge) = &self.recorder.edge {
            edge.record(elapsed, failed);
        }
    }

    fn failed(&self, outcome: Outcome) -> bool {
        match (outcome, self.recorder.side) {
            (Outcome::Http(status), Side::Server) => status.is_server_error(),
            (Outcome::Http(status), Side::Client) => {
                status.is_client_error() || status.is_server_error()
            }
            // Server side, only codes that mean the server failed are errors
            // (semantic conventions); a client treats every non-OK as one.
            (Outcome::Grpc(code), Side::Server) => matches!(code, 2 | 4 | 12 | 13 | 14 | 15),
            (Outcome::Grpc(code), Side::Client) => code != 0,
            (Outcome::Failed | Outcome::Cancelled, _) => true,
        }
    }

    /// One sample. The attribute set is named by a packed key (route or RPC
    /// id, method, outcome) and built only the first time that key is seen.
    fn record_metric(&self, seconds: f64, outcome: Outcome, error_type: Option<&'static str>) {
        let name = match self.recorder.kind {
            Kind::Http => self.route.as_ref().map(|route| route.id),
            Kind::Grpc => self.rpc.as_ref().map(|rpc| rpc.id),
        };
        let (tag, value) = match outcome {
            Outcome::Http(status) => (0, u32::from(status.as_u16())),
            Outcome::Grpc(code) => (1, code as u32),
            Outcome::Failed => (2, 0),
            Outcome::Cancelled => (3, 0),
        };
        let key = u64::from(name.unwrap_or(u16::MAX))
            | u64::from(self.method) << 16
            | tag << 24
            | u64::from(value) << 32;
        self.recorder
            .record_duration(seconds, key, || self.attributes(outcome, error_type))
    }

    /// The metric attributes of this call ending with `outcome`.
    fn attributes(&self, outcome: Outcome, error_type: Option<&'static str>) -> Vec<KeyValue> {
        match self.recorder.kind {
            Kind::Http => {
                let mut attributes = vec![
                    KeyValue::new("http.request.method", METHODS[usize::from(self.method)]),
                    match outcome {
                        Outcome::Http(status) => {
                            KeyValue::new("http.response.status_code", i64::from(status.as_u16()))
                        }
                        _ => KeyValue::new("error.type", error_type.unwrap_or("_OTHER")),
                    },
                ];
                if let Some(route) = &self.route {
                    attributes.push(KeyValue::new("http.route", route.value.clone()));
                }
                attributes
            }
            Kind::Grpc => {
                let code = match outcome {
                    Outcome::Grpc(code) => i64::from(code),
                    _ => i64::from(GRPC_UNKNOWN),
                };
                let mut attributes = vec![
                    KeyValue::new("rpc.system", "grpc"),
                    KeyValue::new("rpc.grpc.status_code", code),
                ];
                if let Some(rpc) = &self.rpc {
                    attributes.push(KeyValue::new("rpc.service", rpc.service.clone()));
                    attributes.push(KeyValue::new("rpc.method", rpc.method.clone()));
                }
                attributes
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Outcome::Cancelled);
    }
}

/// The `grpc-status` of a header or trailer block.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// The `http.request.method` values: the known methods, then `_OTHER`
/// (semantic conventions), so a client cannot mint attribute values.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER",
];

/// The index of `method`'s attribute value in [`METHODS`].
fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::HEAD => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}
