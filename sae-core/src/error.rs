//! The one error type of sae.

use std::time::Duration;

/// A boxed error from a lower layer (hyper, tonic, I/O).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in sae, with messages that name the offending
/// value and the rule it broke.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service name was empty.
    #[error("service name is empty; it must be 1 to {max} characters")]
    ServiceNameEmpty {
        /// The maximum length.
        max: usize,
    },
    /// A service name was longer than allowed.
    #[error("service name {name:?} is {len} bytes long; the maximum is {max}")]
    ServiceNameTooLong {
        /// The offending name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The maximum length.
        max: usize,
    },
    /// A service name contained a character outside `[a-z0-9.-_]`, or did not start with a letter or digit.
    #[error(
        "service name {name:?} has {found:?} at byte {position}; only lowercase ASCII letters, digits, '-', '_' and '.' are allowed, and the first character must be a letter or digit"
    )]
    ServiceNameInvalidChar {
        /// The offending name.
        name: String,
        /// The first character that broke the rule.
        found: char,
        /// Its byte position.
        position: usize,
    },
    /// An instance id was empty, too long, or had a control or whitespace character.
    #[error(
        "instance id {id:?} is invalid: it must be 1 to {max} bytes of printable ASCII without whitespace"
    )]
    InvalidInstanceId {
        /// The offending id.
        id: String,
        /// The maximum length.
        max: usize,
    },
    /// A weight outside the accepted range.
    #[error("weight {weight} is out of range; it must be between {min} and {max}")]
    WeightOutOfRange {
        /// The offending weight.
        weight: u32,
        /// The minimum accepted weight.
        min: u32,
        /// The maximum accepted weight.
        max: u32,
    },
    /// More metadata entries than allowed.
    #[error("{count} metadata entries given; at most {max} are allowed")]
    TooManyMetadataEntries {
        /// How many were given.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// A metadata key was empty, too long or had a character outside `[A-Za-z0-9._-/]`.
    #[error(
        "metadata key {key:?} is invalid: it must be 1 to {max} bytes of ASCII letters, digits, '.', '_', '-' or '/'"
    )]
    InvalidMetadataKey {
        /// The offending key.
        key: String,
        /// The maximum length.
        max: usize,
    },
    /// A metadata value was longer than allowed.
    #[error("metadata value for key {key:?} is {len} bytes long; the maximum is {max}")]
    MetadataValueTooLong {
        /// The key whose value is too long.
        key: String,
        /// The value's length in bytes.
        len: usize,
        /// The maximum length.
        max: usize,
    },
    /// A lane value broke the lane rules of [`crate::wire`].
    #[error(
        "lane {lane:?} is invalid: it must be 1 to {max} bytes of ASCII letters, digits, '-', '_' or '.'"
    )]
    InvalidLane {
        /// The offending lane.
        lane: String,
        /// The maximum length.
        max: usize,
    },
    /// A warm-up window longer than allowed.
    #[error("warm-up window {window:?} is longer than the maximum {max:?}")]
    WarmupTooLong {
        /// The offending window.
        window: Duration,
        /// The maximum.
        max: Duration,
    },
    /// An instance address consumers could not connect to: an unspecified IP
    /// (`0.0.0.0`, `::`) or port 0.
    #[error(
        "instance address {addr} cannot be routed to: {reason}; set the address consumers connect to with InstanceBuilder::addr"
    )]
    UnroutableAddress {
        /// The offending address.
        addr: std::net::SocketAddr,
        /// Which part is wrong.
        reason: &'static str,
    },
    /// A stored instance was encoded by a newer, incompatible major version of the format.
    #[error(
        "instance encoding version {found} is not supported; this build reads version {supported} (upgrade sae to read it)"
    )]
    UnsupportedEncodingVersion {
        /// The version found in the data.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A stored instance could not be decoded.
    #[error("malformed instance encoding: {0}")]
    MalformedEncoding(#[source] serde_json::Error),
    /// A lifecycle transition that would go backwards.
    #[error("lifecycle cannot go from {from} back to {to}")]
    BackwardTransition {
        /// The current phase.
        from: crate::Phase,
        /// The requested phase.
        to: crate::Phase,
    },
    /// A registry URL that could not be parsed.
    #[error("registry URL {url:?} is malformed: {reason}")]
    MalformedRegistryUrl {
        /// The offending URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A registry URL with a scheme no enabled backend handles.
    #[error("registry URL {url:?} has unknown scheme {scheme:?}; supported: {supported}")]
    UnknownRegistryScheme {
        /// The offending URL.
        url: String,
        /// Its scheme.
        scheme: String,
        /// The schemes this build supports.
        supported: String,
    },
    /// A registry URL whose backend exists but was not compiled into this build.
    #[error(
        "registry URL {url:?} needs sae's `{feature}` feature, which this build does not have; rebuild with `--features {feature}`"
    )]
    BackendNotEnabled {
        /// The offending URL.
        url: String,
        /// The cargo feature that adds the backend.
        feature: &'static str,
    },
    /// The registry backend failed.
    #[error("{backend} registry: {message}")]
    Registry {
        /// Which backend.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// The registry backend does not do this (a backend that stores no rule
    /// documents keeps [`Registry`](crate::Registry)'s default methods).
    #[error("{backend} registry: cannot {operation}; this backend does not support it")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// An operation on the registry timed out.
    #[error("{backend} registry: {operation} timed out after {after:?}")]
    RegistryTimeout {
        /// Which backend.
        backend: &'static str,
        /// Which operation.
        operation: &'static str,
        /// The bound that was exceeded.
        after: Duration,
    },
    /// No endpoint of the registry answered within the bound: it is down,
    /// cut off from this host, or without a leader. Unlike
    /// [`Error::Registry`], trying again later may succeed unchanged.
    #[error(
        "{backend} registry: {operation} failed: no endpoint answered within {after:?}; last error: {last_error}"
    )]
    RegistryUnreachable {
        /// Which backend.
        backend: &'static str,
        /// Which operation.
        operation: &'static str,
        /// How long the backend kept trying.
        after: Duration,
        /// What the last attempt failed with (and where, when known).
        last_error: String,
    },
    /// The instance is not registered.
    #[error("instance {id:?} of service {service:?} is not registered")]
    NotRegistered {
        /// The service.
        service: String,
        /// The instance id.
        id: String,
    },
    /// No instance of a service could take the request within the wait bound.
    #[error("no available instance of service {service:?} (waited {waited:?})")]
    NoAvailableInstance {
        /// The service.
        service: String,
        /// How long the request waited for one.
        waited: Duration,
    },
    /// A service configured strict has no instance in the requested lane.
    #[error(
        "no available instance of service {service:?} in lane {lane:?} (service is strict: no fallback to base)"
    )]
    NoInstanceInLane {
        /// The service.
        service: String,
        /// The lane.
        lane: String,
    },
    /// Connecting to an endpoint failed; nothing was sent, so the request may
    /// safely be sent elsewhere.
    #[error("connecting to {addr} (instance {id:?} of service {service:?}) failed: {source}")]
    Connect {
        /// The service.
        service: String,
        /// The instance id.
        id: String,
        /// The endpoint address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A request failed after it may have been sent; it is returned to the
    /// caller unchanged and never retried by sae.
    #[error("request to {addr} (instance {id:?} of service {service:?}) failed: {source}")]
    Upstream {
        /// The service.
        service: String,
        /// The instance id.
        id: String,
        /// The endpoint address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// A call to a service ran out of time: its timeout, or what was left of
    /// the deadline of the request being served. `id` names the instance
    /// the last attempt went to, if one was picked.
    #[error(
        "call to service {service:?}{} timed out after {budget:?} ({which})",
        match id { Some(id) => format!(" (instance {id:?})"), None => String::new() }
    )]
    Timeout {
        /// The service.
        service: String,
        /// The instance of the last attempt, if any was picked.
        id: Option<String>,
        /// The budget that ran out.
        budget: std::time::Duration,
        /// Whose budget: `"the call's timeout"` or `"the inbound deadline"`.
        which: &'static str,
    },
    /// The circuit breaker of a service (in a lane) is open: the call was
    /// refused without being sent.
    #[error(
        "circuit breaker of service {service:?}{} is open; the call was not sent",
        match lane { Some(lane) => format!(" in lane {lane:?}"), None => String::new() }
    )]
    CircuitOpen {
        /// The service.
        service: String,
        /// The lane whose breaker is open; `None` for base.
        lane: Option<String>,
    },
    /// A configuration value was rejected.
    #[error("invalid configuration at {at}: {message}")]
    Config {
        /// Where in the configuration.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What sae was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Builds an [`Error::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds an [`Error::Registry`].
    pub fn registry(backend: &'static str, message: impl Into<String>) -> Self {
        Error::Registry {
            backend,
            message: message.into(),
        }
    }
}
