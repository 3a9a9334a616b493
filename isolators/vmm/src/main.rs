//! `isobench-vmm`: boots one VM and reports its boot-timer stamp to the harness.
fn main() {}
