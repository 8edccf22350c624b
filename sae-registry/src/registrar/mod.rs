//! The provider-side registrar (in progress).
/// Placeholder until the registrar lands.
#[derive(Debug)]
pub struct Registrar;
