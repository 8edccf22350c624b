//! Publishing the instance's [`RuleStatus`] beside its registration, so
//! `sae rules status` sees which revision every instance runs.

use std::time::Duration;

use sae_core::{Error, Registration};
use tokio::time::sleep;

use super::{REGISTER_BACKOFF_FIRST, REGISTER_BACKOFF_MAX};
use crate::rules::RuleStatus;

/// How long a change settles before it is published: a burst of rule
/// writes then costs each instance one registry write, not one per change,
/// and the fleet's reports do not queue in the registry ahead of the next
/// rule write (as istiod debounces its pushes). An operator reads reports at
/// human pace.
pub(crate) const REPORT_SETTLE: Duration = Duration::from_millis(100);

/// Publishes the status now and after every change (settled for
/// [`REPORT_SETTLE`]), for as long as it is polled (the registrar drops it
/// when the registration is lost or the provider stops). A failed write is
/// retried with backoff; changes made meanwhile are folded into the next
/// write. Never returns.
pub(super) async fn publish(registration: &Registration, status: &RuleStatus) {
    let (service, id) = (
        registration.instance().service(),
        registration.instance().id(),
    );
    let mut backoff = REGISTER_BACKOFF_FIRST;
    let mut failing = false;
    loop {
        // Subscribed before reading, so a change during the write is not missed.
        let changed = status.changed();
        match registration.report_rules(status.report(service, id)).await {
            Ok(()) => {
                if failing {
                    tracing::info!(%id, "rule report published again");
                }
                failing = false;
                backoff = REGISTER_BACKOFF_FIRST;
                changed.await;
                sleep(REPORT_SETTLE).await;
            }
            Err(Error::Unsupported { .. }) => {
                tracing::debug!(%id, "the registry stores no rule reports");
                return std::future::pending().await;
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%id, %error, "publishing the rule report failed; retrying with backoff");
                }
                failing = true;
                sleep(backoff).await;
                backoff = (backoff * 2).min(REGISTER_BACKOFF_MAX);
            }
        }
    }
}
