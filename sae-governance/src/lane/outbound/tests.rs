use http::{HeaderMap, HeaderValue, Request};
use sae_core::{Lane, RequestContext};

use super::*;

fn gray() -> Lane {
    Lane::new("gray").unwrap()
}

#[test]
fn stamp_adds_header_and_baggage_when_there_is_none() {
    let mut headers = HeaderMap::new();
    stamp(&mut headers, &gray());
    assert_eq!(headers["x-sae-tag"], "gray");
    assert_eq!(headers["baggage"], "sae-tag=gray");
}

#[test]
fn stamp_keeps_other_members_across_headers_and_replaces_the_old_lane() {
    let mut headers = HeaderMap::new();
    headers.insert("x-sae-tag", HeaderValue::from_static("blue"));
    headers.append(
        "baggage",
        HeaderValue::from_static("user=alice;p=1, sae-tag=blue"),
    );
    headers.append("baggage", HeaderValue::from_static("team=pay,,"));
    stamp(&mut headers, &gray());
    assert_eq!(headers.get_all("x-sae-tag").iter().count(), 1);
    assert_eq!(headers["x-sae-tag"], "gray");
    assert_eq!(headers.get_all("baggage").iter().count(), 1);
    assert_eq!(headers["baggage"], "user=alice;p=1,team=pay,sae-tag=gray");
}

#[test]
fn remove_strips_only_the_lane() {
    let mut headers = HeaderMap::new();
    headers.insert("x-sae-tag", HeaderValue::from_static("blue"));
    headers.insert(
        "baggage",
        HeaderValue::from_static("sae-tag=blue,user=alice"),
    );
    remove(&mut headers);
    assert!(headers.get("x-sae-tag").is_none());
    assert_eq!(headers["baggage"], "user=alice");
    headers.insert("baggage", HeaderValue::from_static("sae-tag=blue"));
    remove(&mut headers);
    assert!(headers.get("baggage").is_none());
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
