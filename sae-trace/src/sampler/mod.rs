//! The root sampling decision, taken by sae's layers before any span exists,
//! and the SDK sampler that agrees with it.
//!
//! The SDK's own sampler runs only when a span is built, after the attributes
//! were formatted. sae decides first, so an unsampled request never formats
//! an attribute: a trace with a parent follows the parent's sampled flag
//! (W3C), and a new trace asks [`RootSampler`]. The SDK is then configured
//! with [`FollowRequestSampler`], so a trace is decided exactly once.

use std::env;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::carrier;

mod in_request;

pub(crate) use in_request::StartInRequest;

/// How a request without a (valid) incoming trace parent is sampled.
///
/// Read from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` by
/// [`RootSampler::from_env`]; every sampler is parent based (a sampled parent
/// is always followed, an unsampled one never), which is what the
/// `parentbased_*` values mean and what a service in a call chain wants.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum RootSampler {
    /// Every new trace is sampled (the default).
    #[default]
    AlwaysOn,
    /// No new trace is sampled.
    AlwaysOff,
    /// A new trace is sampled with this probability (0.0 to 1.0).
    Ratio(f64),
}

impl RootSampler {
    /// The sampler named by `OTEL_TRACES_SAMPLER` (and `OTEL_TRACES_SAMPLER_ARG`);
    /// unknown or malformed values fall back to [`RootSampler::AlwaysOn`], the
    /// specification's default.
    pub fn from_env() -> Self {
        Self::parse(
            env::var("OTEL_TRACES_SAMPLER").ok().as_deref(),
            env::var("OTEL_TRACES_SAMPLER_ARG").ok().as_deref(),
        )
    }

    /// Parses the values of `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    ///
    /// ```
    /// use sae_trace::RootSampler;
    ///
    /// assert_eq!(RootSampler::parse(Some("parentbased_traceidratio"), Some("0.25")), RootSampler::Ratio(0.25));
    /// assert_eq!(RootSampler::parse(Some("always_off"), None), RootSampler::AlwaysOff);
    /// assert_eq!(RootSampler::parse(Some("nonsense"), None), RootSampler::AlwaysOn);
    /// ```
    pub fn parse(name: Option<&str>, arg: Option<&str>) -> Self {
        let name = name.map(str::trim).unwrap_or_default();
        let name = name.strip_prefix("parentbased_").unwrap_or(name);
        match name {
            "always_off" => RootSampler::AlwaysOff,
            "traceidratio" => {
                // The spec's default ratio is 1.0; NaN and out-of-range values are clamped.
                let ratio = arg
                    .and_then(|arg| arg.trim().parse::<f64>().ok())
                    .filter(|ratio| !ratio.is_nan())
                    .unwrap_or(1.0)
                    .clamp(0.0, 1.0);
                RootSampler::Ratio(ratio)
            }
            _ => RootSampler::AlwaysOn,
        }
    }

    /// Decides one new trace: no allocation, one random number at most.
    pub fn sample(&self) -> bool {
        match *self {
            RootSampler::AlwaysOn => true,
            RootSampler::AlwaysOff => false,
            RootSampler::Ratio(ratio) => fastrand::f64() < ratio,
        }
    }
}

/// The SDK sampler for services traced by sae: follows a valid parent (like
/// `ParentBased`), and drops a *root* span opened while this thread serves an
/// unsampled sae request; other roots go to the wrapped sampler.
///
/// sae's layers decide a request's sampling before any span exists, and an
/// unsampled request carries its trace without an OpenTelemetry `Context` (see
/// the server layer's docs). A span a handler opens during such a request, with
/// `tracing` (tracing-opentelemetry) or the OpenTelemetry API, therefore has no
/// parent in OpenTelemetry's eyes; this sampler drops it instead of starting a
/// sampled orphan trace. Outside unsampled requests, roots are decided by the
/// wrapped sampler: [`Sampler::AlwaysOn`] in [`crate::init()`], because sae's
/// server and client layers have already applied the [`RootSampler`].
///
/// [`crate::init()`] installs it. When you build your own tracer provider,
/// wrap your sampler in it:
///
/// ```
/// use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
/// use sae_trace::FollowRequestSampler;
///
/// let provider = SdkTracerProvider::builder()
///     .with_sampler(FollowRequestSampler::new(Sampler::AlwaysOn))
///     .build();
/// # let _ = provider;
/// ```
///
/// A span counts as opened during the request when the SDK starts it: an
/// OpenTelemetry span started while the handler runs, or a `tracing` span
/// entered there. The `tracing` layer of [`crate::init()`] and
/// [`crate::TraceGuard::layer`] also starts a `tracing` span created there
/// but entered only later elsewhere (`tokio::spawn(work.instrument(span))`),
/// so it is decided inside the request too; with a `tracing` subscriber of
/// your own without that layer, such a span is decided where it is entered.
#[derive(Clone, Debug)]
pub struct FollowRequestSampler<S = Sampler> {
    root: S,
}

impl<S: ShouldSample + Clone + 'static> FollowRequestSampler<S> {
    /// Follows parents and unsampled sae requests; asks `root` for other roots.
    pub fn new(root: S) -> Self {
        FollowRequestSampler { root }
    }
}

impl<S: ShouldSample + Clone + 'static> ShouldSample for FollowRequestSampler<S> {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if let Some(cx) = parent_context {
            let span = cx.span();
            let parent = span.span_context();
            if parent.is_valid() {
                return SamplingResult {
                    decision: if parent.is_sampled() {
                        SamplingDecision::RecordAndSample
                    } else {
                        SamplingDecision::Drop
                    },
                    attributes: Vec::new(),
                    trace_state: parent.trace_state().clone(),
                };
            }
        }
        if carrier::current().is_some() {
            return SamplingResult {
                decision: SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        self.root
            .should_sample(parent_context, trace_id, name, span_kind, attributes, links)
    }
}

#[cfg(test)]
mod tests;
