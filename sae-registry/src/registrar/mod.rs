//! The provider side of the lifecycle: register when ready, keep the
//! registration alive, deregister first when going away.
//!
//! A consumer can only route to an instance it learned about from the
//! registry, so *when* the provider registers and deregisters decides whether
//! requests fail during a deploy:
//!
//! - **Register late**: only after the listener is bound (the caller passes
//!   the bound address, which replaces an unspecified IP or a port of 0 in the
//!   [`Instance`]) and an optional [`ReadinessCheck`] has answered `true`.
//!   Registering before that sends consumers to a port that refuses or a
//!   process that is not warm yet. Once registered, the lifecycle moves to
//!   [`Phase::Serving`].
//! - **Stay registered**: [`Registrar::maintain`] registers again when a
//!   backend reports the lease lost (an etcd partition longer than the TTL),
//!   unless the provider is already draining.
//! - **Deregister first**: [`Registrar::deregister`] moves the lifecycle to
//!   [`Phase::Draining`] and removes the instance, bounded by a timeout
//!   (default [`DEFAULT_DEREGISTER_TIMEOUT`]). A failing or hanging registry
//!   is logged and reported as a value; it never blocks the drain, because
//!   the lease expires on its own and the offline notice tells consumers anyway.
//!
//! ```
//! use std::sync::Arc;
//! use sae_core::{Instance, Lifecycle, Phase, Registry};
//! use sae_registry::{MemoryRegistry, Registrar};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sae_core::Error> {
//! let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
//! let lifecycle = Lifecycle::new();
//! let instance = Instance::builder("orders").build()?;
//! let mut registrar = Registrar::new(registry.clone(), lifecycle.clone(), instance);
//!
//! registrar.register("127.0.0.1:8080".parse().unwrap()).await?;
//! assert_eq!(lifecycle.phase(), Phase::Serving);
//!
//! registrar.deregister().await?;
//! assert!(lifecycle.is_draining());
//! # Ok(())
//! # }
//! ```

mod readiness;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sae_core::{Error, Instance, Lifecycle, Phase, Registration, Registry};
use tokio::time::{Instant, sleep, timeout};

pub use readiness::ReadinessCheck;

/// Default bound on deregistration. Long enough for a healthy etcd round trip
/// across zones, short enough to fit a Kubernetes grace period (30 s by
/// default) together with the notice window and the drain.
pub const DEFAULT_DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Default pause between two readiness probes that answered `false`. Short,
/// because every pause delays the rollout; probes are expected to be cheap.
pub const DEFAULT_READINESS_INTERVAL: Duration = Duration::from_millis(100);

/// Pause before retrying a failed re-registration after a lost lease, so a
/// registry that is down is not hammered.
pub const REREGISTER_BACKOFF: Duration = Duration::from_secs(1);

/// How long the start took, step by step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartTimings {
    /// From the call until the readiness check passed.
    pub readiness: Duration,
    /// The registry round trip.
    pub register: Duration,
}

/// Drives registration for one instance; see the [module docs](self).
#[derive(Debug)]
pub struct Registrar {
    registry: Arc<dyn Registry>,
    lifecycle: Lifecycle,
    instance: Instance,
    readiness: Option<ReadinessCheck>,
    readiness_interval: Duration,
    deregister_timeout: Duration,
    registration: Option<Registration>,
    // True from a successful registration until deregistration; the entry
    // may exist even when `registration` is None (a re-registration that was
    // cancelled midway), so deregistration then goes by service and id.
    registered: bool,
}

impl Registrar {
    /// A registrar for `instance`, reporting its progress through `lifecycle`.
    pub fn new(registry: Arc<dyn Registry>, lifecycle: Lifecycle, instance: Instance) -> Self {
        Registrar {
            registry,
            lifecycle,
            instance,
            readiness: None,
            readiness_interval: DEFAULT_READINESS_INTERVAL,
            deregister_timeout: DEFAULT_DEREGISTER_TIMEOUT,
            registration: None,
            registered: false,
        }
    }

    /// Registers only once `check` answers `true`.
    pub fn readiness(mut self, check: ReadinessCheck) -> Self {
        self.readiness = Some(check);
        self
    }

    /// Pause between readiness probes (default [`DEFAULT_READINESS_INTERVAL`]).
    pub fn readiness_interval(mut self, interval: Duration) -> Self {
        self.readiness_interval = interval;
        self
    }

    /// Bound on deregistration (default [`DEFAULT_DEREGISTER_TIMEOUT`]).
    pub fn deregister_timeout(mut self, bound: Duration) -> Self {
        self.deregister_timeout = bound;
        self
    }

