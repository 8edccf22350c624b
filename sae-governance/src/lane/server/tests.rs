use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use parking_lot::Mutex;
use sae_core::{Lane, RequestContext};
use tokio::sync::oneshot;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::LaneLayer;
use crate::lane::{self, IngressTrust, LaneRules, RuleFormat};

/// What the handler saw: the context's lane, the task's lane at call time,
/// and after an `.await`.
#[derive(Debug, PartialEq)]
struct Seen {
    context: Option<String>,
    at_call: Option<String>,
    after_await: Option<String>,
    caller: Option<String>,
}

async fn serve(layer: &LaneLayer, request: Request<()>) -> Seen {
    let service = layer.layer(service_fn(|request: Request<()>| {
        let at_call = lane::current();
        async move {
            tokio::task::yield_now().await;
            let context = RequestContext::from_extensions(request.extensions()).cloned();
            let seen = Seen {
                context: context
                    .as_ref()
                    .and_then(|c| c.lane.as_ref())
                    .map(Lane::to_string),
                at_call: at_call.map(|lane| lane.to_string()),
                after_await: lane::current().map(|lane| lane.to_string()),
                caller: context.and_then(|c| c.caller).map(|c| c.to_string()),
            };
            Ok::<_, Infallible>(Response::new(seen))
        }
    }));
    service.oneshot(request).await.unwrap().into_body()
}

fn seen(lane: Option<&str>) -> Seen {
    Seen {
        context: lane.map(str::to_owned),
        at_call: lane.map(str::to_owned),
        after_await: lane.map(str::to_owned),
        caller: None,
    }
}

#[tokio::test]
async fn header_lane_is_in_the_context_and_the_task_across_await() {
    let request = Request::get("/")
        .header("x-sae-tag", "gray")
        .body(())
        .unwrap();
    assert_eq!(serve(&LaneLayer::new(), request).await, seen(Some("gray")));
    assert_eq!(lane::current(), None, "the scope ends with the request");
}

#[tokio::test]
async fn baggage_lane_and_caller() {
    let request = Request::get("/")
        .header("baggage", "user=alice,sae-tag=gray")
        .header("x-sae-caller", "frontend")
        .body(())
        .unwrap();
    let mut expected = seen(Some("gray"));
    expected.caller = Some("frontend".into());
    assert_eq!(serve(&LaneLayer::new(), request).await, expected);
}

#[tokio::test]
async fn no_lane_is_base_everywhere() {
    let request = Request::get("/").body(()).unwrap();
    assert_eq!(serve(&LaneLayer::new(), request).await, seen(None));
}

#[tokio::test]
async fn an_outer_context_lane_is_kept() {
    let mut request = Request::get("/")
        .header("x-sae-tag", "gray")
        .body(())
        .unwrap();
    RequestContext {
        lane: Some(Lane::new("blue").unwrap()),
        caller: None,
    }
    .insert_into(request.extensions_mut());
    assert_eq!(serve(&LaneLayer::new(), request).await, seen(Some("blue")));
}

#[tokio::test]
async fn rules_apply_only_to_requests_without_a_lane() {
    let rules = LaneRules::parse(
        "rules: [{ lane: rule, path_prefix: /beta/ }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let layer = LaneLayer::with_rules(rules);
    let by_rule = Request::get("/beta/x").body(()).unwrap();
    assert_eq!(serve(&layer, by_rule).await, seen(Some("rule")));
    let by_header = Request::get("/beta/x")
        .header("x-sae-tag", "gray")
        .body(())
        .unwrap();
    assert_eq!(serve(&layer, by_header).await, seen(Some("gray")));
    let neither = Request::get("/other").body(()).unwrap();
    assert_eq!(serve(&layer, neither).await, seen(None));
}

#[tokio::test]
async fn a_request_in_flight_keeps_its_lane_when_the_rules_change() {
    let rules =
        LaneRules::parse("rules: [{ lane: old, path_prefix: / }]", RuleFormat::Yaml).unwrap();
    let layer = LaneLayer::with_rules(rules.clone());
    let (release, released) = oneshot::channel::<()>();
    let (arrived, arrival) = oneshot::channel::<()>();
    let (mut released, mut arrived) = (Some(released), Some(arrived));
    let service = layer.layer(service_fn(move |_: Request<()>| {
        let (released, arrived) = (released.take(), arrived.take());
        async move {
            if let (Some(released), Some(arrived)) = (released, arrived) {
                let _ = arrived.send(());
                let _ = released.await;
            }
            Ok::<_, Infallible>(Response::new(lane::current()))
        }
    }));
    let held = tokio::spawn(service.oneshot(Request::get("/").body(()).unwrap()));
    arrival.await.unwrap();
    rules
        .reload_str("rules: [{ lane: new, path_prefix: / }]", RuleFormat::Yaml)
        .unwrap();
    release.send(()).unwrap();
    let lane = held.await.unwrap().unwrap().into_body();
    assert_eq!(lane.unwrap().as_str(), "old");
    assert_eq!(
        serve(&layer, Request::get("/").body(()).unwrap()).await,
        seen(Some("new"))
    );
}

/// Collects formatted `tracing` output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn malformed_inputs_are_ignored_with_a_debug_event() {
    let many: Vec<String> = (0..5000)
        .map(|i| format!("k{i}=v"))
        .chain(["sae-tag=gray".into()])
        .collect();
    let bad_values = [
        HeaderValue::from_str(&"g".repeat(200)).unwrap(),
        HeaderValue::from_static("gray<script>"),
        HeaderValue::from_bytes(b"gr\xc3\x28ay").unwrap(),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (header, value) in bad_values
        .iter()
        .map(|v| ("x-sae-tag", v.clone()))
        .chain([("baggage", HeaderValue::from_str(&many.join(",")).unwrap())])
    {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let request = Request::get("/")
            .header(header, value.clone())
            .body(())
            .unwrap();
        let result = tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(serve(&LaneLayer::new(), request))
        });
        assert_eq!(result, seen(None), "{header}: {value:?}");
        let log = String::from_utf8_lossy(&captured.0.lock()).into_owned();
        assert!(
            log.contains("DEBUG") && log.contains("ignored"),
            "{header}: {log}"
        );
    }
}

