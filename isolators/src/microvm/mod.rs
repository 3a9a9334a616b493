//! The `microvm` isolator: one `isobench-vmm` process per instance, booting the bare or Linux guest.
