//! Lossless deploys over gRPC (HTTP/2), end to end: hand-written tonic unary
//! providers served by `Provider::serve_grpc`, the sae `Client` as the gRPC
//! channel, the embedded registry.

mod support;

use support::Kind;

/// As the HTTP test: two of three providers stop under load, no request
/// fails, the notice (in gRPC initial metadata) evicts each at once.
#[tokio::test(start_paused = true)]
async fn rolling_stop_under_load_loses_no_request() {
    support::lossless_stop_under_load(Kind::Grpc).await;
}

/// A provider killed under load over HTTP/2.
#[tokio::test(start_paused = true)]
async fn kill_under_load_fails_only_what_was_in_flight() {
    support::kill_under_load(Kind::Grpc).await;
}
