use std::convert::Infallible;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

use super::InFlight;

fn blocked_service(
    tracker: &InFlight,
) -> impl Service<oneshot::Receiver<()>, Response = (), Error = Infallible, Future: Send> + Clone + use<>
{
    tracker
        .layer()
        .layer(service_fn(|released: oneshot::Receiver<()>| async move {
            let _ = released.await;
            Ok::<_, Infallible>(())
        }))
}

#[tokio::test(start_paused = true)]
async fn counts_until_the_response_is_ready() {
    let tracker = InFlight::new();
    assert_eq!(tracker.count(), 0);
    assert!(tracker.last_arrival().is_none());

    let (release, released) = oneshot::channel();
    let call = blocked_service(&tracker).oneshot(released);
    tokio::pin!(call);
    // Poll once so the request is made.
    assert!(call.as_mut().now_or_never().is_none());
    assert_eq!(tracker.count(), 1);
    assert!(tracker.last_arrival().is_some());

    release.send(()).unwrap();
    call.await.unwrap();
    assert_eq!(tracker.count(), 0);
    tracker.idle().await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_request_is_no_longer_in_flight() {
    let tracker = InFlight::new();
    let (_release, released) = oneshot::channel();
    let mut call = Box::pin(blocked_service(&tracker).oneshot(released));
    assert!(call.as_mut().now_or_never().is_none());
    assert_eq!(tracker.count(), 1);
    drop(call);
    assert_eq!(tracker.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_waits_for_the_last_request() {
    let tracker = InFlight::new();
    let (release, released) = oneshot::channel();
    let pending = tokio::spawn(blocked_service(&tracker).oneshot(released));
    while tracker.count() == 0 {
        tokio::task::yield_now().await;
    }
    let idle = tracker.idle();
    tokio::pin!(idle);
    assert!(idle.as_mut().now_or_never().is_none());
    release.send(()).unwrap();
    idle.await;
    pending.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn quiet_window_ends_after_arrivals_stop() {
    let tracker = InFlight::new();
    let quiet = Duration::from_secs(1);
    let started = Instant::now();
    tracker.wait_quiet(quiet, Duration::from_secs(10)).await;
    // Without arrivals the window still lasts the quiet period.
    assert!(started.elapsed() >= quiet);
}

#[tokio::test(start_paused = true)]
async fn quiet_window_is_bounded_while_arrivals_continue() {
    let tracker = InFlight::new();
    let steady = {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            loop {
                let (release, released) = oneshot::channel();
                let _ = release.send(());
                let _ = blocked_service(&tracker).oneshot(released).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let max = Duration::from_secs(10);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(3600),
        tracker.wait_quiet(Duration::from_secs(1), max),
    )
    .await;
    assert!(outcome.is_ok(), "the window must end at its maximum");
    // Arrivals never paused for a second, so only the maximum ended it.
    assert!(started.elapsed() >= max);
    steady.abort();
}
