//! The rejection on the wire: a provider refused a request before
//! processing it, so the caller may send it to another instance whatever
//! its method.
//!
//! The response carries `x-sae-rejected: <reason>`: HTTP `503` (a limit) or
//! `429` (a rate limit), gRPC `RESOURCE_EXHAUSTED` in the initial metadata.

use http::{HeaderMap, HeaderValue};

use crate::wire;

/// Why a provider refused a request before processing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// A fixed concurrency limit and its queue were full.
    Concurrency,
    /// The adaptive limit judged the provider overloaded.
    Overload,
    /// A rate limit was exceeded.
    RateLimit,
}

impl Rejection {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Concurrency => "concurrency",
            Rejection::Overload => "overload",
            Rejection::RateLimit => "rate-limit",
        }
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        match bytes {
            b"concurrency" => Some(Rejection::Concurrency),
            b"overload" => Some(Rejection::Overload),
            b"rate-limit" => Some(Rejection::RateLimit),
            _ => None,
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rejection a response announces, if any; an unknown reason still
/// means "rejected before processing" ([`Rejection::Overload`]).
///
/// ```
/// use http::HeaderMap;
/// use sae_core::wire::{self, rejection::Rejection};
///
/// let mut headers = HeaderMap::new();
/// assert_eq!(wire::rejection::read(&headers), None);
/// wire::rejection::write(&mut headers, Rejection::RateLimit);
/// assert_eq!(wire::rejection::read(&headers), Some(Rejection::RateLimit));
/// ```
pub fn read(headers: &HeaderMap) -> Option<Rejection> {
    let value = headers.get(&wire::REJECTED)?;
    Some(Rejection::parse(value.as_bytes()).unwrap_or(Rejection::Overload))
}

/// Marks a response as a rejection before processing.
pub fn write(headers: &mut HeaderMap, rejection: Rejection) {
    headers.insert(wire::REJECTED, HeaderValue::from_static(rejection.as_str()));
}
