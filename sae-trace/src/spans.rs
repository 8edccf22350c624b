//! The spans, with the OpenTelemetry semantic-convention attributes.
//!
//! Built only for sampled requests: everything here formats or copies.
//! `otel.name`, `otel.kind` and `otel.status_code` are the fields
//! tracing-opentelemetry maps to the span's name, kind and status; fields
//! declared `Empty` are recorded when the call finishes (or, for
//! `sae.instance.id`, by sae-governance's client when it picks an endpoint).

use http::Request;
use tracing::Span;
use tracing::field::Empty;

use crate::telemetry::split_rpc_path;

/// What a server span says besides the request itself.
pub(crate) struct ServerFacts<'a> {
    pub(crate) service: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) lane: Option<&'a str>,
    pub(crate) caller: Option<&'a str>,
}

pub(crate) fn http_server<B>(request: &Request<B>, facts: &ServerFacts<'_>) -> Span {
    let method = request.method().as_str();
    let name = match facts.route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let (host, port) = server_address(request);
    tracing::info_span!(
        target: "sae_trace",
        "http.server",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        error.type = Empty,
        http.request.method = method,
        http.route = facts.route,
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.query = request.uri().query(),
        url.scheme = "http",
        server.address = host,
        server.port = port,
        network.protocol.version = protocol_version(request),
        sae.service = facts.service,
        sae.lane = facts.lane,
        sae.caller = facts.caller,
    )
}

pub(crate) fn grpc_server<B>(request: &Request<B>, facts: &ServerFacts<'_>) -> Span {
    let path = request.uri().path();
    let (service, method) = split_rpc_path(path).unzip();
    let (host, port) = server_address(request);
    tracing::info_span!(
        target: "sae_trace",
        "grpc.server",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "server",
        otel.status_code = Empty,
        error.type = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        server.address = host,
        server.port = port,
        sae.service = facts.service,
        sae.lane = facts.lane,
        sae.caller = facts.caller,
    )
}

/// What a client span says besides the request itself.
pub(crate) struct ClientFacts<'a> {
    pub(crate) caller: &'a str,
    pub(crate) callee: &'a str,
    pub(crate) lane: Option<&'a str>,
}

pub(crate) fn http_client<B>(request: &Request<B>, facts: &ClientFacts<'_>) -> Span {
    let method = request.method().as_str();
    let (host, port) = server_address(request);
    tracing::info_span!(
        target: "sae_trace",
        "http.client",
        otel.name = method,
        otel.kind = "client",
        otel.status_code = Empty,
        error.type = Empty,
        http.request.method = method,
        http.response.status_code = Empty,
        url.full = %request.uri(),
        server.address = host.or(Some(facts.callee)),
        server.port = port,
        peer.service = facts.callee,
        sae.service = facts.caller,
        sae.lane = facts.lane,
        sae.instance.id = Empty,
    )
}

pub(crate) fn grpc_client<B>(request: &Request<B>, facts: &ClientFacts<'_>) -> Span {
    let path = request.uri().path();
    let (service, method) = split_rpc_path(path).unzip();
    let (host, port) = server_address(request);
    tracing::info_span!(
        target: "sae_trace",
        "grpc.client",
        otel.name = path.trim_start_matches('/'),
        otel.kind = "client",
        otel.status_code = Empty,
        error.type = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        server.address = host.or(Some(facts.callee)),
        server.port = port,
        peer.service = facts.callee,
        sae.service = facts.caller,
        sae.lane = facts.lane,
        sae.instance.id = Empty,
    )
}

/// `server.address`/`server.port`: the URI's authority, else the `Host` header.
fn server_address<B>(request: &Request<B>) -> (Option<&str>, Option<u16>) {
    if let Some(host) = request.uri().host() {
        return (Some(host), request.uri().port_u16());
    }
    let Some(host) = request
        .headers()
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
    else {
        return (None, None);
    };
    // "[::1]" has colons but no port: only a numeric tail is a port.
    match host.rsplit_once(':') {
        Some((name, port)) => match port.parse::<u16>() {
            Ok(port) => (Some(name), Some(port)),
            Err(_) => (Some(host), None),
        },
        None => (Some(host), None),
    }
}

fn protocol_version<B>(request: &Request<B>) -> &'static str {
    match request.version() {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}
