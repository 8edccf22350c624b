//! [`StartInRequest`]: the `tracing` layer that lets [`FollowRequestSampler`]
//! see the request a span was opened in.
//!
//! tracing-opentelemetry builds an OpenTelemetry span lazily: when the
//! `tracing` span is first entered, closed, or asked for its context. A span
//! a handler creates during an unsampled request but enters only later
//! elsewhere (`tokio::spawn(work.instrument(span))`) would be sampled there,
//! outside the request, as a new root. This layer starts such spans at once,
//! while the carrier still says which request they belong to, so the sampler
//! drops them. Spans created outside unsampled requests are left alone.
//!
//! [`FollowRequestSampler`]: crate::FollowRequestSampler

use std::sync::OnceLock;

use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};

use crate::carrier;

/// Add it after (outside) the OpenTelemetry layer: it needs that layer's
/// span data to exist when it sees a new span.
#[derive(Debug, Default)]
pub(crate) struct StartInRequest {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S: Subscriber> Layer<S> for StartInRequest {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, _attrs: &span::Attributes<'_>, id: &span::Id, _ctx: Context<'_, S>) {
        if carrier::current().is_none() {
            return;
        }
        if let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) {
            // Starting it is the point; the context itself is not needed.
            let _ = tracing_opentelemetry::get_otel_context(id, &dispatch);
        }
    }
}
