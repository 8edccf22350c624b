//! An in-process OTLP/gRPC receiver: the collector's TraceService and
//! MetricsService (generated in opentelemetry-proto) served by tonic on
//! 127.0.0.1:0, keeping every export it receives.
#![allow(dead_code)] // each test binary uses a different part

use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// What the receiver got so far.
#[derive(Clone, Default)]
pub struct Received {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.traces.lock().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics.lock().push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Starts the receiver; returns its address and the shared record.
pub async fn start() -> (SocketAddr, Received) {
    let received = Received::default();
    let routes = tonic::service::Routes::new(TraceServiceServer::new(received.clone()))
        .add_service(MetricsServiceServer::new(received.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, routes.into_axum_router()).into_future());
    (addr, received)
}

/// A receiver, and `sae_trace::init` exporting to it over OTLP/gRPC with
/// every new trace sampled. Metrics go out at shutdown only, so their counts
/// are exact totals.
pub async fn start_traced() -> (Received, sae_trace::TraceGuard) {
    let (collector, received) = start().await;
    let guard = sae_trace::init(
        sae_trace::Config::new()
            .service_name("sae-tests")
            .protocol(sae_trace::ExportProtocol::Grpc)
            .endpoint(format!("http://{collector}"))
            .sampler(sae_trace::RootSampler::AlwaysOn)
            .metric_interval(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    (received, guard)
}

/// A received span, flattened with the attributes as strings.
#[derive(Clone, Debug)]
pub struct GotSpan {
    pub name: String,
    pub kind: i32,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub status_code: i32,
    pub attributes: Vec<(String, String)>,
    pub events: Vec<String>,
}

impl GotSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// OTLP span kinds.
pub const KIND_SERVER: i32 = 2;
pub const KIND_CLIENT: i32 = 3;
/// OTLP status code ERROR.
pub const STATUS_ERROR: i32 = 2;

impl Received {
    /// Every span received, in arrival order.
    pub fn spans(&self) -> Vec<GotSpan> {
        self.traces
            .lock()
            .iter()
            .flat_map(|request| &request.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans)
            .map(flatten)
            .collect()
    }

    /// The total count of the histogram `name`'s data points whose
    /// attributes include every pair of `having`.
    pub fn histogram_count(&self, name: &str, having: &[(&str, &str)]) -> u64 {
        // Cumulative temporality: the last export holds the totals.
        let metrics = self.metrics.lock();
        let Some(last) = metrics.last() else {
            return 0;
        };
        last.resource_metrics
            .iter()
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| &scope.metrics)
            .filter(|metric| metric.name == name)
            .filter_map(|metric| match &metric.data {
                Some(metric::Data::Histogram(histogram)) => Some(&histogram.data_points),
                _ => None,
            })
            .flatten()
            .filter(|point| {
                let attributes: Vec<(String, String)> =
                    point.attributes.iter().map(key_value).collect();
                having
                    .iter()
                    .all(|(k, v)| attributes.iter().any(|(ak, av)| ak == k && av == v))
            })
            .map(|point| point.count)
            .sum()
    }

    /// Whether any metrics export arrived.
    pub fn has_metrics(&self) -> bool {
        !self.metrics.lock().is_empty()
    }
}

fn flatten(span: &Span) -> GotSpan {
    GotSpan {
        name: span.name.clone(),
        kind: span.kind,
        trace_id: span.trace_id.clone(),
        span_id: span.span_id.clone(),
        parent_span_id: span.parent_span_id.clone(),
        status_code: span.status.as_ref().map_or(0, |status| status.code),
        attributes: span.attributes.iter().map(key_value).collect(),
        events: span.events.iter().map(|event| event.name.clone()).collect(),
    }
}

fn key_value(kv: &KeyValue) -> (String, String) {
    (
        kv.key.clone(),
        kv.value.as_ref().map(render).unwrap_or_default(),
    )
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}
