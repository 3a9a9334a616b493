//! What to tell a user who may not open /dev/kvm, from the device's actual owner group and
//! mode and the host's /etc/group: "add yourself to group kvm" only where that group exists
//! and may read and write the device. Shared by the VMM's error and the isolators' availability.
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The advice after "/dev/kvm: permission denied — ".
pub fn permission_advice(device: &Path) -> String {
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    match std::fs::metadata(device) {
        Ok(metadata) => advice_for(
            &device.display().to_string(),
            metadata.gid(),
            metadata.mode(),
            &group_file,
        ),
        Err(_) => "run as root".into(),
    }
}

/// The advice for a device owned by group `gid` with permission bits `mode`, given the text of
/// /etc/group.
pub fn advice_for(device: &str, gid: u32, mode: u32, group_file: &str) -> String {
    let group_rw = mode & 0o060 == 0o060;
    match group_name(gid, group_file) {
        Some(name) if gid != 0 && group_rw => format!(
            "add yourself to group {name}, which owns {device} (sudo usermod -aG {name} $USER, then log in again), or run as root"
        ),
        Some(name) if gid != 0 => format!(
            "{device} belongs to group {name} but the group may not read and write it (mode {:04o}) — run as root, or have it made {name}-writable (chmod g+rw, or a udev rule with MODE=\"0660\")",
            mode & 0o7777
        ),
        _ => format!(
            "{device} is accessible to root only here (group {}, mode {:04o}) — run as root, or have an administrator give it a group (a udev rule with GROUP=\"kvm\", MODE=\"0660\")",
            group_name(gid, group_file).unwrap_or_else(|| gid.to_string()),
            mode & 0o7777
        ),
    }
}

/// The name of group `gid` in /etc/group's text (`name:password:gid:members`).
fn group_name(gid: u32, group_file: &str) -> Option<String> {
    group_file.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == gid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::advice_for;

    const GROUPS: &str = "root:x:0:\nkvm:x:104:alice\n";

    #[test]
    fn a_kvm_group_that_may_use_the_device_is_named() {
        let advice = advice_for("/dev/kvm", 104, 0o20660, GROUPS);
        assert!(advice.starts_with("add yourself to group kvm"), "{advice}");
    }

    #[test]
    fn a_root_only_device_gets_no_group_advice() {
        let advice = advice_for("/dev/kvm", 0, 0o20600, GROUPS);
        assert!(!advice.contains("add yourself"), "{advice}");
        assert!(advice.contains("run as root") && advice.contains("group root, mode 0600"));
    }

    #[test]
    fn a_group_without_access_or_unknown_is_not_recommended() {
        let advice = advice_for("/dev/kvm", 104, 0o20600, GROUPS);
        assert!(!advice.contains("add yourself"), "{advice}");
        let advice = advice_for("/dev/kvm", 999, 0o20660, GROUPS);
        assert!(advice.contains("group 999"), "{advice}");
    }
}
