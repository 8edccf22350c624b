//! [`ProviderBuilder`]: every knob of the provider side, with defaults.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sae_core::rules::RuleKind;
use sae_core::{Error, InstanceBuilder, IntoRegistry, Lifecycle, Registry};
use tokio::net::TcpListener;

use super::connections::Limits;
use super::sequence::Timings;
use super::{AdminBind, Provider};
use crate::lane::{IngressTrust, LaneLayer, LaneRules};
use crate::protection::ProtectionRules;
use crate::provider::admin::{Admin, AdminToken};
use crate::provider::in_flight::InFlight;
use crate::provider::layer::ProviderLayer;
use crate::provider::offline_notice::OfflineNoticeLayer;
use crate::provider::protect::ProtectLayer;
use crate::provider::registrar::{DEFAULT_DEREGISTER_TIMEOUT, ReadinessCheck, Registrar};
use crate::provider::shutdown::ShutdownHandle;
use crate::rules::RuleFollower;

/// Default quiet period of the notice window: a consumer at even 10 requests
/// per second sends one within 100 ms and is evicted by its answer, so a
/// second without arrivals means the consumers have gone.
pub const DEFAULT_NOTICE_QUIET_PERIOD: Duration = Duration::from_secs(1);

/// Default bound of the notice window. Consumers without sae (which ignore
/// the notice) would keep the window open forever; 10 s covers registry
/// propagation on a busy cluster, and 5 s deregister + 10 s window + 10 s
/// drain stays inside Kubernetes' default 30 s grace period.
pub const DEFAULT_NOTICE_MAX: Duration = Duration::from_secs(10);

/// Default bound on the drain (graceful shutdown until every connection
/// ended); see [`DEFAULT_NOTICE_MAX`] for how it fits the grace period.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on how long a connection may take to send a complete
/// request head, on the service and the admin listener alike: generous for
/// any real client on a slow network, short enough that a client sending
/// half a head cannot hold a connection for long.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on the service listener's connections: far above what a
/// service's consumers keep open (a small pool per consumer process). Keep
/// it below the process's file-descriptor limit, so the cap, not a failing
/// `accept`, is what turns connections away.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default cap on the admin listener's connections: kubelet's probes and
/// preStop hook, and an operator or two.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 64;

/// Where [`ProviderBuilder::build`] validates an instance whose address the
/// listener completes later; never registered.
const PLACEHOLDER_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 1);

/// Builds a [`Provider`]; start with [`Provider::builder`].
#[derive(Debug)]
#[must_use = "call .build() to get a Provider"]
pub struct ProviderBuilder {
    instance: InstanceBuilder,
    registry: Arc<dyn Registry>,
    lane_rules: Option<LaneRules>,
    /// Local rule files, which win over the registry's documents of their kind.
    lane_rules_file: Option<std::path::PathBuf>,
    protection_file: Option<std::path::PathBuf>,
    rules_from_registry: bool,
    trust: IngressTrust,
    lifecycle: Lifecycle,
    shutdown: ShutdownHandle,
    readiness: Option<ReadinessCheck>,
    admin: Option<AdminBind>,
    admin_token: Option<String>,
    timings: Timings,
    deregister_timeout: Duration,
    handle_signals: bool,
    offline_notice: bool,
    protection: ProtectionRules,
    limits: Limits,
    admin_limits: Limits,
}

impl ProviderBuilder {
    pub(super) fn new(instance: InstanceBuilder, registry: impl IntoRegistry) -> Self {
        ProviderBuilder {
            instance,
            registry: registry.into_registry(),
            lane_rules: None,
            lane_rules_file: None,
            protection_file: None,
            rules_from_registry: true,
            trust: IngressTrust::All,
            lifecycle: Lifecycle::new(),
            shutdown: ShutdownHandle::new(),
            readiness: None,
            admin: None,
            admin_token: None,
            timings: Timings {
                notice_quiet_period: DEFAULT_NOTICE_QUIET_PERIOD,
                notice_max: DEFAULT_NOTICE_MAX,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            },
            deregister_timeout: DEFAULT_DEREGISTER_TIMEOUT,
            handle_signals: true,
            offline_notice: true,
            protection: ProtectionRules::default(),
            limits: Limits {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                max_connections: DEFAULT_MAX_CONNECTIONS,
            },
            admin_limits: Limits {
                header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
                max_connections: DEFAULT_ADMIN_MAX_CONNECTIONS,
            },
        }
    }

