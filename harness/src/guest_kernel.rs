//! A Linux guest kernel before the first trial: when the run has Linux-guest VMs and no
//! kernel is found (`--kernel`, `ISOBENCH_KERNEL`, the cache, /boot), Debian's cloud kernel is
//! fetched into the cache with apt — downloaded and unpacked, never installed on this host.
use isolators::microvm::guest::find_kernel;
use isolators::{GuestKind, Isolator, IsolatorOptions};

/// Fetches the guest kernel if `isolators` need one and none is there; says on `say` what it
/// did, in one line when it could not. The run goes on either way: a Linux-guest VM without a
/// kernel is then listed as unavailable, with the same advice.
pub fn ensure(isolators: &[Box<dyn Isolator>], options: &IsolatorOptions, say: &dyn Fn(&str)) {
    let wants_linux = isolators.iter().any(|i| i.guest() == GuestKind::Linux);
    let chosen_by_user = options.kernel.is_some() || std::env::var_os("ISOBENCH_KERNEL").is_some();
    if !wants_linux || chosen_by_user || find_kernel(None).is_ok() {
        return;
    }
    if isolators::host::which("apt-get").is_none() {
        say("isobench: no guest kernel for the Linux-guest VMs and no apt-get to fetch one — pass --kernel PATH (a bzImage or PVH vmlinux) or set ISOBENCH_KERNEL");
        return;
    }
    let cache = isolators::kernel::cache_dir();
    say(&format!(
        "isobench: no guest kernel for the Linux-guest VMs; fetching Debian's cloud kernel into {} (unpacked, not installed)",
        cache.join("kernel").display()
    ));
    let progress = |line: &str| say(&format!("  {line}"));
    if let Err(error) = isolators::kernel::fetch_debian_kernel(&cache, &progress) {
        say(&format!("isobench: {error}"));
    }
}
