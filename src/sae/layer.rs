//! [`SaeLayer`]: everything sae does on the provider side, in one layer.

use tower_layer::Layer;

use sae_governance::provider::protect::Protect;
use sae_governance::provider::{ProtectLayer, ProviderLayer, ProviderOuterLayer};

#[cfg(feature = "trace")]
use sae_trace::{TraceServer, TraceServerLayer};

/// The server layer [`Sae::layer`](super::Sae::layer) and
/// [`Sae::grpc_layer`](super::Sae::grpc_layer) hand out, outermost first:
/// in-flight tracking, the offline notice and lanes (with the ingress rules
/// and trust), then, with the `trace` feature, the server span and metrics,
/// then traffic protection (rate limits, isolation, the adaptive limit).
/// Tracing sits inside the lane layer, so the span carries the lane it
/// decided, and outside protection, so a rejection shows on the span.
#[derive(Clone, Debug)]
pub struct SaeLayer {
    outer: ProviderOuterLayer,
    #[cfg(feature = "trace")]
    trace: TraceServerLayer,
    protect: ProtectLayer,
}

impl SaeLayer {
    pub(super) fn new(
        provider: &ProviderLayer,
        #[cfg(feature = "trace")] trace: TraceServerLayer,
    ) -> Self {
        SaeLayer {
            outer: provider.outer(),
            #[cfg(feature = "trace")]
            trace,
            protect: provider.protect(),
        }
    }
}

#[cfg(feature = "trace")]
impl<S> Layer<S> for SaeLayer {
    type Service = <ProviderOuterLayer as Layer<TraceServer<Protect<S>>>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.outer
            .layer(self.trace.layer(self.protect.layer(inner)))
    }
}

#[cfg(not(feature = "trace"))]
impl<S> Layer<S> for SaeLayer {
    type Service = <ProviderOuterLayer as Layer<Protect<S>>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.outer.layer(self.protect.layer(inner))
    }
}
