//! [`Registration`]: the handle that keeps an instance registered.

use std::fmt;

use super::{BoxFuture, Registered};
use crate::rules::RuleReport;
use crate::{Error, Instance};

/// A backend's side of one registration: its lease and keep-alive.
///
/// Implemented by registry backends; users hold a [`Registration`].
/// Dropping the lease stops the keep-alive, so the entry expires after the
/// backend's TTL unless [`Lease::deregister`] was called first.
pub trait Lease: Send + Sync + 'static {
    /// Deletes the entry now and stops the keep-alive.
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>>;

    /// Resolves when the backend learns that the registration is gone while
    /// the lease is held: the lease expired (a partition longer than the
    /// TTL) or was revoked, or the entry was deleted or overwritten by
    /// someone else. Backends notice within one TTL; the owner should
    /// register again. Backends whose registrations cannot be lost while
    /// held never resolve it.
    fn lost(&self) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }

    /// Stores `report` beside the registration, replacing the previous one;
    /// it goes when the registration goes. Backends that store no reports
    /// keep this default, which fails with [`Error::Unsupported`].
    fn report_rules(&self, report: RuleReport) -> BoxFuture<'static, Result<(), Error>> {
        let _ = report;
        Box::pin(async {
            Err(Error::Unsupported {
                backend: "this",
                operation: "store rule reports",
            })
        })
    }
}

/// Keeps an instance registered while it is held.
///
/// - [`Registration::deregister`] removes the instance at once: the lossless
///   way out.
/// - Dropping it stops the keep-alive without deregistering: the entry
///   expires after the backend's TTL, exactly as when the process dies.
#[must_use = "dropping a Registration stops its keep-alive; the instance then expires"]
pub struct Registration {
    entry: Registered,
    lease: Box<dyn Lease>,
}

impl Registration {
    /// Wraps a backend lease. Called by backends.
    pub fn new(entry: Registered, lease: Box<dyn Lease>) -> Self {
        Registration { entry, lease }
    }

    /// The registered instance.
    pub fn instance(&self) -> &Instance {
        &self.entry.instance
    }

    /// The instance with the revision of its registration.
    pub fn entry(&self) -> &Registered {
        &self.entry
    }

    /// Removes the instance from the registry now.
    pub async fn deregister(self) -> Result<(), Error> {
        self.lease.deregister().await
    }

    /// Resolves when the backend reports the lease lost; see [`Lease::lost`].
    pub fn lost(&self) -> BoxFuture<'static, ()> {
        self.lease.lost()
    }

    /// Publishes which rule revision this instance runs, beside its entry,
    /// for [`Registry::rule_reports`](crate::Registry::rule_reports) (and
    /// `sae rules status`) to read. A provider does this on every change.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for the report of another instance;
    /// [`Error::NotRegistered`] when the registration is gone; the
    /// backend's error; [`Error::Unsupported`] from a backend that stores
    /// no reports.
    pub fn report_rules(&self, report: RuleReport) -> BoxFuture<'static, Result<(), Error>> {
        let instance = self.instance();
        if &report.service != instance.service() || &report.id != instance.id() {
            let message = format!(
                "the registration of instance {} of {} publishes only its own report, not that of instance {} of {}",
                instance.id().as_str(),
                instance.service().as_str(),
                report.id.as_str(),
                report.service.as_str()
            );
            return Box::pin(async move {
                Err(Error::Config {
                    at: "rule report".into(),
                    message,
                })
            });
        }
        self.lease.report_rules(report)
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("service", self.entry.instance.service())
            .field("id", self.entry.instance.id())
            .field("revision", &self.entry.revision)
            .finish_non_exhaustive()
    }
}
