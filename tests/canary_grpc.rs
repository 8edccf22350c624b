//! Canary lanes over gRPC (HTTP/2), end to end: hand-written tonic services
//! behind `LaneLayer`, the sae client as the channel, the lane in metadata.

#[path = "support/canary.rs"]
mod canary;
mod support;

use support::Kind;

/// The chain of the HTTP test over gRPC: every hop reads the lane from
/// metadata (`x-sae-tag` and `baggage`), no untagged call reaches gray.
#[tokio::test(start_paused = true)]
async fn gray_calls_follow_the_lane_through_the_chain() {
    canary::lane_chain(Kind::Grpc).await;
}
