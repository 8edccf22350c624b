//! [`ClientBuilder`]: configures and builds a [`Client`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Body;
use sae_core::{BoxError, Error, IntoRegistry, Registry, ServiceName};

use super::pool::{ConnPool, PoolSettings, Protocol};
use super::protect::Protection;
use super::{Client, ClientConfig, Shared};
use crate::balance::{BalanceConfig, Balancer, LaneFallback};
use crate::discovery::{self, DiscoveryMode};
use crate::protection::ProtectionRules;

/// Default bound on waiting for an available instance.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(3);
/// Default connect timeout (loopback and LAN connects take well under a millisecond;
/// a second means the host is gone, and the request goes elsewhere).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default number of endpoints one request may try to connect to.
pub const DEFAULT_CONNECT_ATTEMPTS: usize = 3;
/// Default cap of idle HTTP/1.1 connections per endpoint.
pub const DEFAULT_MAX_IDLE: usize = 32;

/// Configures a [`Client`]; start with [`Client::builder`].
#[derive(Debug)]
#[must_use = "call .build_http() or .build_grpc()"]
pub struct ClientBuilder {
    service: String,
    registry: Arc<dyn Registry>,
    discovery: DiscoveryMode,
    balance: BalanceConfig,
    lane_fallback: LaneFallback,
    evict_on_notice: bool,
    wait: Duration,
    connect_timeout: Duration,
    connect_attempts: usize,
    eject_on_connect_failure: bool,
    max_idle: usize,
    protection: ProtectionRules,
    timeout: Option<Duration>,
}

impl ClientBuilder {
    pub(super) fn new(service: impl Into<String>, registry: impl IntoRegistry) -> Self {
        ClientBuilder {
            service: service.into(),
            registry: registry.into_registry(),
            discovery: DiscoveryMode::Watch,
            balance: BalanceConfig::default(),
            lane_fallback: LaneFallback::Base,
            evict_on_notice: true,
            wait: DEFAULT_WAIT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            connect_attempts: DEFAULT_CONNECT_ATTEMPTS,
            eject_on_connect_failure: true,
            max_idle: DEFAULT_MAX_IDLE,
            protection: ProtectionRules::default(),
            timeout: None,
        }
    }

    /// How the client learns about instances (default: watch).
    pub fn discovery(mut self, mode: DiscoveryMode) -> Self {
        self.discovery = mode;
        self
    }

    /// Balancer tunables.
    pub fn balance(mut self, config: BalanceConfig) -> Self {
        self.balance = config;
        self
    }

    /// What a request in a lane does when this service has no available
    /// instance in it: go to base ([`LaneFallback::Base`], the default) or,
    /// for a service whose lane version must never be replaced by base,
    /// fail with [`Error::NoInstanceInLane`] ([`LaneFallback::Strict`]).
    pub fn lane_fallback(mut self, fallback: LaneFallback) -> Self {
        self.lane_fallback = fallback;
        self
    }

    internal_pub! {
        /// Whether an offline notice evicts the endpoint (default true;
        /// false models a client that ignores it: the demo's `baseline`).
        fn evict_on_notice(mut self, enabled: bool) -> Self {
            self.evict_on_notice = enabled;
            self
        }
    }

    /// How long a request waits for an available instance before failing
    /// with [`Error::NoAvailableInstance`] (default [`DEFAULT_WAIT`]).
    pub fn wait_for_instance(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// TCP connect timeout (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many endpoints one request may try when connecting fails
    /// (default [`DEFAULT_CONNECT_ATTEMPTS`], at least 1).
    pub fn connect_attempts(mut self, attempts: usize) -> Self {
        self.connect_attempts = attempts.max(1);
        self
    }

    internal_pub! {
        /// Whether a connect failure takes the endpoint out of rotation for
        /// a backoff (default true). Turning it off, together with
        /// `connect_attempts(1)`, gives the behaviour of a plain cached
        /// client: the demo's `baseline`.
        fn eject_on_connect_failure(mut self, eject: bool) -> Self {
            self.eject_on_connect_failure = eject;
            self
        }
    }

    /// The protection rules the calls follow (default: the built-in ones,
    /// [`ProtectionSet::defaults`](crate::protection::ProtectionSet::defaults)):
    /// timeouts, retries within a budget, outlier detection and the circuit
    /// breaker for this service. Clones of the handle share it, so a swap
    /// applies to every client built with it.
    pub fn protection(mut self, rules: ProtectionRules) -> Self {
        self.protection = rules;
        self
    }

    /// A timeout for every call, retries included, when the rules give
    /// this service none (default: none). A [`CallTimeout`](super::CallTimeout)
    /// in a request's extensions wins over both; the deadline of the request
    /// being served bounds all of them.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Cap of idle HTTP/1.1 connections kept per endpoint (default [`DEFAULT_MAX_IDLE`]).
    pub fn max_idle_per_endpoint(mut self, max: usize) -> Self {
        self.max_idle = max;
        self
    }

    /// An HTTP/1.1 client.
    ///
    /// # Errors
    ///
    /// The service name is invalid.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: the discovery task is spawned here.
    pub fn build_http<B>(self) -> Result<Client<B>, Error>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        self.build(Protocol::Http1)
    }

    /// An HTTP/2 (prior knowledge) client: the channel for tonic-generated
    /// clients (`MyClient::new(client)`), or plain HTTP/2.
    ///
    /// # Errors
    ///
    /// The service name is invalid.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: the discovery task is spawned here.
    pub fn build_grpc<B>(self) -> Result<Client<B>, Error>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        self.build(Protocol::Http2)
    }

    fn build<B>(self, protocol: Protocol) -> Result<Client<B>, Error>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let service = ServiceName::new(&self.service)?;
        let settings = PoolSettings {
            protocol,
            connect_timeout: self.connect_timeout,
            max_idle: self.max_idle,
        };
        let protection = Protection::new(self.protection, service.clone(), self.timeout);
        let balancer = Balancer::new(service, self.balance, self.lane_fallback, move |entry| {
            ConnPool::new(entry.instance.addr(), settings)
        });
        let discovery = discovery::spawn(self.registry, balancer.clone(), self.discovery);
        Ok(Client {
            shared: Arc::new(Shared {
                balancer,
                config: ClientConfig {
                    protocol,
                    evict_on_notice: self.evict_on_notice,
                    wait: self.wait,
                    connect_attempts: self.connect_attempts,
                    eject_on_connect_failure: self.eject_on_connect_failure,
                },
                protection,
                retries: AtomicU64::new(0),
                _discovery: discovery,
            }),
            _body: PhantomData,
        })
    }
}
