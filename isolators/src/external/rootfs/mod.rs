//! Rootfs tools found on the host — unshare, bwrap — each a [`tool::RootfsTool`] under one
//! generic [`tool::RootfsIsolator`] that chroots or pivots into the probe rootfs.
pub mod bwrap;
pub mod tool;
pub mod unshare;

pub use tool::{RootfsIsolator, RootfsTool};
