//! [`ProviderLayer`]: everything the provider does to each request.

use tower_layer::Layer;

use crate::lane::{LaneLayer, server::LaneService};
use crate::provider::in_flight::{InFlight, InFlightLayer, TrackInFlight};
use crate::provider::offline_notice::{OfflineNotice, OfflineNoticeLayer};

/// The provider's server layer, outermost first: in-flight tracking (for
/// the notice window and the drain), the offline notice (stamped once the
/// provider drains), and lanes (each request's lane decided once and the
/// handler scoped in it, with the provider's ingress rules and trust).
///
/// Get it from [`Provider::layer`](super::Provider::layer) and put it on
/// your axum `Router` or tonic `Server`; the serve calls apply it for you.
/// Put tracing inside it (sae's facade does), so the server span sees the
/// lane the lane layer decided.
#[derive(Clone, Debug)]
pub struct ProviderLayer {
    in_flight: InFlightLayer,
    notice: OfflineNoticeLayer,
    lane: LaneLayer,
}

impl ProviderLayer {
    pub(super) fn new(in_flight: &InFlight, notice: OfflineNoticeLayer, lane: LaneLayer) -> Self {
        ProviderLayer {
            in_flight: in_flight.layer(),
            notice,
            lane,
        }
    }
}

impl<S> Layer<S> for ProviderLayer {
    type Service = TrackInFlight<OfflineNotice<LaneService<S>>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.in_flight
            .layer(self.notice.layer(self.lane.layer(inner)))
    }
}
