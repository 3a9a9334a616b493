//! `isobench run --rootfs … --cmd … --ready …`: the flags of a user's workload, checked into
//! the [`UserWorkload`] every isolator runs and the record of it in run.json.
//!
//! `--cmd` is split like a POSIX shell splits words (quotes and backslashes; no variables, no
//! globbing, no pipes) with the `shlex` crate: one flag, written as the user would type it.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use isolators::protocol::{Mode, ReadyCheck, UserCommand, Workload};
use isolators::user_workload::{UserRootfs, UserWorkload};

/// Where the command's name is looked up inside the rootfs when it has no `/` (the probe's
/// default PATH, unless `--env PATH=…` says otherwise).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Time a launch may take beyond the readiness check's own timeout (an engine, a VM boot).
pub const LAUNCH_SLACK: Duration = Duration::from_secs(30);

#[derive(Debug, Args, Clone, Default)]
pub struct UserWorkloadArgs {
    /// Your workload's root filesystem: a directory, a tarball, a `docker save` archive or an
    /// OCI layout (`/`, the host's own root, runs the command on the host: the process baseline
    /// only). Goes with --cmd and --ready.
    #[arg(long, value_name = "PATH")]
    pub rootfs: Option<PathBuf>,
    /// The command to run in it, split into words as a shell would (quotes, backslashes; no
    /// variables, globs or pipes), e.g. --cmd 'python3 -m http.server 8080'.
    #[arg(long, value_name = "COMMAND")]
    pub cmd: Option<String>,
    /// Set a variable in the command's environment (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// The command's working directory inside the rootfs.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub workdir: String,
    /// When the command is ready, checked inside the isolate: tcp:PORT (a connect on
    /// loopback), file:PATH (exists), log:REGEX (a line of its output), exit:CODE (a batch job:
    /// startup is its whole run).
    #[arg(long, value_name = "CHECK")]
    pub ready: Option<ReadyCheck>,
    /// How long the readiness check may take, e.g. 30s, 1m, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when an instance is released, e.g. 2s.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub stop_grace: Duration,
}

impl UserWorkloadArgs {
    /// The user's workload, or None when none of --rootfs, --cmd, --ready is given. `workload`
    /// is `--workload` as given: with a user workload it must be `exec` (or the default).
    pub fn build(&self, workload: &Workload) -> Result<Option<Arc<UserWorkload>>> {
        let given = [
            ("--rootfs", self.rootfs.is_some()),
            ("--cmd", self.cmd.is_some()),
            ("--ready", self.ready.is_some()),
        ];
        if given.iter().all(|(_, is)| !is) {
            if workload.mode == Mode::Exec {
                bail!("--workload exec runs your command: give --rootfs, --cmd and --ready");
            }
            if !self.env.is_empty() || self.workdir != "/" {
                bail!(
                    "--env and --workdir shape your command: give --rootfs, --cmd and --ready too"
                );
            }
            return Ok(None);
        }
        let missing: Vec<&str> = given
            .iter()
            .filter(|(_, is)| !is)
            .map(|(f, _)| *f)
            .collect();
        if !missing.is_empty() {
            bail!(
                "--rootfs, --cmd and --ready go together: missing {}",
                missing.join(" and ")
            );
        }
        if !matches!(workload.mode, Mode::Exec | Mode::Noop) {
            bail!(
                "--workload {workload} conflicts with --cmd: with --rootfs/--cmd/--ready the probe runs your command (workload exec)"
            );
        }
        let (Some(path), Some(cmd), Some(ready)) = (&self.rootfs, &self.cmd, &self.ready) else {
            unreachable!("all three were checked above");
        };
        let argv = split_command(cmd)?;
        if !self.workdir.starts_with('/') {
            bail!(
                "--workdir {}: must be an absolute path inside the rootfs",
                self.workdir
            );
        }
        let rootfs = UserRootfs::open(path)?;
        check_command_in_rootfs(&rootfs, &argv[0], &self.env)?;
        let command = UserCommand {
            argv,
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            ready: ready.clone(),
            ready_timeout_ms: self.ready_timeout.as_millis() as u64,
            stop_grace_ms: self.stop_grace.as_millis() as u64,
        };
        Ok(Some(Arc::new(UserWorkload { rootfs, command })))
    }

