//! OpenTelemetry tracing for sae: not implemented yet.
//!
//! This crate is reserved for the tracing layers (server and client spans
//! following the OpenTelemetry semantic conventions, W3C propagation, RED
//! metrics, OTLP export and the call topology). It exports nothing today;
//! enabling the `trace` feature of `sae` adds no behaviour until it lands.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
