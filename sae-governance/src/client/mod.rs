//! Consumer side (in progress).