/// A request from the outside world claiming a lane (header and baggage)
/// and a caller, to a path the edge's rule sends to `rule`.
fn outside_request(peer: Option<&str>) -> Request<()> {
    let mut request = Request::get("/beta/x")
        .header("x-sae-tag", "gray")
        .header("baggage", "user=alice,sae-tag=gray")
        .header("x-sae-caller", "payments")
        .body(())
        .unwrap();
    if let Some(peer) = peer {
        let addr: std::net::SocketAddr = peer.parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
    }
    request
}

fn edge(trust: IngressTrust) -> LaneLayer {
    let rules = LaneRules::parse(
        "rules: [{ lane: rule, path_prefix: /beta/ }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    LaneLayer::with_rules(rules).trust(trust)
}

#[tokio::test]
async fn an_edge_that_trusts_no_peer_drops_an_outside_lane_and_caller_then_applies_its_rules() {
    let (layer, headers) = (edge(IngressTrust::None), Arc::new(Mutex::new(None)));
    let kept = headers.clone();
    let service = layer.layer(service_fn(move |request: Request<()>| {
        *kept.lock() = Some(request.headers().clone());
        let context = RequestContext::from_extensions(request.extensions()).cloned();
        async move { Ok::<_, Infallible>(Response::new(context)) }
    }));
    let context = service
        .oneshot(outside_request(Some("203.0.113.9:4000")))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(
        context.lane.unwrap().as_str(),
        "rule",
        "only the rule decides"
    );
    assert_eq!(context.caller, None, "an outside caller claim is dropped");
    let headers = headers.lock().take().unwrap();
    assert!(headers.get("x-sae-tag").is_none());
    assert!(headers.get("x-sae-caller").is_none());
    assert_eq!(headers["baggage"], "user=alice", "other baggage stays");
}

#[tokio::test]
async fn an_edge_believes_peers_in_its_trusted_networks_only() {
    let trust = IngressTrust::networks(["10.1.0.0/16", "::1"]).unwrap();
    let gateway = serve(&edge(trust.clone()), outside_request(Some("10.1.2.3:4000"))).await;
    let mut believed = seen(Some("gray"));
    believed.caller = Some("payments".into());
    assert_eq!(gateway, believed);
    let ipv6 = serve(&edge(trust.clone()), outside_request(Some("[::1]:4000"))).await;
    assert_eq!(ipv6.context.as_deref(), Some("gray"));

    for outside in [Some("10.2.0.1:4000"), None] {
        let seen = serve(&edge(trust.clone()), outside_request(outside)).await;
        assert_eq!(seen.context.as_deref(), Some("rule"), "{outside:?}");
        assert_eq!(seen.caller, None, "{outside:?}");
    }
}

#[tokio::test]
async fn trusting_every_peer_is_the_default() {
    let seen = serve(&LaneLayer::new(), outside_request(None)).await;
    assert_eq!(seen.context.as_deref(), Some("gray"));
    assert_eq!(seen.caller.as_deref(), Some("payments"));
    assert_eq!(LaneLayer::new().ingress_trust(), &IngressTrust::All);
}

#[test]
fn a_trusted_network_that_is_neither_a_block_nor_an_address_is_named() {
    let error = IngressTrust::networks(["10.0.0.0/8", "gateway.internal"]).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("networks[1]") && message.contains("gateway.internal"),
        "{message}"
    );
    assert_eq!(
        IngressTrust::networks(["10.0.0.0/8", "127.0.0.1"])
            .unwrap()
            .to_string(),
        "peers in 10.0.0.0/8, 127.0.0.1/32"
    );
}
