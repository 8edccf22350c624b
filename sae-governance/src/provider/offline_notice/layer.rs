//! [`OfflineNoticeLayer`].

use std::sync::Arc;

use http::HeaderValue;
use sae_core::{InstanceId, Lifecycle};
use tower_layer::Layer;

use super::{Notice, OfflineNotice};

/// Stamps the offline notice on every response once `lifecycle` is draining.
/// See the [module docs](super).
#[derive(Clone, Debug)]
pub struct OfflineNoticeLayer {
    notice: Option<Arc<Notice>>,
}

impl OfflineNoticeLayer {
    /// A layer announcing instance `id` while `lifecycle` is draining.
    pub fn new(lifecycle: Lifecycle, id: &InstanceId) -> Self {
        // Instance ids are printable ASCII by construction, so this never
        // falls back; the fallback only keeps bad input from panicking.
        let value = HeaderValue::from_str(id.as_str())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-instance-id"));
        OfflineNoticeLayer {
            notice: Some(Arc::new(Notice { lifecycle, value })),
        }
    }

    /// Turns stamping on (the default) or off. Off, the layer forwards
    /// responses untouched: the behaviour of frameworks without the notice
    /// (the demo's `baseline` scenario).
    pub(crate) fn enabled(self, enabled: bool) -> Self {
        if enabled {
            self
        } else {
            OfflineNoticeLayer { notice: None }
        }
    }

    /// Whether this layer stamps responses.
    #[cfg(test)]
    pub(crate) fn is_enabled(&self) -> bool {
        self.notice.is_some()
    }
}

impl<S> Layer<S> for OfflineNoticeLayer {
    type Service = OfflineNotice<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OfflineNotice::new(inner, self.notice.clone())
    }
}
