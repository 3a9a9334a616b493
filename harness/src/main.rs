//! `isobench`: the command line.
fn main() {}
