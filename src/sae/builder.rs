//! [`SaeBuilder`]: the service's name, registry, lanes and tracing, given once.

use std::sync::Arc;

use parking_lot::Mutex;
use sae_core::{Error, InstanceBuilder, IntoRegistry, Registry, ServiceName};
use sae_governance::protection::ProtectionRules;
use sae_governance::provider::ProviderBuilder;
use sae_governance::{IngressTrust, LaneRules, Provider};

use super::{Sae, SaeLayer, Shared, Stopped};

/// The registry a [`Sae`] uses when none is given and `SAE_REGISTRY` is not
/// set: the process-wide embedded registry named `default`, so services in
/// one process find each other with no configuration.
pub const DEFAULT_REGISTRY_URL: &str = "memory://default";

/// The environment variable naming the registry URL when the builder was
/// given none (`etcd://10.0.0.1:2379,10.0.0.2:2379`, `memory://NAME`).
pub const REGISTRY_ENV: &str = "SAE_REGISTRY";

type Configure<T> = Box<dyn FnOnce(T) -> T + Send>;

/// Configures a [`Sae`]; start with [`Sae::builder`].
#[must_use = "call .build() to get a Sae"]
pub struct SaeBuilder {
    service: String,
    registry: Option<RegistryChoice>,
    instance: InstanceBuilder,
    provider: Configure<ProviderBuilder>,
    lane_rules: Option<LaneRules>,
    trust: IngressTrust,
    protection: ProtectionRules,
    #[cfg(feature = "trace")]
    trace: Trace,
}

enum RegistryChoice {
    Url(String),
    Given(Arc<dyn Registry>),
}

/// Where a [`Sae`]'s telemetry comes from.
#[cfg(feature = "trace")]
enum Trace {
    /// The global meter provider, the sampler of `OTEL_TRACES_SAMPLER`.
    Global,
    /// `sae_trace::init` with this configuration (the service name added).
    Init(sae_trace::Config),
    /// Shared with other services of the process.
    Shared(sae_trace::Telemetry),
}

impl SaeBuilder {
    pub(super) fn new(service: impl Into<String>) -> Self {
        let service: String = service.into();
        SaeBuilder {
            instance: sae_core::Instance::builder(service.as_str()),
            service,
            registry: None,
            provider: Box::new(|provider| provider),
            lane_rules: None,
            trust: IngressTrust::All,
            protection: ProtectionRules::default(),
            #[cfg(feature = "trace")]
            trace: Trace::Global,
        }
    }

    /// The registry, by URL (`memory://NAME`, `etcd://h1:2379,h2:2379`;
    /// see `sae::registry::from_url`). Default: `SAE_REGISTRY`, else
    /// [`DEFAULT_REGISTRY_URL`].
    pub fn registry_url(mut self, url: impl Into<String>) -> Self {
        self.registry = Some(RegistryChoice::Url(url.into()));
        self
    }

    /// The registry itself: a backend by value, in an `Arc`, or what
    /// `from_url` returns.
    pub fn registry(mut self, registry: impl IntoRegistry) -> Self {
        self.registry = Some(RegistryChoice::Given(registry.into_registry()));
        self
    }

    /// Describes this instance beyond its service name: a lane, an id, a
    /// weight, a warm-up, metadata, the address consumers connect to (by
    /// default the listener's):
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let builder = sae::Sae::builder("orders");
    /// let builder = builder.instance(|instance| instance.lane("gray").warmup(Duration::from_secs(30)));
    /// # let _ = builder;
    /// ```
    pub fn instance(mut self, configure: impl FnOnce(InstanceBuilder) -> InstanceBuilder) -> Self {
        self.instance = configure(self.instance);
        self
    }

    /// The provider's options: admin listener, readiness check, notice
    /// window, drain bound, signals ([`ProviderBuilder`]). Calls add up:
    /// each `configure` runs after the earlier ones (and after
    /// [`SaeBuilder::lane_rules_file`] and the like, in call order).
    ///
    /// ```
    /// # let builder = sae::Sae::builder("orders");
    /// let builder = builder.provider(|provider| provider.admin_port(9901));
    /// # let _ = builder;
    /// ```
    pub fn provider(
        self,
        configure: impl FnOnce(ProviderBuilder) -> ProviderBuilder + Send + 'static,
    ) -> Self {
        self.provider_option(configure)
    }

    /// Ingress lane rules for requests that arrive without a lane
    /// (hot-swappable through any clone of `rules`); see
    /// `sae::governance::lane::rules`.
    pub fn lane_rules(mut self, rules: LaneRules) -> Self {
        self.lane_rules = Some(rules);
        self
    }

    /// Runs the lane rules of a local file, which wins over the registry's
    /// `lanes` documents; see `sae::governance::rules`.
    pub fn lane_rules_file(self, path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        self.provider_option(move |provider| provider.lane_rules_file(path))
    }

