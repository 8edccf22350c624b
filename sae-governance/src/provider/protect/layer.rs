//! [`ProtectLayer`].

use std::sync::Arc;

use sae_core::ServiceName;
use tower_layer::Layer;

use super::{Protect, Shared};
use crate::protection::ProtectionRules;

/// Applies the provider side of the protection rules to every request:
/// rate limits, fixed concurrency limits with their queues, and the
/// adaptive limit. See the [module docs](super).
///
/// Clones share everything: the buckets, the slots, the adaptive limit.
/// An axum `Router::layer` makes one service per route from one layer, and
/// they all count into the same limits.
#[derive(Clone, Debug)]
pub struct ProtectLayer {
    shared: Arc<Shared>,
}

impl ProtectLayer {
    /// A layer applying `rules` (hot-swappable through any clone of the
    /// handle) to the requests of `service`, which its rejection events name.
    pub fn new(rules: ProtectionRules, service: ServiceName) -> Self {
        ProtectLayer {
            shared: Arc::new(Shared::new(rules, service)),
        }
    }

    /// The rules this layer applies.
    pub fn rules(&self) -> &ProtectionRules {
        &self.shared.rules
    }

    /// The service whose requests it protects.
    pub fn service(&self) -> &ServiceName {
        &self.shared.service
    }

    /// The adaptive concurrency limit now; `None` when the rules turn it off.
    pub fn adaptive_limit(&self) -> Option<u32> {
        self.shared
            .compiled()
            .adaptive
            .as_ref()
            .map(|adaptive| adaptive.limit())
    }
}

impl<S> Layer<S> for ProtectLayer {
    type Service = Protect<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Protect::new(inner, self.shared.clone())
    }
}
