//! [`SaeHeaders`]: everything sae reads on an inbound request, found in
//! one pass over its headers.
//!
//! A provider reads six names on every request (`x-sae-tag`, `baggage`,
//! `x-sae-caller`, `x-sae-timeout`, `grpc-timeout`, `x-sae-retry`). Six
//! lookups hash six names; one pass over a request's few headers compares
//! lengths and bytes instead, which costs a fraction of that for the
//! header counts requests carry (BENCHMARKS.md). Values are validated as
//! the single readers ([`lane::read`](super::lane::read),
//! [`caller::read`](super::caller::read),
//! [`deadline::read`](super::deadline::read)) validate them, with the same
//! first-value-wins rule.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::{caller, deadline, lane};
use crate::{Lane, ServiceName};

/// The sae headers of a request, read in one pass: six lookups hash six
/// names, one pass compares lengths and bytes of the few headers present.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use sae_core::wire::SaeHeaders;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-sae-tag", "gray".parse().unwrap());
/// headers.insert("x-sae-caller", "frontend".parse().unwrap());
/// headers.insert("x-sae-timeout", "250".parse().unwrap());
/// let found = SaeHeaders::scan(&headers);
/// assert_eq!(found.lane().unwrap().as_str(), "gray");
/// assert_eq!(found.caller().unwrap().as_str(), "frontend");
/// assert_eq!(found.deadline(), Some(Duration::from_millis(250)));
/// assert!(!found.retried());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SaeHeaders<'a> {
    headers: &'a HeaderMap,
    tag: Option<&'a HeaderValue>,
    baggage: bool,
    caller: Option<&'a HeaderValue>,
    timeout: Option<&'a HeaderValue>,
    grpc_timeout: Option<&'a HeaderValue>,
    retried: bool,
}

impl<'a> SaeHeaders<'a> {
    /// Finds sae's headers in `headers`, in one pass.
    pub fn scan(headers: &'a HeaderMap) -> Self {
        let mut found = SaeHeaders {
            headers,
            tag: None,
            baggage: false,
            caller: None,
            timeout: None,
            grpc_timeout: None,
            retried: false,
        };
        for (name, value) in headers {
            // Names are lowercase; the length rules out most at once.
            let slot = match name.as_str().as_bytes() {
                b"x-sae-tag" => &mut found.tag,
                b"x-sae-caller" => &mut found.caller,
                b"x-sae-timeout" => &mut found.timeout,
                b"grpc-timeout" => &mut found.grpc_timeout,
                b"baggage" => {
                    found.baggage = true;
                    continue;
                }
                b"x-sae-retry" => {
                    found.retried = true;
                    continue;
                }
                _ => continue,
            };
            // The first value wins, as `HeaderMap::get` has it.
            slot.get_or_insert(value);
        }
        found
    }

    /// The lane: a valid `x-sae-tag`, else a valid `sae-tag` baggage
    /// member (as [`lane::read`]).
    pub fn lane(&self) -> Option<Lane> {
        self.tag.and_then(lane::header_value).or_else(|| {
            self.baggage
                .then(|| lane::read_baggage(self.headers))
                .flatten()
        })
    }

    /// The calling service of a valid `x-sae-caller` (as [`caller::read`]).
    pub fn caller(&self) -> Option<ServiceName> {
        self.caller.and_then(caller::from_value)
    }

    /// The time the caller still waits (as [`deadline::read`]).
    pub fn deadline(&self) -> Option<Duration> {
        deadline::from_values(self.timeout, self.grpc_timeout)
    }

    /// Whether the request is marked as a retry (`x-sae-retry`).
    pub fn retried(&self) -> bool {
        self.retried
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    /// The scan agrees with the single readers, whatever the mix.
    #[test]
    fn the_scan_reads_what_the_lookups_read() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("host", "orders"), ("accept", "*/*")],
            &[("x-sae-tag", "gray"), ("x-sae-tag", "blue")],
            &[
                ("x-sae-tag", "not a lane!"),
                ("baggage", "a=1,sae-tag=blue"),
            ],
            &[("baggage", "a=1"), ("baggage", "sae-tag=gray")],
            &[("x-sae-caller", "frontend"), ("x-sae-caller", "other")],
            &[("x-sae-caller", "Not_A_Name")],
            &[("x-sae-timeout", "250"), ("grpc-timeout", "100m")],
            &[("x-sae-timeout", "abc"), ("grpc-timeout", "3S")],
            &[("grpc-timeout", "1H")],
            &[("x-sae-retry", "2"), ("x-sae-timeout", "99999999999999")],
        ];
        for case in cases {
            let mut headers = HeaderMap::new();
            for (name, value) in *case {
                headers.append(
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            let found = SaeHeaders::scan(&headers);
            assert_eq!(found.lane(), wire::lane::read(&headers), "{case:?}");
            assert_eq!(found.caller(), wire::caller::read(&headers), "{case:?}");
            assert_eq!(found.deadline(), wire::deadline::read(&headers), "{case:?}");
            assert_eq!(
                found.retried(),
                headers.contains_key(&wire::RETRY),
                "{case:?}"
            );
        }
    }
}
