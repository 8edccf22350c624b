//! A service instance: what a provider registers and a consumer routes to.

mod builder;
pub mod encoding;
mod names;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

pub use builder::{
    DEFAULT_WEIGHT, InstanceBuilder, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_LEN,
    MAX_METADATA_VALUE_LEN, MAX_WARMUP, MAX_WEIGHT, MIN_WEIGHT,
};
pub use names::{InstanceId, MAX_INSTANCE_ID_LEN, MAX_SERVICE_NAME_LEN, ServiceName};

use crate::wire;

/// One running copy of a service, as stored in every registry.
///
/// Built and validated by [`Instance::builder`]; immutable afterwards.
///
/// ```
/// use std::time::Duration;
/// use sae_core::Instance;
///
/// let instance = Instance::builder("orders")
///     .addr("127.0.0.1:8080".parse().unwrap())
///     .lane("gray")
///     .warmup(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(instance.lane(), Some("gray"));
/// assert_eq!(instance.weight(), 100);
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub(crate) service: ServiceName,
    pub(crate) id: InstanceId,
    pub(crate) addr: SocketAddr,
    pub(crate) weight: u32,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) start_time: SystemTime,
    pub(crate) warmup: Duration,
}

impl Instance {
    /// Starts building an instance of `service`. The name is validated by
    /// [`InstanceBuilder::build`].
    pub fn builder(service: impl Into<String>) -> InstanceBuilder {
        InstanceBuilder::new(service)
    }

    /// The service this instance belongs to.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }

    /// The unique id of this instance.
    pub fn id(&self) -> &InstanceId {
        &self.id
    }

    /// The address consumers connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relative weight in load balancing (default [`DEFAULT_WEIGHT`]).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Free-form metadata, including the well-known keys of [`crate::wire`].
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The lane this instance serves ([`wire::LANE_METADATA_KEY`]); `None` is the base version.
    pub fn lane(&self) -> Option<&str> {
        self.metadata
            .get(wire::LANE_METADATA_KEY)
            .map(String::as_str)
    }

    /// When this instance started (millisecond precision).
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// The warm-up window: consumers ramp this instance's share of traffic
    /// up over this long after [`Instance::start_time`]. Zero disables warm-up.
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    /// Encodes this instance in the versioned JSON format of [`encoding`].
    pub fn to_json(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Decodes and validates an instance from the JSON format of [`encoding`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, crate::Error> {
        encoding::decode(bytes)
    }
}
