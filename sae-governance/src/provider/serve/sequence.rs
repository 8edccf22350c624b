//! The provider sequence, shared by every serve call and by [`Provider::drive`](super::Provider::drive).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sae_core::{Error, Lifecycle, Phase};
use tokio::time::{Instant, timeout};

use super::ServeReport;
use crate::provider::in_flight::InFlight;
use crate::provider::registrar::Registrar;
use crate::provider::shutdown::ShutdownHandle;
use crate::rules::{RULES_AT_START_BOUND, RuleStatus};

/// The timings of the shutdown that are configurable.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timings {
    pub(super) notice_quiet_period: Duration,
    pub(super) notice_max: Duration,
    pub(super) drain_timeout: Duration,
}

pub(super) struct Sequence {
    /// The registry's rules, read before registering when followed.
    pub(super) rules: Option<RuleStatus>,
    pub(super) registrar: Registrar,
    pub(super) lifecycle: Lifecycle,
    pub(super) shutdown: ShutdownHandle,
    pub(super) in_flight: InFlight,
    pub(super) timings: Timings,
    pub(super) offline_notice: bool,
}

impl Sequence {
    /// readiness → register (retried until the registry accepts) → Serving;
    /// trigger → Draining → deregister → notice window → `stop_server`
    /// (graceful shutdown, bounded by the drain timeout) → Stopped. Every
    /// lifecycle transition of the provider happens here.
    pub(super) async fn run<F, Fut>(
        mut self,
        bound: SocketAddr,
        stop_server: F,
    ) -> Result<ServeReport, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut report = ServeReport::default();
        let id = self.registrar.id().clone();

        if let Some(rules) = &self.rules {
            // Serve with the registry's rules from the first request; an
            // unreachable registry delays the start by the bound at most.
            tokio::select! {
                read = timeout(RULES_AT_START_BOUND, rules.first_read()) => if read.is_err() {
                    tracing::warn!(%id, bound = ?RULES_AT_START_BOUND, "the registry's rules were not read in time; starting with the built-in rules");
                },
                _ = self.shutdown.triggered() => {}
            }
        }
        if self.shutdown.triggered_by().is_none() {
            tokio::select! {
                started = self.registrar.register(bound) => match started {
                    Ok(timings) => {
                        report.readiness = timings.readiness;
                        report.register = timings.register;
                        report.registered = true;
                        // Fails only when a shutdown already moved past
                        // Serving; the deregistration comes next anyway.
                        if self.lifecycle.advance(Phase::Serving).is_ok() {
                            tracing::info!(%id, "lifecycle: Serving");
                        }
                    }
                    Err(error) => {
                        tracing::error!(%id, %error, "the instance cannot be registered; stopping");
                        let _ = self.lifecycle.advance(Phase::Stopped);
                        self.shutdown.close_notice_window();
                        return Err(error);
                    }
                },
                _ = self.shutdown.triggered() => {}
            }
        }
        if report.registered {
            tokio::select! {
                () = self.registrar.maintain() => {}
                _ = self.shutdown.triggered() => {}
            }
        }

        let trigger = self.shutdown.triggered().await;
        report.trigger = Some(trigger);
        let stopping = Instant::now();
        tracing::info!(%id, %trigger, "shutdown triggered");

        // Draining first, so the notice is stamped from here on; then
        // deregister (failures are logged inside).
        if matches!(self.lifecycle.advance(Phase::Draining), Ok(true)) {
            tracing::info!(%id, "lifecycle: Draining");
        }
        let step = Instant::now();
        let deregistered = self.registrar.deregister().await;
        report.deregistered = report.registered && deregistered.is_ok();
        report.deregister = step.elapsed();
        tracing::info!(%id, elapsed = ?report.deregister, deregistered = report.deregistered, "step: deregister");

        // Keep accepting while consumers may still route here. Without the
        // notice (or without ever registering) nobody learns anything from
        // more responses, so the server closes at once, as frameworks do today.
        let step = Instant::now();
        if report.registered && self.offline_notice {
            let Timings {
                notice_quiet_period,
                notice_max,
                ..
            } = self.timings;
            self.in_flight
                .wait_quiet(notice_quiet_period, notice_max)
                .await;
        }
        report.notice_window = step.elapsed();
        self.shutdown.close_notice_window();
        tracing::info!(%id, elapsed = ?report.notice_window, "step: notice window");

        let step = Instant::now();
        report.drained = timeout(self.timings.drain_timeout, stop_server())
            .await
            .is_ok();
        report.drain = step.elapsed();
        report.in_flight_at_stop = if report.drained {
            0
        } else {
            self.in_flight.count()
        };
        if report.drained {
            tracing::info!(%id, elapsed = ?report.drain, "step: drain");
        } else {
            tracing::warn!(%id, elapsed = ?report.drain, in_flight = report.in_flight_at_stop, "step: drain bound reached with requests still in flight");
        }

        let _ = self.lifecycle.advance(Phase::Stopped);
        report.stop = stopping.elapsed();
        tracing::info!(%id, elapsed = ?report.stop, "lifecycle: Stopped");
        Ok(report)
    }
}
