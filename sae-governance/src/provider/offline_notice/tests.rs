use std::convert::Infallible;

use http::{Request, Response, Version};
use sae_core::{InstanceId, Lifecycle, Phase};
use tokio::sync::oneshot;
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::OfflineNoticeLayer;

fn layer(lifecycle: &Lifecycle) -> OfflineNoticeLayer {
    OfflineNoticeLayer::new(lifecycle.clone(), &InstanceId::new("orders-1").unwrap())
}

async fn respond(layer: &OfflineNoticeLayer, version: Version) -> Response<()> {
    let service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(()))
    }));
    let request = Request::builder().version(version).body(()).unwrap();
    service.oneshot(request).await.unwrap()
}

#[tokio::test]
async fn no_notice_while_serving() {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Serving).unwrap();
    let response = respond(&layer(&lifecycle), Version::HTTP_11).await;
    assert!(response.headers().get("x-sae-offline").is_none());
    assert!(response.headers().get("connection").is_none());
}

#[tokio::test]
async fn http1_responses_get_notice_and_close_while_draining() {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Draining).unwrap();
    for version in [Version::HTTP_10, Version::HTTP_11] {
        let response = respond(&layer(&lifecycle), version).await;
        assert_eq!(response.headers()["x-sae-offline"], "orders-1");
        assert_eq!(response.headers()["connection"], "close");
    }
}

#[tokio::test]
async fn http2_responses_get_notice_without_connection_header() {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Draining).unwrap();
    let response = respond(&layer(&lifecycle), Version::HTTP_2).await;
    assert_eq!(response.headers()["x-sae-offline"], "orders-1");
    assert!(response.headers().get("connection").is_none());
}

#[tokio::test]
async fn disabled_layer_never_stamps() {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Draining).unwrap();
    let layer = layer(&lifecycle).enabled(false);
    assert!(!layer.is_enabled());
    let response = respond(&layer, Version::HTTP_11).await;
    assert!(response.headers().get("x-sae-offline").is_none());
    assert!(response.headers().get("connection").is_none());
}

#[tokio::test]
async fn request_started_before_drain_is_stamped_when_it_completes() {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Serving).unwrap();
    let (release, released) = oneshot::channel::<()>();
    let mut released = Some(released);
    let service = layer(&lifecycle).layer(service_fn(move |_: Request<()>| {
        let released = released.take();
        async move {
            if let Some(released) = released {
                let _ = released.await;
            }
            Ok::<_, Infallible>(Response::new(()))
        }
    }));
    let pending = tokio::spawn(service.oneshot(Request::new(())));
    tokio::task::yield_now().await;
    lifecycle.advance(Phase::Draining).unwrap();
    release.send(()).unwrap();
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.headers()["x-sae-offline"], "orders-1");
}