    /// The instance, with its bound address once [`Registrar::register`] ran.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The lifecycle this registrar advances.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// Whether the instance is (meant to be) in the registry.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// Waits until the readiness check passes (at once without a check) and
    /// returns how long that took.
    pub async fn wait_ready(&self) -> Duration {
        let started = Instant::now();
        if let Some(check) = &self.readiness {
            while !check.check().await {
                sleep(self.readiness_interval).await;
            }
        }
        let waited = started.elapsed();
        tracing::info!(service = %self.instance.service(), id = %self.instance.id(), elapsed = ?waited, "readiness check passed");
        waited
    }

    /// Waits for readiness, registers the instance at `bound` (the address
    /// the listener is bound to) and moves the lifecycle to Serving.
    ///
    /// # Errors
    ///
    /// The registry's error when registering fails; the lifecycle is unchanged.
    pub async fn register(&mut self, bound: SocketAddr) -> Result<StartTimings, Error> {
        self.instance = self
            .instance
            .clone()
            .with_addr(advertised_addr(self.instance.addr(), bound));
        let readiness = self.wait_ready().await;
        let started = Instant::now();
        let registration = self.registry.register(self.instance.clone()).await?;
        let register = started.elapsed();
        tracing::info!(
            service = %self.instance.service(),
            id = %self.instance.id(),
            addr = %self.instance.addr(),
            backend = self.registry.backend(),
            revision = %registration.entry().revision,
            elapsed = ?register,
            "registered"
        );
        self.registration = Some(registration);
        self.registered = true;
        // Fails only when a shutdown already moved past Serving; the caller
        // deregisters next, so there is nothing to undo here.
        if self.lifecycle.advance(Phase::Serving).is_ok() {
            tracing::info!(id = %self.instance.id(), "lifecycle: Serving");
        }
        Ok(StartTimings {
            readiness,
            register,
        })
    }

    /// Keeps the instance registered: whenever the backend reports the lease
    /// lost, registers again (retrying every [`REREGISTER_BACKOFF`]), unless
    /// the lifecycle is draining. Never returns; run it in a `select!` with
    /// the shutdown trigger. Cancelling it at any await point is safe.
    pub async fn maintain(&mut self) {
        loop {
            if !self.registered || self.lifecycle.is_draining() {
                return std::future::pending().await;
            }
            if let Some(registration) = &self.registration {
                let lost = registration.lost();
                lost.await;
                if self.lifecycle.is_draining() {
                    continue;
                }
                tracing::warn!(id = %self.instance.id(), backend = self.registry.backend(), "registry lease lost; registering again");
                self.registration = None;
            }
            match self.registry.register(self.instance.clone()).await {
                Ok(registration) => {
                    tracing::info!(id = %self.instance.id(), revision = %registration.entry().revision, "registered again");
                    self.registration = Some(registration);
                }
                Err(error) => {
                    tracing::warn!(id = %self.instance.id(), %error, retry_in = ?REREGISTER_BACKOFF, "registering again failed");
                    sleep(REREGISTER_BACKOFF).await;
                }
            }
        }
    }

    /// Moves the lifecycle to Draining and removes the instance from the
    /// registry, within the deregistration timeout. Doing nothing when not
    /// registered is `Ok`.
    ///
    /// # Errors
    ///
    /// The registry's error, or [`Error::RegistryTimeout`]. Both are already
    /// logged; callers that are draining may ignore them, since the lease
    /// expires on its own.
    pub async fn deregister(&mut self) -> Result<(), Error> {
        if matches!(self.lifecycle.advance(Phase::Draining), Ok(true)) {
            tracing::info!(id = %self.instance.id(), "lifecycle: Draining");
        }
        if !self.registered {
            return Ok(());
        }
        self.registered = false;
        let started = Instant::now();
        let registry = &self.registry;
        let instance = &self.instance;
        let registration = self.registration.take();
        let removal = async {
            match registration {
                Some(registration) => registration.deregister().await,
                None => registry.deregister(instance.service(), instance.id()).await,
            }
        };
        let outcome = match timeout(self.deregister_timeout, removal).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::RegistryTimeout {
                backend: registry.backend(),
                operation: "deregister",
                after: self.deregister_timeout,
            }),
        };
        let elapsed = started.elapsed();
        match &outcome {
            Ok(()) => {
                tracing::info!(id = %instance.id(), backend = registry.backend(), ?elapsed, "deregistered")
            }
            Err(error) => tracing::warn!(
                id = %instance.id(),
                %error,
                ?elapsed,
                "deregistration failed; draining anyway (the entry expires with its lease)"
            ),
        }
        outcome
    }
}

/// The address to advertise: the configured one, with an unspecified IP or a
/// port of 0 taken from the bound listener.
fn advertised_addr(configured: SocketAddr, bound: SocketAddr) -> SocketAddr {
    let mut addr = configured;
    if addr.ip().is_unspecified() {
        addr.set_ip(bound.ip());
        if bound.ip().is_unspecified() {
            tracing::warn!(%bound, "listener is bound to an unspecified address; set Instance::addr to the address consumers should use");
        }
    }
    if addr.port() == 0 {
        addr.set_port(bound.port());
    }
    addr
}
