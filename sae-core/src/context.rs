//! The request context: what sae knows about a request, carried in
//! [`http::Extensions`] from the server layers to the handler and to the
//! client layers.

use std::fmt;
use std::sync::Arc;

use crate::{Error, ServiceName, wire};

/// A traffic lane (`gray`, `dev-alice`): a validated tag, cheap to clone.
///
/// The rule is in [`crate::wire`]: 1 to [`wire::MAX_LANE_LEN`] bytes of ASCII
/// letters, digits, `-`, `_` and `.`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane(Arc<str>);

impl Lane {
    /// Validates and wraps a lane value.
    pub fn new(lane: impl AsRef<str>) -> Result<Self, Error> {
        let lane = lane.as_ref();
        if Self::is_valid(lane.as_bytes()) {
            Ok(Lane(Arc::from(lane)))
        } else {
            Err(Error::InvalidLane {
                lane: lane.to_owned(),
                max: wire::MAX_LANE_LEN,
            })
        }
    }

    /// Whether `bytes` is a valid lane value (no allocation; for parsers).
    pub fn is_valid(bytes: &[u8]) -> bool {
        !bytes.is_empty()
            && bytes.len() <= wire::MAX_LANE_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    /// The lane as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// What sae knows about the request being served, stored in the request's
/// [`http::Extensions`] by the server layers. A request without one is in
/// the base lane with no known caller (the lane layer stores nothing then,
/// so such a request allocates no extension map).
///
/// ```
/// use sae_core::{Lane, RequestContext};
///
/// let mut request = http::Request::new(());
/// RequestContext { lane: Some(Lane::new("gray")?), caller: None }
///     .insert_into(request.extensions_mut());
/// let context = RequestContext::from_extensions(request.extensions()).unwrap();
/// assert_eq!(context.lane.as_ref().map(Lane::as_str), Some("gray"));
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The lane of the request; `None` is the base lane.
    pub lane: Option<Lane>,
    /// The calling service, when the caller said.
    pub caller: Option<ServiceName>,
}

impl RequestContext {
    /// The context stored in `extensions`, if a server layer put one there.
    pub fn from_extensions(extensions: &http::Extensions) -> Option<&RequestContext> {
        extensions.get::<RequestContext>()
    }

    /// Stores this context in `extensions`, replacing any earlier one.
    pub fn insert_into(self, extensions: &mut http::Extensions) {
        extensions.insert(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_follow_the_wire_rule() {
        let longest = "l".repeat(wire::MAX_LANE_LEN);
        for good in ["gray", "dev-alice", "v1.2_beta", "A", longest.as_str()] {
            assert_eq!(Lane::new(good).unwrap().as_str(), good);
            assert!(Lane::is_valid(good.as_bytes()));
        }
        let too_long = "l".repeat(wire::MAX_LANE_LEN + 1);
        for bad in [
            "",
            "bad lane!",
            "gray,blue",
            "grày",
            "a/b",
            too_long.as_str(),
        ] {
            assert!(!Lane::is_valid(bad.as_bytes()), "{bad:?}");
            let error = Lane::new(bad).unwrap_err();
            assert!(
                matches!(&error, Error::InvalidLane { lane, max: wire::MAX_LANE_LEN } if lane == bad)
            );
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn lane_displays_as_its_value() {
        let lane = Lane::new("gray").unwrap();
        assert_eq!(lane.to_string(), "gray");
        assert_eq!(format!("{lane:?}"), "\"gray\"");
    }

    #[test]
    fn context_round_trips_through_extensions_and_is_replaced() {
        let mut extensions = http::Extensions::new();
        assert_eq!(RequestContext::from_extensions(&extensions), None);
        let gray = RequestContext {
            lane: Some(Lane::new("gray").unwrap()),
            caller: Some(ServiceName::new("frontend").unwrap()),
        };
        gray.clone().insert_into(&mut extensions);
        assert_eq!(RequestContext::from_extensions(&extensions), Some(&gray));
        RequestContext::default().insert_into(&mut extensions);
        assert_eq!(
            RequestContext::from_extensions(&extensions),
            Some(&RequestContext::default())
        );
    }
}
