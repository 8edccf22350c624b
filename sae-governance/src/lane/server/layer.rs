//! [`LaneLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::LaneService;
use crate::lane::{IngressTrust, LaneRules};

/// Decides each request's lane and scopes the handler in it; see the
/// [module docs](super).
///
/// ```
/// use axum::{Router, routing::get};
/// use sae_governance::lane::{self, LaneLayer, LaneRules, RuleFormat};
///
/// # fn main() -> Result<(), sae_core::Error> {
/// let rules = LaneRules::parse(
///     "rules: [{ name: beta, lane: gray, headers: [{ name: x-beta, exact: 'yes' }] }]",
///     RuleFormat::Yaml,
/// )?;
/// let app: Router = Router::new()
///     .route("/", get(|| async { format!("lane {:?}", lane::current()) }))
///     .layer(LaneLayer::with_rules(rules));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LaneLayer {
    rules: Option<LaneRules>,
    trust: Arc<IngressTrust>,
}

impl LaneLayer {
    /// A layer reading the lane from the header and baggage only, believing
    /// every peer ([`IngressTrust::All`]).
    pub fn new() -> Self {
        LaneLayer::default()
    }

    /// A layer that also applies `rules` (hot-swappable through any clone of
    /// the handle) to requests that name no lane.
    pub fn with_rules(rules: LaneRules) -> Self {
        LaneLayer {
            rules: Some(rules),
            ..LaneLayer::default()
        }
    }

    /// Whose lane and caller headers to believe (default
    /// [`IngressTrust::All`]); at an edge, [`IngressTrust::None`] or the
    /// networks of your gateways. Headers from a peer not believed are
    /// removed before the rules run.
    pub fn trust(mut self, trust: IngressTrust) -> Self {
        self.trust = Arc::new(trust);
        self
    }

    /// The rules this layer applies, if any.
    pub fn rules(&self) -> Option<&LaneRules> {
        self.rules.as_ref()
    }

    /// Whose lane and caller headers this layer believes.
    pub fn ingress_trust(&self) -> &IngressTrust {
        &self.trust
    }
}

impl<S> Layer<S> for LaneLayer {
    type Service = LaneService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LaneService::new(inner, self.rules.clone(), Arc::clone(&self.trust))
    }
}
