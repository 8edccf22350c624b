//! Canary lanes over HTTP/1.1, end to end: a chain A → B → C of axum
//! providers behind `LaneLayer`, calling each other through the sae client.

#[path = "support/canary.rs"]
mod canary;
mod support;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use sae_core::{Error, Lane};
use sae_governance::balance::LaneFallback;
use sae_governance::{Client, lane};
use sae_registry::MemoryRegistry;
use tower::ServiceExt;

use canary::{raw_get, start_node, wait_downstream};
use support::Kind;

/// Every gray request visits B-gray, then C-base, then C-gray once it
/// registers (then B-base → C-gray once B-gray leaves); no untagged request
/// reaches a gray instance; the lane travels as header and baggage.
#[tokio::test(start_paused = true)]
async fn gray_requests_follow_the_lane_through_the_chain() {
    canary::lane_chain(Kind::Http).await;
}

/// Too long, invalid characters, non-UTF-8, thousands of baggage members:
/// the request is served in base, without error.
#[tokio::test(start_paused = true)]
async fn malformed_lane_inputs_are_ignored_end_to_end() {
    let _ticker = support::ClockTicker::start();
    let registry = MemoryRegistry::new();
    let b_base = start_node(&registry, Kind::Http, "b", "b-base", None, None).await;
    let b_gray = start_node(&registry, Kind::Http, "b", "b-gray", Some("gray"), None).await;
    let a = start_node(&registry, Kind::Http, "a", "a-base", None, Some("b")).await;
    wait_downstream(&a, &["b-base", "b-gray"]).await;

    let many: Vec<String> = (0..5000)
        .map(|i| format!("m{i}=v"))
        .chain(["sae-tag=gray".to_owned()])
        .collect();
    let inputs = [
        ("x-sae-tag", HeaderValue::from_str(&"g".repeat(64)).unwrap()),
        ("x-sae-tag", HeaderValue::from_static("gray!")),
        ("x-sae-tag", HeaderValue::from_bytes(b"gr\xffay").unwrap()),
        (
            "baggage",
            HeaderValue::from_bytes(b"sae-tag=\xfe\xff").unwrap(),
        ),
        ("baggage", HeaderValue::from_static("sae-tag=gr ay")),
        ("baggage", HeaderValue::from_str(&many.join(",")).unwrap()),
    ];
    for (name, value) in inputs {
        let (status, path) = raw_get(a.addr, &[(name, value.clone())]).await;
        assert_eq!(status, StatusCode::OK, "{name}: {value:?}");
        assert_eq!(path, "a-base>b-base", "{name}: {value:?}");
    }
    assert_eq!(b_gray.hop.hits(), 0);
    assert!(a.hop.seen.lock().iter().all(|s| s.lane.is_none()));
    for node in [a, b_base, b_gray] {
        node.stop().await;
    }
}

/// A strict service with no instance in the lane fails with the documented
/// error, naming service and lane; base requests are unaffected.
#[tokio::test(start_paused = true)]
async fn strict_service_returns_no_instance_in_lane() {
    let _ticker = support::ClockTicker::start();
    let registry = MemoryRegistry::new();
    let c_base = start_node(&registry, Kind::Http, "c", "c-base", None, None).await;
    let strict: Client<Full<Bytes>> = Client::builder("c", registry.clone())
        .lane_fallback(LaneFallback::Strict)
        .wait_for_instance(Duration::from_millis(200))
        .build_http()
        .unwrap();
    support::until(&strict, |c| c.endpoints().len() == 1).await;

    let request = || {
        Request::get("http://c/chain")
            .body(Full::default())
            .unwrap()
    };
    let blue = Lane::new("blue").unwrap();
    // The lane comes from the task, as in a handler.
    let error = lane::scope(Some(blue), strict.clone().oneshot(request()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NoInstanceInLane { service, lane } if service == "c" && lane == "blue"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no available instance of service \"c\" in lane \"blue\" (service is strict: no fallback to base)"
    );
    assert_eq!(c_base.hop.hits(), 0);
    let response = strict.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(c_base.hop.hits(), 1);
    c_base.stop().await;
}
