//! threadkit
fn main() {}
