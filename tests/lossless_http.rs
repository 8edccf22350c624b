//! Lossless deploys over HTTP/1.1, end to end: axum providers served by
//! `Provider`, the sae `Client` with watch discovery, the embedded registry.

mod support;

use support::Kind;

/// Two of three providers stop under load (one through its
/// `ShutdownHandle`, one through the admin preStop endpoint): no request
/// fails, each is deregistered while it still answers, and no request
/// picked after its notice was seen reaches it.
#[tokio::test(start_paused = true)]
async fn rolling_stop_under_load_loses_no_request() {
    support::lossless_stop_under_load(Kind::Http).await;
}

/// A provider killed under load: failures are bounded by what was in flight
/// to it, every later request succeeds, and its lease expires.
#[tokio::test(start_paused = true)]
async fn kill_under_load_fails_only_what_was_in_flight() {
    support::kill_under_load(Kind::Http).await;
}
