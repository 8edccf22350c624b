use http::{HeaderValue, Request};
use sae_core::{Lane, RequestContext, lane as scope};

use super::*;

fn gray() -> Lane {
    Lane::new("gray").unwrap()
}

#[tokio::test]
async fn prepare_reads_the_task_lane_and_an_explicit_context_wins() {
    let mut request = Request::new(());
    assert_eq!(prepare(&mut request), None);
    assert!(request.headers().is_empty(), "no lane leaves headers alone");

    let mut request = Request::new(());
    let lane = scope::scope(Some(gray()), async { prepare(&mut request) }).await;
    assert_eq!(lane, Some(gray()));
    assert_eq!(request.headers()["x-sae-tag"], "gray");

    // An explicit base context opts this call out of the task's lane.
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert("x-sae-tag", HeaderValue::from_static("gray"));
    RequestContext::default().insert_into(request.extensions_mut());
    let lane = scope::scope(Some(gray()), async { prepare(&mut request) }).await;
    assert_eq!(lane, None);
    assert!(request.headers().get("x-sae-tag").is_none());

    let mut request = Request::new(());
    RequestContext {
        lane: Some(Lane::new("blue").unwrap()),
        caller: None,
    }
    .insert_into(request.extensions_mut());
    let lane = scope::scope(Some(gray()), async { prepare(&mut request) }).await;
    assert_eq!(lane.unwrap().as_str(), "blue");
    assert_eq!(request.headers()["baggage"], "sae-tag=blue");
}
