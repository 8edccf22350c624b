//! [`AdminToken`]: the bearer token of a non-loopback admin listener.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use sae_core::Error;

/// A bearer token the admin endpoints require. Its value never appears in
/// `Debug` output or logs.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8]>);

/// Shortest accepted token: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

impl AdminToken {
    /// Validates a token: at least [`MIN_TOKEN_LEN`] bytes of visible ASCII
    /// (what an `Authorization` header can carry).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the rule, without echoing the token.
    pub fn new(token: impl AsRef<str>) -> Result<Self, Error> {
        let token = token.as_ref().as_bytes();
        if token.len() < MIN_TOKEN_LEN || !token.iter().all(u8::is_ascii_graphic) {
            return Err(Error::Config {
                at: "admin_token".into(),
                message: format!(
                    "the admin token must be at least {MIN_TOKEN_LEN} bytes of visible ASCII"
                ),
            });
        }
        Ok(AdminToken(Arc::from(token)))
    }

    /// Whether `headers` carry `Authorization: Bearer <this token>`. Never
    /// panics on malformed or non-UTF-8 headers; compares without an early
    /// exit so the time taken does not reveal how much of a guess was right.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false; // none, or ambiguous
        };
        let value = value.as_bytes();
        const SCHEME: &[u8] = b"bearer ";
        if value.len() < SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
            return false;
        }
        constant_time_eq(value[SCHEME.len()..].trim_ascii(), &self.0)
    }
}

fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    // The length is not secret (it is at least MIN_TOKEN_LEN); the content is.
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}
