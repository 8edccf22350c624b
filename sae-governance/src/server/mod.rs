//! Provider side (in progress).