    /// Registers only once `check` answers `true` (asked again every 100 ms).
    pub fn readiness<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.readiness = Some(ReadinessCheck::new(check));
        self
    }

    /// Serves the [admin endpoints](crate::provider::admin) on `addr`, bound
    /// when serving starts. A non-loopback `addr` requires [`Self::admin_token`].
    pub fn admin(mut self, addr: SocketAddr) -> Self {
        self.admin = Some(AdminBind::Addr(addr));
        self
    }

    /// Serves the admin endpoints on `127.0.0.1:port`.
    pub fn admin_port(self, port: u16) -> Self {
        self.admin(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Serves the admin endpoints on a listener you bound.
    pub fn admin_listener(mut self, listener: TcpListener) -> Self {
        self.admin = Some(AdminBind::Listener(listener));
        self
    }

    /// Requires `Authorization: Bearer <token>` on the admin endpoints
    /// (mandatory when they listen on a non-loopback address).
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// The notice window ends once no request arrived for this long
    /// (default [`DEFAULT_NOTICE_QUIET_PERIOD`]).
    pub fn notice_quiet_period(mut self, quiet: Duration) -> Self {
        self.timings.notice_quiet_period = quiet;
        self
    }

    /// The notice window ends after this long at the latest (default [`DEFAULT_NOTICE_MAX`]).
    pub fn notice_max(mut self, max: Duration) -> Self {
        self.timings.notice_max = max;
        self
    }

    /// Bound on the drain (default [`DEFAULT_DRAIN_TIMEOUT`]); connections
    /// still open then are dropped.
    pub fn drain_timeout(mut self, bound: Duration) -> Self {
        self.timings.drain_timeout = bound;
        self
    }

    /// Bound on deregistration (default [`DEFAULT_DEREGISTER_TIMEOUT`]).
    pub fn deregister_timeout(mut self, bound: Duration) -> Self {
        self.deregister_timeout = bound;
        self
    }

    /// Whether SIGTERM and SIGINT start the shutdown (default `true`).
    pub fn handle_signals(mut self, enabled: bool) -> Self {
        self.handle_signals = enabled;
        self
    }

    /// Applies `rules` (hot-swappable through any clone of the handle) to
    /// requests that arrive without a lane ([`crate::lane::rules`]).
    pub fn lane_rules(mut self, rules: LaneRules) -> Self {
        self.lane_rules = Some(rules);
        self
    }

    /// Runs the lane rules of a local file (YAML, JSON or TOML, by its
    /// extension), read when the provider is built. The file wins: the
    /// registry's `lanes` documents are not applied ([`crate::rules`]). A
    /// second call replaces the first.
    pub fn lane_rules_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.lane_rules_file = Some(path.into());
        self
    }

    /// Runs the protection rules of a local file, read when the provider
    /// is built. The file wins: the registry's `protection` documents are
    /// not applied ([`crate::rules`]). A second call replaces the first.
    pub fn protection_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.protection_file = Some(path.into());
        self
    }

    /// Whether to follow this service's rule documents in the registry
    /// (default `true`; [`crate::rules`]). Off, the rules are only what the
    /// builder was given.
    pub fn rules_from_registry(mut self, enabled: bool) -> Self {
        self.rules_from_registry = enabled;
        self
    }

    /// Whose lane and caller headers to believe (default
    /// [`IngressTrust::All`], for a service called by other services); at
    /// the edge of a system, [`IngressTrust::None`] or your gateways'
    /// networks. See [`IngressTrust`].
    pub fn ingress_trust(mut self, trust: IngressTrust) -> Self {
        self.trust = trust;
        self
    }

    /// Applies `rules` (hot-swappable through any clone of the handle) to
    /// the requests this provider serves: rate limits, isolation and the
    /// adaptive limit ([`crate::provider::protect`]). Default:
    /// [`ProtectionRules::default`], the built-in rules, which include the
    /// adaptive limit.
    pub fn protection(mut self, rules: ProtectionRules) -> Self {
        self.protection = rules;
        self
    }

    /// How long a connection may take to send a complete request head,
    /// on the service and the admin listener (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]); a connection that takes longer is
    /// closed. It also closes an HTTP/1 connection idle that long between
    /// requests.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.limits.header_read_timeout = timeout;
        self.admin_limits.header_read_timeout = timeout;
        self
    }

    /// Connections the service listener serves at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]); past it a new connection is closed at
    /// once, with nothing of it processed, until one ends.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits.max_connections = max;
        self
    }

    /// Connections the admin listener serves at once (default
    /// [`DEFAULT_ADMIN_MAX_CONNECTIONS`]).
    pub fn admin_max_connections(mut self, max: usize) -> Self {
        self.admin_limits.max_connections = max;
        self
    }

    internal_pub! {
        /// Whether to stamp the offline notice and hold the notice window
        /// (default `true`). Off, the provider deregisters and closes at
        /// once, like frameworks without sae (the demo's `baseline`).
        fn offline_notice(mut self, enabled: bool) -> Self {
            self.offline_notice = enabled;
            self
        }
    }

    /// The handle that starts the shutdown from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// The lifecycle the provider will advance.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// The instance's validation errors (every rule but the address, which
    /// the bound listener completes when serving starts); [`Error::Config`]
    /// for a malformed admin token, an admin listener on a non-loopback
    /// address without a token, a notice maximum shorter than its quiet
    /// period, a zero header-read timeout or connection cap; [`Error::Io`]
    /// when an admin listener's address cannot be read; a local rule file
    /// that cannot be read or holds invalid rules.
    pub fn build(mut self) -> Result<Provider, Error> {
        // Validate the instance now, at a stand-in address for the parts
        // the listener fills in, and fix its id (generated when not given)
        // so that the notice and the logs name it from the start.
        let checked = self.instance.clone().build_bound(PLACEHOLDER_ADDR)?;
        let id = checked.id().clone();
        if self.timings.notice_max < self.timings.notice_quiet_period {
            return Err(Error::Config {
                at: "notice_max".into(),
                message: format!(
                    "the notice window maximum ({:?}) is shorter than its quiet period ({:?})",
                    self.timings.notice_max, self.timings.notice_quiet_period
                ),
            });
        }
        if self.limits.header_read_timeout.is_zero() {
            return Err(Error::Config {
                at: "header_read_timeout".into(),
                message: "must be longer than zero".into(),
            });
        }
        for (at, limits) in [
            ("max_connections", self.limits),
            ("admin_max_connections", self.admin_limits),
        ] {
            if limits.max_connections == 0 {
                return Err(Error::Config {
                    at: at.into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        let lane_rules = self.lane_rules.take().unwrap_or_default();
        let mut follower = RuleFollower::new(Arc::clone(&self.registry), checked.service().clone())
            .lanes(lane_rules.clone())
            .protection(self.protection.clone());
        if let Some(path) = &self.lane_rules_file {
            lane_rules.reload_file(path)?;
            follower = follower.pin_local(RuleKind::lanes(), path.display().to_string());
        }
        if let Some(path) = &self.protection_file {
            self.protection.reload_file(path)?;
            follower = follower.pin_local(RuleKind::protection(), path.display().to_string());
        }
        let rule_status = follower.status();
        let mut admin = Admin::new(self.lifecycle.clone(), self.shutdown.clone())
            .rules(rule_status.clone())
            // preStop answers once the window is over, which is at most this far away.
            .prestop_bound(
                self.deregister_timeout + self.timings.notice_max + Duration::from_secs(1),
            );
        if let Some(token) = &self.admin_token {
            admin = admin.token(AdminToken::new(token)?);
        }
        let admin = match self.admin {
            None => None,
            Some(bind) => {
                let addr = match &bind {
                    AdminBind::Addr(addr) => *addr,
                    AdminBind::Listener(listener) => listener.local_addr().map_err(|error| {
                        Error::io("reading the admin listener's address", error)
                    })?,
                };
                admin.check_bind(addr)?;
                Some((bind, admin))
            }
        };
        let notice =
            OfflineNoticeLayer::new(self.lifecycle.clone(), &id).enabled(self.offline_notice);
        let record_peer = self.trust.needs_peer();
        let lane = LaneLayer::with_rules(lane_rules).trust(self.trust);
        let in_flight = InFlight::new();
        let protect = ProtectLayer::new(self.protection, checked.service().clone());
        let layer = ProviderLayer::new(&in_flight, notice, lane, protect);
        let mut registrar =
            Registrar::new(self.registry, self.lifecycle.clone(), self.instance, id)
                .deregister_timeout(self.deregister_timeout);
        if let Some(check) = self.readiness {
            registrar = registrar.readiness(check);
        }
        if self.rules_from_registry {
            registrar = registrar.report_rules(rule_status.clone());
        }
        Ok(Provider {
            rules: self.rules_from_registry.then_some(follower),
            rule_status,
            registrar,
            lifecycle: self.lifecycle,
            shutdown: self.shutdown,
            in_flight,
            layer,
            record_peer,
            admin,
            timings: self.timings,
            handle_signals: self.handle_signals,
            offline_notice: self.offline_notice,
            limits: self.limits,
            admin_limits: self.admin_limits,
        })
    }
}
