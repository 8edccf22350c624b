//! from_url (in progress).
/// Placeholder.
pub fn from_url(_url: &str) {}
