//! [`InstanceBuilder`]: the one way to make a valid [`Instance`].

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Instance, InstanceId, ServiceName};
use crate::{Error, Lane, wire};

/// Weight given when none is set.
pub const DEFAULT_WEIGHT: u32 = 100;
/// Smallest accepted weight (0 would silently take the instance out of rotation).
pub const MIN_WEIGHT: u32 = 1;
/// Largest accepted weight.
pub const MAX_WEIGHT: u32 = 10_000;
/// Most metadata entries an instance may carry (registries store them on every heartbeat).
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, in bytes.
pub const MAX_METADATA_KEY_LEN: usize = 64;
/// Longest metadata value, in bytes.
pub const MAX_METADATA_VALUE_LEN: usize = 512;
/// Longest warm-up window (Envoy and MSE use minutes, never hours).
pub const MAX_WARMUP: Duration = Duration::from_secs(3600);

/// Builds an [`Instance`], validating every field in [`InstanceBuilder::build`].
#[derive(Debug, Clone)]
#[must_use = "call .build() to get an Instance"]
pub struct InstanceBuilder {
    service: String,
    id: Option<String>,
    addr: SocketAddr,
    weight: u32,
    metadata: BTreeMap<String, String>,
    start_time: Option<SystemTime>,
    warmup: Duration,
}

impl InstanceBuilder {
    pub(super) fn new(service: impl Into<String>) -> Self {
        InstanceBuilder {
            service: service.into(),
            id: None,
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            weight: DEFAULT_WEIGHT,
            metadata: BTreeMap::new(),
            start_time: None,
            warmup: Duration::ZERO,
        }
    }

    /// Sets the instance id; a UUID v4 is generated when not set.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the address consumers connect to. It must be routable (not
    /// `0.0.0.0` or `::`, not port 0) by the time the instance is built; a
    /// provider fills an unspecified IP or port from its bound listener
    /// ([`InstanceBuilder::build_bound`]), so there `addr` may name only the
    /// IP (`10.0.0.7:0`) or be left out.
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets the load-balancing weight, [`MIN_WEIGHT`] to [`MAX_WEIGHT`].
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Adds one metadata entry (replacing an earlier one with the same key).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Puts the instance in a lane (sets [`wire::LANE_METADATA_KEY`]).
    pub fn lane(self, lane: impl Into<String>) -> Self {
        self.metadata(wire::LANE_METADATA_KEY, lane)
    }

    /// Sets the start time (default: when [`InstanceBuilder::build`] runs).
    pub fn start_time(mut self, start_time: SystemTime) -> Self {
        self.start_time = Some(start_time);
        self
    }

    /// Sets the warm-up window (default zero: no warm-up), at most [`MAX_WARMUP`].
    pub fn warmup(mut self, window: Duration) -> Self {
        self.warmup = window;
        self
    }

    /// The instance a provider listening on `bound` registers: an
    /// unspecified IP or a port of 0 in [`InstanceBuilder::addr`] (both, when
    /// it was not set) is taken from `bound`, then [`InstanceBuilder::build`]
    /// validates.
    ///
    /// ```
    /// use sae_core::Instance;
    ///
    /// let bound = "127.0.0.1:8080".parse().unwrap();
    /// assert_eq!(Instance::builder("orders").build_bound(bound)?.addr(), bound);
    /// let advertised = Instance::builder("orders")
    ///     .addr("10.0.0.7:0".parse().unwrap())
    ///     .build_bound(bound)?;
    /// assert_eq!(advertised.addr().to_string(), "10.0.0.7:8080");
    /// // A listener on 0.0.0.0 says nothing about where consumers connect.
    /// assert!(Instance::builder("orders").build_bound("0.0.0.0:8080".parse().unwrap()).is_err());
    /// # Ok::<(), sae_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`InstanceBuilder::build`].
    pub fn build_bound(mut self, bound: SocketAddr) -> Result<Instance, Error> {
        if self.addr.ip().is_unspecified() {
            self.addr.set_ip(bound.ip());
        }
        if self.addr.port() == 0 {
            self.addr.set_port(bound.port());
        }
        self.build()
    }

    /// Validates every field and returns the instance, or the first rule broken.
    ///
    /// # Errors
    ///
    /// The first rule broken: the service name, id, weight, warm-up and
    /// metadata rules, then [`Error::UnroutableAddress`] for an address with
    /// an unspecified IP or port 0 (the default address is both).
    pub fn build(self) -> Result<Instance, Error> {
        let service = ServiceName::new(&self.service)?;
        let id = match self.id {
            Some(id) => InstanceId::new(id)?,
            None => InstanceId::generate(),
        };
        if !(MIN_WEIGHT..=MAX_WEIGHT).contains(&self.weight) {
            return Err(Error::WeightOutOfRange {
                weight: self.weight,
                min: MIN_WEIGHT,
                max: MAX_WEIGHT,
            });
        }
        if self.warmup > MAX_WARMUP {
            return Err(Error::WarmupTooLong {
                window: self.warmup,
                max: MAX_WARMUP,
            });
        }
        let mut metadata = self.metadata;
        // The advertised window is part of the stored record so consumers
        // written in other languages can read it from metadata alone.
        if self.warmup.is_zero() {
            metadata.remove(wire::WARMUP_METADATA_KEY);
        } else {
            metadata.insert(
                wire::WARMUP_METADATA_KEY.to_owned(),
                self.warmup.as_millis().to_string(),
            );
        }
        validate_metadata(&metadata)?;
        check_routable(self.addr)?;
        Ok(Instance {
            service,
            id,
            addr: self.addr,
            weight: self.weight,
            metadata,
            start_time: truncate_to_millis(self.start_time.unwrap_or_else(SystemTime::now)),
            warmup: Duration::from_millis(self.warmup.as_millis() as u64),
        })
    }
}

fn check_routable(addr: SocketAddr) -> Result<(), Error> {
    let reason = if addr.ip().is_unspecified() {
        "the IP is unspecified"
    } else if addr.port() == 0 {
        "the port is 0"
    } else {
        return Ok(());
    };
    Err(Error::UnroutableAddress { addr, reason })
}

fn validate_metadata(metadata: &BTreeMap<String, String>) -> Result<(), Error> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(Error::TooManyMetadataEntries {
            count: metadata.len(),
            max: MAX_METADATA_ENTRIES,
        });
    }
    for (key, value) in metadata {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_METADATA_KEY_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !key_ok {
            return Err(Error::InvalidMetadataKey {
                key: key.clone(),
                max: MAX_METADATA_KEY_LEN,
            });
        }
        if value.len() > MAX_METADATA_VALUE_LEN {
            return Err(Error::MetadataValueTooLong {
                key: key.clone(),
                len: value.len(),
                max: MAX_METADATA_VALUE_LEN,
            });
        }
    }
    if let Some(lane) = metadata.get(wire::LANE_METADATA_KEY) {
        Lane::new(lane)?;
    }
    Ok(())
}

/// The encoding stores milliseconds; truncating here makes a round trip exact.
fn truncate_to_millis(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64),
        Err(_) => UNIX_EPOCH,
    }
}
