//! The provider's registration: register when ready, keep the registration
//! alive, deregister first when going away.
//!
//! A consumer can only route to an instance it learned about from the
//! registry, so *when* the provider registers and deregisters decides whether
//! requests fail during a deploy:
//!
//! - **Register late**: only after the listener is bound (its address fills
//!   an unspecified IP or a port of 0 in the instance,
//!   [`InstanceBuilder::build_bound`]) and an optional [`ReadinessCheck`]
//!   has answered `true`. Registering before that sends consumers to a port
//!   that refuses or a process that is not warm yet.
//! - **Keep trying**: a registry that is unreachable at start (or refuses)
//!   is retried with backoff until the registration succeeds or the provider
//!   is told to stop; meanwhile the provider serves as not ready. The
//!   outage is logged once, and once more when it ends.
//! - **Stay registered**: [`Registrar::maintain`] registers again whenever
//!   the backend reports the registration lost: the lease expired during a
//!   partition, or the entry was deleted or overwritten while the lease
//!   lived (an operator's mistake). Both backends notice within one TTL.
//!   Meanwhile it publishes the instance's rule report beside the
//!   registration, again after every change and after registering again.
//! - **Deregister first**: [`Registrar::deregister`] removes the instance,
//!   bounded by a timeout (default [`DEFAULT_DEREGISTER_TIMEOUT`]). A
//!   failing or hanging registry is logged and reported as a value; it never
//!   blocks the drain, because the lease expires on its own and the offline
//!   notice tells consumers anyway.
//!
//! The registrar reads the [`Lifecycle`] (it never registers again once the
//! provider drains) but never moves it: the provider's sequence owns every
//! transition.

mod readiness;
mod report;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sae_core::{Error, Instance, InstanceBuilder, InstanceId, Lifecycle, Registration, Registry};
use tokio::time::{Instant, sleep, timeout};

use crate::rules::RuleStatus;

pub(crate) use readiness::ReadinessCheck;

/// Default bound on deregistration. Long enough for a healthy etcd round trip
/// across zones, short enough to fit a Kubernetes grace period (30 s by
/// default) together with the notice window and the drain.
pub const DEFAULT_DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Default pause between two readiness probes that answered `false`. Short,
/// because every pause delays the rollout; probes are expected to be cheap.
pub const DEFAULT_READINESS_INTERVAL: Duration = Duration::from_millis(100);

/// First pause before registering again after a failure; it doubles up to
/// [`REGISTER_BACKOFF_MAX`], so a registry that is down is not hammered and
/// one that comes back is used within seconds.
pub const REGISTER_BACKOFF_FIRST: Duration = Duration::from_millis(200);

/// Longest pause between two registration attempts.
pub const REGISTER_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long the start took, step by step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StartTimings {
    /// From the call until the readiness check passed.
    pub(crate) readiness: Duration,
    /// From the readiness check until the registry accepted the registration
    /// (retries included).
    pub(crate) register: Duration,
}

/// Drives registration for one instance; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct Registrar {
    registry: Arc<dyn Registry>,
    lifecycle: Lifecycle,
    template: InstanceBuilder,
    id: InstanceId,
    /// The instance, once built at the bound address.
    instance: Option<Instance>,
    readiness: Option<ReadinessCheck>,
    readiness_interval: Duration,
    deregister_timeout: Duration,
    registration: Option<Registration>,
    /// Published beside the registration while it is maintained.
    rule_status: Option<RuleStatus>,
    // True from a successful registration until deregistration; the entry
    // may exist even when `registration` is None (a re-registration that was
    // cancelled midway), so deregistration then goes by service and id.
    registered: bool,
}

impl Registrar {
    /// A registrar for the instance `template` describes (its id already
    /// fixed), reading `lifecycle`.
    pub(crate) fn new(
        registry: Arc<dyn Registry>,
        lifecycle: Lifecycle,
        template: InstanceBuilder,
        id: InstanceId,
    ) -> Self {
        Registrar {
            registry,
            lifecycle,
            template,
            id,
            instance: None,
            readiness: None,
            readiness_interval: DEFAULT_READINESS_INTERVAL,
            deregister_timeout: DEFAULT_DEREGISTER_TIMEOUT,
            registration: None,
            rule_status: None,
            registered: false,
        }
    }

    /// Registers only once `check` answers `true`.
    pub(crate) fn readiness(mut self, check: ReadinessCheck) -> Self {
        self.readiness = Some(check);
        self
    }

    /// Publishes `status` beside the registration ([`Registration::report_rules`])
    /// now and on every change, while [`Registrar::maintain`] runs.
    pub(crate) fn report_rules(mut self, status: RuleStatus) -> Self {
        self.rule_status = Some(status);
        self
    }

    /// Bound on deregistration (default [`DEFAULT_DEREGISTER_TIMEOUT`]).
    pub(crate) fn deregister_timeout(mut self, bound: Duration) -> Self {
        self.deregister_timeout = bound;
        self
    }

    /// The instance id.
    pub(crate) fn id(&self) -> &InstanceId {
        &self.id
    }

