//! Service registries for sae.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod memory;
pub mod registrar;
mod url;

pub use memory::MemoryRegistry;
pub use registrar::Registrar;
pub use url::from_url;
#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdRegistry};
