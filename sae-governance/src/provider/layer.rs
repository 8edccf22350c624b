//! [`ProviderLayer`]: everything the provider does to each request.

use tower_layer::Layer;

use crate::lane::{LaneLayer, server::LaneService};
use crate::provider::in_flight::{InFlight, InFlightLayer, TrackInFlight};
use crate::provider::offline_notice::{OfflineNotice, OfflineNoticeLayer};
use crate::provider::protect::{Protect, ProtectLayer};

/// The provider's server layer, outermost first: in-flight tracking (for
/// the notice window and the drain), the offline notice (stamped once the
/// provider drains), lanes (each request's lane decided once and the
/// handler scoped in it, with the provider's ingress rules and trust, and
/// the caller validated), and traffic protection (rate limits, isolation,
/// the adaptive limit: [`protect`](crate::provider::protect)).
///
/// Get it from [`Provider::layer`](super::Provider::layer) and put it on
/// your axum `Router` (with `Router::layer`, so protection sees the matched
/// route) or tonic `Server`; the serve calls apply it for you. To put
/// tracing between the lanes and protection (sae's facade does, so the
/// server span sees the lane and the rejections), apply the two parts
/// yourself: [`ProviderLayer::outer`] outside the trace layer,
/// [`ProviderLayer::protect`] inside it.
#[derive(Clone, Debug)]
pub struct ProviderLayer {
    outer: ProviderOuterLayer,
    protect: ProtectLayer,
}

/// The part of the [`ProviderLayer`] outside tracing: in-flight tracking,
/// the offline notice and lanes, outermost first.
#[derive(Clone, Debug)]
pub struct ProviderOuterLayer {
    in_flight: InFlightLayer,
    notice: OfflineNoticeLayer,
    lane: LaneLayer,
}

impl ProviderLayer {
    pub(super) fn new(
        in_flight: &InFlight,
        notice: OfflineNoticeLayer,
        lane: LaneLayer,
        protect: ProtectLayer,
    ) -> Self {
        ProviderLayer {
            outer: ProviderOuterLayer {
                in_flight: in_flight.layer(),
                notice,
                lane,
            },
            protect,
        }
    }

    /// In-flight tracking, the offline notice and lanes: everything but
    /// protection, for the outside of a trace layer.
    pub fn outer(&self) -> ProviderOuterLayer {
        self.outer.clone()
    }

    /// Traffic protection alone, for the inside of a trace layer; clones
    /// share its limits.
    pub fn protect(&self) -> ProtectLayer {
        self.protect.clone()
    }
}

impl<S> Layer<S> for ProviderOuterLayer {
    type Service = TrackInFlight<OfflineNotice<LaneService<S>>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.in_flight
            .layer(self.notice.layer(self.lane.layer(inner)))
    }
}

impl<S> Layer<S> for ProviderLayer {
    type Service = TrackInFlight<OfflineNotice<LaneService<Protect<S>>>>;

    fn layer(&self, inner: S) -> Self::Service {
        self.outer.layer(self.protect.layer(inner))
    }
}