    /// The per-trial timeout for ready and gone: at least the readiness timeout plus launch
    /// slack, and the stop grace plus that slack.
    pub fn trial_timeout(&self, asked: Duration) -> Duration {
        asked
            .max(self.ready_timeout + LAUNCH_SLACK)
            .max(self.stop_grace + LAUNCH_SLACK)
    }
}

/// What run.json records of the user's workload.
pub fn record(user: &UserWorkload) -> reports::UserWorkloadRecord {
    let command = &user.command;
    reports::UserWorkloadRecord {
        rootfs: user.rootfs.given.display().to_string(),
        rootfs_kind: match &user.rootfs.unpacked {
            Some(unpacked) => unpacked.format.clone(),
            None => format!("{:?}", user.rootfs.source).to_lowercase(),
        },
        tree_digest: (user.rootfs.unpacked.as_ref()).map(|u| format!("sha256:{}", u.sha256_hex)),
        argv: command.argv.clone(),
        env_keys: command.env.iter().map(|(key, _)| key.clone()).collect(),
        workdir: command.workdir.clone(),
        ready: command.ready.to_string(),
        ready_timeout_ms: command.ready_timeout_ms,
        stop_grace_ms: command.stop_grace_ms,
    }
}

fn split_command(cmd: &str) -> Result<Vec<String>> {
    let Some(argv) = shlex::split(cmd) else {
        bail!("--cmd {cmd:?}: unbalanced quotes or a trailing backslash");
    };
    if argv.is_empty() {
        bail!("--cmd is empty: give the command to run, e.g. --cmd 'python3 -m http.server 8080'");
    }
    Ok(argv)
}

/// The command must exist in the rootfs: by its path, or by its name in PATH (`--env PATH=…`
/// or the probe's default).
fn check_command_in_rootfs(
    rootfs: &UserRootfs,
    program: &str,
    env: &[(String, String)],
) -> Result<()> {
    let exists = |inside: &str| exists_in_tree(&rootfs.tree, Path::new(inside));
    if program.contains('/') {
        if !program.starts_with('/') {
            bail!("--cmd {program}: give the command's absolute path inside the rootfs, or its bare name");
        }
        if !exists(program) {
            bail!(
                "--cmd {program}: no such file in the rootfs {} — install it there or fix the path",
                rootfs.given.display()
            );
        }
        return Ok(());
    }
    let path = env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map_or(DEFAULT_PATH, |(_, value)| value.as_str());
    let found = path
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .any(|dir| exists(&Path::new(dir).join(program).to_string_lossy()));
    if !found {
        bail!(
            "--cmd {program}: not found in the rootfs {} (looked in {path}) — install it there or give its absolute path",
            rootfs.given.display()
        );
    }
    Ok(())
}

