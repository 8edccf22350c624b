//! [`SaeLayer`]: everything sae does on the provider side, in one layer.

use tower_layer::Layer;

use sae_governance::ProviderLayer;

#[cfg(feature = "trace")]
use sae_trace::TraceServerLayer;

/// The server layer [`Sae::layer`](super::Sae::layer) and
/// [`Sae::grpc_layer`](super::Sae::grpc_layer) hand out, outermost first:
/// the provider's [`ProviderLayer`] (in-flight tracking, the offline
/// notice, lanes with the ingress rules and trust), then, with the `trace`
/// feature, the server span and metrics. Tracing sits inside the lane
/// layer so the span carries the lane the lane layer decided.
#[derive(Clone, Debug)]
pub struct SaeLayer {
    provider: ProviderLayer,
    #[cfg(feature = "trace")]
    trace: TraceServerLayer,
}

impl SaeLayer {
    pub(super) fn new(
        provider: ProviderLayer,
        #[cfg(feature = "trace")] trace: TraceServerLayer,
    ) -> Self {
        SaeLayer {
            provider,
            #[cfg(feature = "trace")]
            trace,
        }
    }
}

#[cfg(feature = "trace")]
impl<S> Layer<S> for SaeLayer {
    type Service = <ProviderLayer as Layer<sae_trace::TraceServer<S>>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.provider.layer(self.trace.layer(inner))
    }
}

#[cfg(not(feature = "trace"))]
impl<S> Layer<S> for SaeLayer {
    type Service = <ProviderLayer as Layer<S>>::Service;

    fn layer(&self, inner: S) -> Self::Service {
        self.provider.layer(inner)
    }
}
