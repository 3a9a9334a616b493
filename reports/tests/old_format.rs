//! Files written before the schema was typed (`tests/fixtures/old-*.json`, genuine output of
//! `isobench run` and `isobench density` at 03cb949) still load, write back byte for byte, and
//! render; an unknown word in one fails with one line naming the field.
use std::path::PathBuf;

use reports::schema::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> RunRecord {
    RunRecord::load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The fixture with one value replaced, as a loading error.
fn with_value(name: &str, pointer: &str, value: &str) -> String {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    *json.pointer_mut(pointer).expect(pointer) = value.into();
    RunRecord::from_json(name, &json.to_string())
        .expect_err("an unknown word is refused")
        .to_string()
}

#[test]
fn old_files_load_into_the_typed_schema() {
    let run = load("old-run.json");
    assert_eq!(run.config.order, Order::Interleaved);
    assert_eq!(run.config.workload, Workload::noop());
    assert_eq!(run.host.cgroup_mode, CgroupMode::Hybrid);
    assert_eq!(run.host.kvm_provider, KvmProvider::Software);
    let microvm = run.isolator("microvm").unwrap();
    assert_eq!(
        (microvm.kind, microvm.kernel),
        (Kind::Microvm, KernelKind::Own)
    );
    assert!(microvm.flags.contains(&Flag::SoftwareKvm));
    // Written before records said which guest ran: inferred from the boundary text.
    assert_eq!((microvm.guest, microvm.emulated), (None, false));
    assert_eq!(microvm.guest(), GuestKind::Bare);
    assert_eq!(run.isolator("container").unwrap().guest(), GuestKind::None);
    assert!(microvm.status.is_available());
    assert!(run
        .warnings
        .iter()
        .any(|w| w.code == WarningCode::EngineWorkaround));
    let sample = &run.isolator("container").unwrap().samples[0];
    assert_eq!(
        sample.memory.footprint_bytes,
        sample.memory.usage.footprint_bytes()
    );

    let density = load("old-density.json");
    assert_eq!(
        density.config.order,
        Order::Density {
            instances: vec![1, 5],
            parallel: 1
        }
    );
    assert_eq!(density.density.len(), 4);
}

/// Whether two lines of pretty JSON say the same: equal, or the same key with floats that
/// differ in the last digit (serde_json's default float parsing may land one ulp away).
fn same_line(old: &str, new: &str) -> bool {
    let float = |line: &str| -> Option<(String, f64)> {
        let (key, value) = line.rsplit_once(": ")?;
        Some((key.to_string(), value.trim_end_matches(',').parse().ok()?))
    };
    old == new
        || matches!((float(old), float(new)), (Some((k1, v1)), Some((k2, v2)))
            if k1 == k2 && (v1 - v2).abs() <= v1.abs() * 1e-15)
}

#[test]
fn old_files_write_back_unchanged() {
    for name in ["old-run.json", "old-density.json"] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let written = String::from_utf8(reports::json(&load(name))).unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        let again: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(again, original, "{name}");
        // Same fields in the same order, line for line.
        assert_eq!(text.lines().count(), written.lines().count(), "{name}");
        let differs = text
            .lines()
            .zip(written.lines())
            .position(|(old, new)| !same_line(old, new));
        assert_eq!(
            differs.map(|line| (line + 1, text.lines().nth(line), written.lines().nth(line))),
            None,
            "{name}: first line that differs"
        );
    }
}

#[test]
fn old_files_render() {
    for name in ["old-run.json", "old-density.json"] {
        let record = load(name);
        let terminal = reports::terminal::render(&record);
        let markdown = reports::markdown::render(&record);
        assert!(terminal.contains("process"), "{name}: {terminal}");
        assert!(markdown.starts_with("# isobench results"), "{name}");
        reports::csv::render(&record).expect("csv");
        let dir = tempfile::tempdir().unwrap();
        reports::html::write(&record, dir.path(), &[]).expect("html");
        assert!(dir.path().join("index.html").exists(), "{name}");
    }
    let run = reports::terminal::render(&load("old-run.json"));
    assert!(run.contains("software-kvm"), "{run}");
}

#[test]
fn old_files_render_dashes_where_host_cost_was_never_measured() {
    let run = load("old-run.json");
    assert!(run.isolators.iter().all(|i| i.host_cost.is_none()));
    assert!(run
        .isolators
        .iter()
        .flat_map(|i| &i.samples)
        .all(|s| s.cpu_ns.is_none()));
    let column = |header: &str| {
        reports::table::HEADER
            .iter()
            .position(|h| *h == header)
            .unwrap()
    };
    for row in reports::table::rows(&run) {
        assert_eq!(row[column("launch CPU")], "—", "{row:?}");
        assert_eq!(row[column("host mem cost")], "—", "{row:?}");
    }
    assert!(reports::table::footnotes(&run).is_empty());
    let markdown = reports::markdown::render(&run);
    assert!(!markdown.contains("Host cost per instance"), "{markdown}");
    assert!(
        markdown.contains("| memory overhead vs process (attributed: PSS + cgroup kernel) |"),
        "{markdown}"
    );
    let csv = String::from_utf8(reports::csv::render(&run).expect("csv")).unwrap();
    let second = csv.lines().nth(1).unwrap();
    assert!(
        second.ends_with(",,,,,,,,,,"),
        "no host cells but empty ones: {second}"
    );
    let dir = tempfile::tempdir().unwrap();
    reports::html::write(&run, dir.path(), &[]).expect("html");
    assert!(!dir.path().join("host_cost.png").exists());

    let density = load("old-density.json");
    assert!(density.density.iter().all(|p| p.host.is_none()));
    let rows = reports::detail::density_rows(&density);
    let host_used = reports::detail::DENSITY_HEADER
        .iter()
        .position(|h| *h == "host used per instance")
        .unwrap();
    assert!(rows.iter().all(|r| r[host_used] == "—"), "{rows:?}");
    let line = reports::density::row(&density.density[0]);
    assert_eq!(
        line.matches('—').count(),
        3,
        "absent host figures are dashes: {line}"
    );
    let markdown = reports::markdown::render(&density);
    assert!(!markdown.contains("Host cost per instance"), "{markdown}");
}

#[test]
fn an_unknown_kind_is_one_line_naming_the_field() {
    let message = with_value("old-run.json", "/isolators/0/kind", "vm");
    assert!(
        message.contains("isolators[0].kind: unknown variant `vm`, expected one of `process`, `container`, `sandbox`, `microvm`"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn an_unknown_flag_is_one_line_naming_the_field() {
    let message = with_value("old-run.json", "/isolators/2/flags/0", "fast");
    assert!(
        message.contains("isolators[2].flags[0]: unknown variant `fast`"),
        "{message}"
    );
    assert!(message.contains("`software-kvm`"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn other_unknown_words_name_their_field() {
    for (pointer, value, field) in [
        ("/warnings/0/code", "cosmic-rays", "warnings[0].code"),
        ("/host/kvm_provider", "magic", "host.kvm_provider"),
        ("/host/cgroup_mode", "v3", "host.cgroup_mode"),
        ("/config/order", "random", "config.order"),
        ("/config/workload", "dance", "config.workload"),
        ("/isolators/1/kernel", "borrowed", "isolators[1].kernel"),
    ] {
        let message = with_value("old-run.json", pointer, value);
        assert!(message.contains(&format!("{field}: ")), "{message}");
        assert!(message.contains(value), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}
