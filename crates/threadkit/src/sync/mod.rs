//! Synchronization primitives (`threading.Lock`, `RLock`, `Condition`, ...).
