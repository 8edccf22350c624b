//! The traffic lane: [`Lane`], and the lane of the request a task is
//! serving ([`current`], [`scope`], [`carry`]).
//!
//! The server side decides a request's lane and runs its handler inside
//! [`scope`]; every client reads [`current`] for each outbound call, so the
//! lane reaches the next hop with no code in handlers.

mod scope;

use std::fmt;
use std::sync::Arc;

use crate::{Error, wire};

pub use scope::{carry, current, scope};

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
}
