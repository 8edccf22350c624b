//! The embedded registry (in progress).
/// Placeholder until the memory registry lands.
#[derive(Debug)]
pub struct MemoryRegistry;