    /// The instance, once [`Registrar::register`] built it at the bound address.
    pub(crate) fn instance(&self) -> Option<&Instance> {
        self.instance.as_ref()
    }

    /// Whether the instance is (meant to be) in the registry.
    #[cfg(test)]
    pub(crate) fn is_registered(&self) -> bool {
        self.registered
    }

    /// Waits until the readiness check passes (at once without a check) and
    /// returns how long that took.
    async fn wait_ready(&self) -> Duration {
        let started = Instant::now();
        if let Some(check) = &self.readiness {
            while !check.check().await {
                sleep(self.readiness_interval).await;
            }
        }
        let waited = started.elapsed();
        tracing::info!(id = %self.id, elapsed = ?waited, "readiness check passed");
        waited
    }

    /// Builds the instance at `bound` (the address the listener is bound
    /// to), waits for readiness, then registers it, retrying with backoff
    /// until the registry accepts. Cancel it to give up (the provider does
    /// when told to stop).
    ///
    /// # Errors
    ///
    /// Only when the instance cannot be built at `bound` (for example a
    /// listener on `0.0.0.0` with no advertised IP): a configuration error,
    /// not worth retrying. Registry errors are retried, never returned.
    pub(crate) async fn register(&mut self, bound: SocketAddr) -> Result<StartTimings, Error> {
        let instance = self
            .template
            .clone()
            .id(self.id.as_str())
            .build_bound(bound)?;
        self.instance = Some(instance.clone());
        let readiness = self.wait_ready().await;
        let started = Instant::now();
        let registration = self.register_until_accepted(&instance, "registered").await;
        self.registration = Some(registration);
        self.registered = true;
        Ok(StartTimings {
            readiness,
            register: started.elapsed(),
        })
    }

    /// One registration, retried with backoff until the registry accepts it.
    /// A failure is logged when an outage starts and when it ends, not per
    /// attempt.
    async fn register_until_accepted(&self, instance: &Instance, what: &str) -> Registration {
        let mut backoff = REGISTER_BACKOFF_FIRST;
        let mut failures = 0u32;
        loop {
            match self.registry.register(instance.clone()).await {
                Ok(registration) => {
                    tracing::info!(
                        service = %instance.service(),
                        id = %instance.id(),
                        addr = %instance.addr(),
                        backend = self.registry.backend(),
                        revision = %registration.entry().revision,
                        failed_attempts = failures,
                        "{what}"
                    );
                    return registration;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(
                            id = %instance.id(),
                            backend = self.registry.backend(),
                            %error,
                            "registering failed; serving as not ready and retrying with backoff"
                        );
                    } else {
                        tracing::debug!(id = %instance.id(), %error, attempt = failures, retry_in = ?backoff, "registering failed again");
                    }
                    sleep(backoff).await;
                    backoff = (backoff * 2).min(REGISTER_BACKOFF_MAX);
                }
            }
        }
    }

    /// Keeps the instance registered: whenever the backend reports the
    /// registration lost, registers again (retrying with backoff), unless
    /// the lifecycle is draining. Never returns; run it in a `select!` with
    /// the shutdown trigger. Cancelling it at any await point is safe.
    pub(crate) async fn maintain(&mut self) {
        loop {
            let Some(instance) = self.instance.clone() else {
                return std::future::pending().await;
            };
            if !self.registered || self.lifecycle.is_draining() {
                return std::future::pending().await;
            }
            if let Some(registration) = &self.registration {
                let lost = registration.lost();
                match &self.rule_status {
                    Some(status) => tokio::select! {
                        () = lost => {}
                        () = report::publish(registration, status) => {}
                    },
                    None => lost.await,
                }
                if self.lifecycle.is_draining() {
                    continue;
                }
                tracing::warn!(id = %self.id, backend = self.registry.backend(), "registration lost; registering again");
                self.registration = None;
            }
            let registration = self
                .register_until_accepted(&instance, "registered again")
                .await;
            self.registration = Some(registration);
        }
    }

    /// Removes the instance from the registry, within the deregistration
    /// timeout. Doing nothing when not registered is `Ok`.
    ///
    /// # Errors
    ///
    /// The registry's error, or [`Error::RegistryTimeout`]. Both are already
    /// logged; callers that are draining may ignore them, since the lease
    /// expires on its own.
    pub(crate) async fn deregister(&mut self) -> Result<(), Error> {
        if !self.registered {
            return Ok(());
        }
        self.registered = false;
        let started = Instant::now();
        let registry = &self.registry;
        let registration = self.registration.take();
        let instance = self.instance.as_ref();
        let removal = async {
            match (registration, instance) {
                (Some(registration), _) => registration.deregister().await,
                (None, Some(instance)) => {
                    registry.deregister(instance.service(), instance.id()).await
                }
                (None, None) => Ok(()),
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
                tracing::info!(id = %self.id, backend = registry.backend(), ?elapsed, "deregistered")
            }
            Err(error) => tracing::warn!(
                id = %self.id,
                %error,
                ?elapsed,
                "deregistration failed; draining anyway (the entry expires with its lease)"
            ),
        }
        outcome
    }
}