/// Whether `inside` names something in the tree, following symlinks as the isolate would see
/// them: an absolute link target (`bin -> /usr/bin`) starts again at the tree's root, never at
/// the host's, and `..` stops at that root.
fn exists_in_tree(tree: &Path, inside: &Path) -> bool {
    use std::path::Component;
    let push_reversed = |pending: &mut Vec<std::ffi::OsString>, path: &Path| {
        for part in path.components().rev() {
            match part {
                Component::Normal(name) => pending.push(name.to_owned()),
                Component::ParentDir => pending.push("..".into()),
                _ => {}
            }
        }
    };
    let mut pending = Vec::new();
    push_reversed(&mut pending, inside);
    let mut resolved = PathBuf::new();
    let mut links_followed = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let Ok(meta) = std::fs::symlink_metadata(tree.join(&candidate)) else {
            return false;
        };
        if !meta.file_type().is_symlink() {
            resolved = candidate;
            continue;
        }
        links_followed += 1;
        let Ok(target) = std::fs::read_link(tree.join(&candidate)) else {
            return false;
        };
        // As the kernel does (ELOOP), give up on a loop.
        if links_followed > 40 {
            return false;
        }
        if target.is_absolute() {
            resolved = PathBuf::new();
        }
        push_reversed(&mut pending, &target);
    }
    true
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() && !key.contains('\0') && !value.contains('\0') => {
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not KEY=VALUE (e.g. --env LANG=C.UTF-8)"
        )),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?}: {e} (write e.g. 30s, 1m, 500ms)"))?;
    if duration.is_zero() {
        return Err(format!("{text:?}: must be more than zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(rootfs: Option<&Path>, cmd: Option<&str>, ready: Option<&str>) -> UserWorkloadArgs {
        UserWorkloadArgs {
            rootfs: rootfs.map(Path::to_path_buf),
            cmd: cmd.map(str::to_string),
            ready: ready.map(|r| r.parse().unwrap()),
            workdir: "/".into(),
            ready_timeout: Duration::from_secs(30),
            stop_grace: Duration::from_secs(2),
            ..Default::default()
        }
    }

    fn error(args: &UserWorkloadArgs, workload: &str) -> String {
        let text = args
            .build(&workload.parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(!text.contains('\n'), "{text}");
        text
    }

    #[test]
    fn the_three_flags_go_together_and_the_command_must_be_in_the_rootfs() {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("bin")).unwrap();
        std::fs::write(tree.path().join("bin/busybox"), b"").unwrap();
        std::os::unix::fs::symlink("busybox", tree.path().join("bin/sh")).unwrap();
        let root = Some(tree.path());
        assert!(args(None, None, None)
            .build(&Workload::noop())
            .unwrap()
            .is_none());
        let text = error(&args(None, None, None), "exec");
        assert!(text.contains("give --rootfs, --cmd and --ready"), "{text}");
        let text = error(&args(root, None, None), "noop");
        assert!(text.contains("missing --cmd and --ready"), "{text}");
        let text = error(&args(root, Some("sh -c 'true'"), Some("exit:0")), "touch:4");
        assert!(text.contains("conflicts with --cmd"), "{text}");
        let text = error(&args(root, Some("  "), Some("exit:0")), "noop");
        assert!(text.contains("--cmd is empty"), "{text}");
        let text = error(&args(root, Some("sh -c 'true"), Some("exit:0")), "noop");
        assert!(text.contains("unbalanced quotes"), "{text}");
        let text = error(
            &args(root, Some("python3 -m http.server"), Some("tcp:80")),
            "noop",
        );
        assert!(text.contains("python3: not found in the rootfs"), "{text}");
        let text = error(&args(root, Some("/usr/bin/env"), Some("exit:0")), "noop");
        assert!(text.contains("no such file in the rootfs"), "{text}");
        let missing = tree.path().join("nope");
        let text = error(&args(Some(&missing), Some("sh"), Some("exit:0")), "noop");
        assert!(text.starts_with("--rootfs"), "{text}");

        let user = args(root, Some("sh -c 'echo a b'"), Some("exit:0"))
            .build(&"exec".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(user.command.argv, ["sh", "-c", "echo a b"]);
        let record = record(&user);
        assert_eq!(record.rootfs_kind, "directory");
        assert_eq!(record.ready, "exit:0");
    }

    #[test]
    fn the_command_is_looked_up_in_the_tree_not_on_the_host() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/tool"), b"").unwrap();
        // Debian's merged /usr, with an absolute link: it must resolve inside the tree.
        std::os::unix::fs::symlink("/usr/bin", root.join("bin")).unwrap();
        std::os::unix::fs::symlink("../../bin/tool", root.join("usr/bin/alias")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(exists_in_tree(root, Path::new("/bin/tool")));
        assert!(exists_in_tree(root, Path::new("/usr/bin/alias")));
        assert!(exists_in_tree(root, Path::new("/../../usr/bin/tool")));
        // The host has /bin/sh; the tree does not.
        assert!(Path::new("/bin/sh").exists());
        assert!(!exists_in_tree(root, Path::new("/bin/sh")));
        assert!(!exists_in_tree(root, Path::new("/loop")));
    }

    #[test]
    fn trial_timeout_leaves_room_for_the_readiness_check() {
        let mut user = args(None, None, None);
        user.ready_timeout = Duration::from_secs(60);
        assert_eq!(
            user.trial_timeout(Duration::from_secs(30)),
            Duration::from_secs(90)
        );
        assert_eq!(
            user.trial_timeout(Duration::from_secs(300)),
            Duration::from_secs(300)
        );
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_env("=x").is_err());
        assert_eq!(parse_env("A=b=c"), Ok(("A".into(), "b=c".into())));
    }
}
