//! Validated names: [`ServiceName`] and [`InstanceId`].

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use crate::Error;

/// Longest accepted service name, in bytes (a DNS label is 63; dotted names need more).
pub const MAX_SERVICE_NAME_LEN: usize = 128;

/// Longest accepted instance id, in bytes.
pub const MAX_INSTANCE_ID_LEN: usize = 128;

/// The name of a service: 1 to [`MAX_SERVICE_NAME_LEN`] bytes of lowercase
/// ASCII letters, digits, `-`, `_` and `.`, starting with a letter or digit.
///
/// The rule keeps names safe to use as registry keys, metric attributes and
/// DNS-like labels without escaping. Cloning is cheap (an `Arc<str>`).
///
/// ```
/// use sae_core::ServiceName;
/// let name = ServiceName::new("orders")?;
/// assert_eq!(name.as_str(), "orders");
/// assert!(ServiceName::new("Orders").is_err());
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(Arc<str>);

impl ServiceName {
    /// Validates `name` and wraps it.
    pub fn new(name: impl AsRef<str>) -> Result<Self, Error> {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::ServiceNameEmpty {
                max: MAX_SERVICE_NAME_LEN,
            });
        }
        if name.len() > MAX_SERVICE_NAME_LEN {
            return Err(Error::ServiceNameTooLong {
                name: name.to_owned(),
                len: name.len(),
                max: MAX_SERVICE_NAME_LEN,
            });
        }
        for (position, found) in name.char_indices() {
            let allowed = found.is_ascii_lowercase()
                || found.is_ascii_digit()
                || (position > 0 && matches!(found, '-' | '_' | '.'));
            if !allowed {
                return Err(Error::ServiceNameInvalidChar {
                    name: name.to_owned(),
                    found,
                    position,
                });
            }
        }
        Ok(ServiceName(Arc::from(name)))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unique id of one instance of a service: 1 to [`MAX_INSTANCE_ID_LEN`]
/// bytes of printable ASCII without whitespace or `/` (it is a path segment
/// in registry keys). Generated as a UUID v4 when not given.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(Arc<str>);

impl InstanceId {
    /// Validates `id` and wraps it.
    pub fn new(id: impl AsRef<str>) -> Result<Self, Error> {
        let id = id.as_ref();
        let valid = !id.is_empty()
            && id.len() <= MAX_INSTANCE_ID_LEN
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
        if valid {
            Ok(InstanceId(Arc::from(id)))
        } else {
            Err(Error::InvalidInstanceId {
                id: id.to_owned(),
                max: MAX_INSTANCE_ID_LEN,
            })
        }
    }

    /// A fresh random id (UUID v4, simple form).
    pub fn generate() -> Self {
        InstanceId(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_like {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                <$ty>::new(s)
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                <$ty>::new(s)
            }
        }
    };
}

string_like!(ServiceName);
string_like!(InstanceId);