    /// Runs the protection rules of a local file, which wins over the
    /// registry's `protection` documents.
    pub fn protection_file(self, path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        self.provider_option(move |provider| provider.protection_file(path))
    }

    /// Whether to follow this service's rule documents in the registry
    /// (default `true`): `sae rules apply orders lanes rollout.yaml`
    /// reaches every instance within a second.
    pub fn rules_from_registry(self, enabled: bool) -> Self {
        self.provider_option(move |provider| provider.rules_from_registry(enabled))
    }

    fn provider_option(
        mut self,
        option: impl FnOnce(ProviderBuilder) -> ProviderBuilder + Send + 'static,
    ) -> Self {
        let earlier = std::mem::replace(&mut self.provider, Box::new(|provider| provider));
        self.provider = Box::new(move |provider| option(earlier(provider)));
        self
    }

    /// Whose lane and caller headers to believe: [`IngressTrust::All`] (the
    /// default) between services, [`IngressTrust::None`] or your gateways'
    /// networks at the edge of a system. See docs/canary-lanes.md.
    pub fn ingress_trust(mut self, trust: IngressTrust) -> Self {
        self.trust = trust;
        self
    }

    /// The traffic protection rules of this service (default: the built-in
    /// ones, on for every call and request): its clients' timeouts,
    /// retries, outlier detection and breakers, and its provider's limits.
    /// Hot-swappable through any clone of `rules`; see
    /// docs/traffic-protection.md.
    pub fn protection(mut self, rules: ProtectionRules) -> Self {
        self.protection = rules;
        self
    }

    /// Sets up OpenTelemetry export for this process with `config`
    /// (`sae_trace::init`; the service name is this service's), flushed
    /// when the provider stops. Without it the trace layers record on the
    /// global providers, so a process that exports in its own way still
    /// gets spans, metrics and propagation.
    #[cfg(feature = "trace")]
    pub fn trace(mut self, config: sae_trace::Config) -> Self {
        self.trace = Trace::Init(config);
        self
    }

    /// Records on `telemetry` (from a `TraceGuard` shared by several
    /// services of one process) instead.
    #[cfg(feature = "trace")]
    pub fn telemetry(mut self, telemetry: sae_trace::Telemetry) -> Self {
        self.trace = Trace::Shared(telemetry);
        self
    }

    /// Validates everything and builds the [`Sae`].
    ///
    /// # Errors
    ///
    /// An invalid service name or instance, a malformed registry URL, a
    /// provider option the provider refuses ([`ProviderBuilder::build`]),
    /// or (with [`SaeBuilder::trace`]) an OpenTelemetry set-up that failed
    /// ([`Error::Config`]).
    pub fn build(self) -> Result<Sae, Error> {
        let service = ServiceName::new(&self.service)?;
        let registry = match self.registry {
            Some(RegistryChoice::Given(registry)) => registry,
            Some(RegistryChoice::Url(url)) => sae_registry::from_url(&url)?,
            None => match std::env::var(REGISTRY_ENV) {
                Ok(url) if !url.trim().is_empty() => sae_registry::from_url(url.trim())?,
                _ => sae_registry::from_url(DEFAULT_REGISTRY_URL)?,
            },
        };
        let mut provider = Provider::builder(self.instance, Arc::clone(&registry))
            .ingress_trust(self.trust)
            .protection(self.protection.clone());
        if let Some(rules) = self.lane_rules {
            provider = provider.lane_rules(rules);
        }
        let provider = (self.provider)(provider).build()?;
        #[cfg(feature = "trace")]
        let (telemetry, guard) = match self.trace {
            Trace::Global => (sae_trace::Telemetry::new(service.as_str()), None),
            Trace::Shared(telemetry) => (telemetry, None),
            Trace::Init(config) => {
                let guard =
                    sae_trace::init(config.service_name(service.as_str())).map_err(|error| {
                        Error::Config {
                            at: "trace".into(),
                            message: error.to_string(),
                        }
                    })?;
                (guard.telemetry(service.as_str()), Some(guard))
            }
        };
        let layer = SaeLayer::new(
            &provider.layer(),
            #[cfg(feature = "trace")]
            telemetry.http_server_layer(),
        );
        let grpc_layer = SaeLayer::new(
            &provider.layer(),
            #[cfg(feature = "trace")]
            telemetry.grpc_server_layer(),
        );
        Ok(Sae {
            shared: Arc::new(Shared {
                service,
                id: provider.id().clone(),
                registry,
                lifecycle: provider.lifecycle(),
                shutdown: provider.shutdown_handle(),
                layer,
                grpc_layer,
                protection: self.protection,
                rule_status: provider.rule_status(),
                provider: Mutex::new(Some(provider)),
                stopped: Mutex::new(Stopped::NotStarted),
                #[cfg(feature = "trace")]
                telemetry,
                #[cfg(feature = "trace")]
                guard,
            }),
        })
    }
}

impl std::fmt::Debug for SaeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaeBuilder")
            .field("service", &self.service)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}
