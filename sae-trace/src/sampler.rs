//! The root sampling decision, taken by sae's layers before any span exists.
//!
//! The SDK's own sampler runs only when a span is built, after the attributes
//! were formatted. sae decides first, so an unsampled request never formats
//! an attribute: a trace with a parent follows the parent's sampled flag
//! (W3C), and a new trace asks this sampler. The SDK is then configured with
//! `parentbased_always_on`, so a trace is decided exactly once.

use std::env;

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

#[cfg(test)]
mod tests {
    use super::RootSampler;

    #[test]
    fn parses_every_spec_name_and_survives_garbage() {
        assert_eq!(RootSampler::parse(None, None), RootSampler::AlwaysOn);
        assert_eq!(
            RootSampler::parse(Some("always_on"), None),
            RootSampler::AlwaysOn
        );
        assert_eq!(
            RootSampler::parse(Some("parentbased_always_off"), None),
            RootSampler::AlwaysOff
        );
        assert_eq!(
            RootSampler::parse(Some("traceidratio"), Some("0.5")),
            RootSampler::Ratio(0.5)
        );
        assert_eq!(
            RootSampler::parse(Some("traceidratio"), Some("7")),
            RootSampler::Ratio(1.0)
        );
        assert_eq!(
            RootSampler::parse(Some("traceidratio"), Some("NaN")),
            RootSampler::Ratio(1.0)
        );
        assert_eq!(
            RootSampler::parse(Some("traceidratio"), Some("x")),
            RootSampler::Ratio(1.0)
        );
    }

    #[test]
    fn extremes_decide_the_same_way_every_time() {
        assert!((0..100).all(|_| RootSampler::Ratio(1.0).sample()));
        assert!((0..100).all(|_| !RootSampler::Ratio(0.0).sample()));
        assert!((0..100).all(|_| !RootSampler::AlwaysOff.sample()));
    }
}
