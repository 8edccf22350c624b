//! Governance rules pushed through the registry: change a rule once, and
//! every instance of the service applies it within a second.
//!
//! A canary release is a sequence of rule changes (5 % of users to gray,
//! then 50 %, then all). Written as a [`RuleDocument`](sae_core::rules::RuleDocument)
//! into the registry (`sae rules apply edge lanes rollout.yaml`, or
//! [`Registry::put_rules`](sae_core::Registry::put_rules)), a document
//! reaches every instance that follows its service:
//!
//! - A [`Provider`](crate::Provider) follows its own service's `lanes` and
//!   `protection` documents from the moment it starts (before it
//!   registers, so it serves with them; it waits at most
//!   [`RULES_AT_START_BOUND`] for them) until it stops. Code without a
//!   provider (a client-only job) spawns a [`RuleFollower`] itself.
//! - Each document is checked by [`compile`], the code the local files go
//!   through and [`apply`] (what `sae rules apply` calls) runs before writing. A valid one is
//!   swapped in (requests in flight keep the rules they started with); an
//!   invalid one is refused with a warning naming the key, the rule and the
//!   field, and the running rules stay.
//! - Deleting a document goes back to the rules the instance was built
//!   with (in code, or the defaults).
//! - While the registry cannot be read (an outage, etcd compacting the
//!   history) the last applied rules stay; the watch resumes or lists again,
//!   and nothing is applied twice.
//! - **Local wins.** A kind given as a local file
//!   ([`ProviderBuilder::lane_rules_file`](crate::ProviderBuilder::lane_rules_file),
//!   [`ProviderBuilder::protection_file`](crate::ProviderBuilder::protection_file))
//!   or pinned ([`RuleFollower::pin_local`]) ignores the registry's
//!   documents of that kind, with one log line per document: the file
//!   ships with the build and its review, and an operator pinning one
//!   instance (to debug it, or in an emergency) must not be overridden by a
//!   fleet-wide write.
//!
//! [`RuleStatus`] says which revision each kind runs; the admin listener
//! serves it (`GET /rules`) and every change is a `tracing` event
//! ([`sae.rules.applied`](sae_core::wire::event::RULES_APPLIED),
//! [`sae.rules.refused`](sae_core::wire::event::RULES_REFUSED)), so an
//! operator can tell when a change has reached every instance.

mod apply;
mod compile;
mod follower;
mod status;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use apply::{Written, apply};
pub use compile::{Compiled, KNOWN_KINDS, compile, compile_text};
pub use follower::{FollowerTask, RuleFollower};
pub use sae_core::rules::{KindStatus, Refusal, RuleSource};
pub use status::{Applied, RuleStatus};

/// How long a starting provider waits for the registry's rules before it
/// registers with the rules it was built with (and applies the registry's
/// when they arrive).
pub const RULES_AT_START_BOUND: Duration = Duration::from_secs(2);
