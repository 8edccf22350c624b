//! [`LaneLayer`].

use tower_layer::Layer;

use super::LaneService;
use crate::lane::LaneRules;

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
}

impl LaneLayer {
    /// A layer reading the lane from the header and baggage only.
    pub fn new() -> Self {
        LaneLayer { rules: None }
    }

    /// A layer that also applies `rules` (hot-swappable through any clone of
    /// the handle) to requests that name no lane.
    pub fn with_rules(rules: LaneRules) -> Self {
        LaneLayer { rules: Some(rules) }
    }

    /// The rules this layer applies, if any.
    pub fn rules(&self) -> Option<&LaneRules> {
        self.rules.as_ref()
    }
}

impl<S> Layer<S> for LaneLayer {
    type Service = LaneService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LaneService::new(inner, self.rules.clone())
    }
}
