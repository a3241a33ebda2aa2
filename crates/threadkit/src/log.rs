//! Logging through `tracing`, with thread names (seed 003's advice for debugging races).
