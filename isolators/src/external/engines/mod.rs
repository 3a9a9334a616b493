//! Docker-like engines found on the host — docker, podman — each a [`cli::CliProfile`] under
//! one [`cli::CliIsolator`] that imports the probe rootfs as an image and `run`s it.
pub mod cli;
pub mod cli_support;
pub mod docker;
pub mod instance;
pub mod podman;

pub use cli::{CliIsolator, CliProfile};
pub use cli_support::{image_tag, leftover_containers};
