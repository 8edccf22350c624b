//! The caller on the wire: `x-sae-caller`, the calling service's name.

use http::{HeaderMap, HeaderValue};

use crate::instance::MAX_SERVICE_NAME_LEN;
use crate::{ServiceName, wire};

/// The calling service `headers` name, when `x-sae-caller` holds a valid
/// [`ServiceName`]; anything else (too long, outside the name alphabet, not
/// UTF-8) is ignored with a debug event, so a hostile value never reaches a
/// span or a [`RequestContext`](crate::RequestContext).
///
/// ```
/// use http::HeaderMap;
/// use sae_core::wire;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-sae-caller", "frontend".parse().unwrap());
/// assert_eq!(wire::caller::read(&headers).unwrap().as_str(), "frontend");
/// headers.insert("x-sae-caller", r"Not A Service/..\; drop".parse().unwrap());
/// assert!(wire::caller::read(&headers).is_none());
/// ```
pub fn read(headers: &HeaderMap) -> Option<ServiceName> {
    from_value(headers.get(&wire::CALLER)?)
}

/// The caller an `x-sae-caller` value names, if valid.
pub(crate) fn from_value(value: &HeaderValue) -> Option<ServiceName> {
    // Length first: a rejected name is copied into its error.
    let name = (value.len() <= MAX_SERVICE_NAME_LEN)
        .then(|| value.to_str().ok())
        .flatten()
        .and_then(|name| ServiceName::new(name).ok());
    if name.is_none() {
        tracing::debug!(
            len = value.len(),
            "malformed {} ignored: it must be a service name",
            wire::CALLER_HEADER
        );
    }
    name
}

/// Writes `caller` as `x-sae-caller`, unless the request already names one.
pub fn write_if_absent(headers: &mut HeaderMap, caller: &HeaderValue) {
    // One lookup; `try_entry` keeps a map at its size limit as it is.
    if let Ok(http::header::Entry::Vacant(entry)) = headers.try_entry(wire::CALLER) {
        let _ = entry.try_insert(caller.clone());
    }
}
