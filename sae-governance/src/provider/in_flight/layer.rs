//! [`InFlightLayer`].

use tower_layer::Layer;

use super::{InFlight, TrackInFlight};

/// Counts requests into an [`InFlight`] tracker. See the [module docs](super).
#[derive(Clone, Debug)]
pub struct InFlightLayer {
    tracker: InFlight,
}

impl InFlightLayer {
    /// A layer counting into `tracker`.
    pub fn new(tracker: InFlight) -> Self {
        InFlightLayer { tracker }
    }

    /// The tracker this layer counts into.
    pub fn tracker(&self) -> &InFlight {
        &self.tracker
    }
}

impl<S> Layer<S> for InFlightLayer {
    type Service = TrackInFlight<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackInFlight::new(inner, self.tracker.clone())
    }
}
