//! Loading results files: malformed and older-schema files give one clear line.
mod common;

use reports::schema::{LoadError, RunRecord};

#[test]
fn round_trips_the_fixture() {
    let record = common::record(4, false);
    let text = String::from_utf8(reports::json(&record)).expect("utf-8");
    let loaded = RunRecord::from_json("run.json", &text).expect("loads");
    // Floats may differ in the last bit (serde_json's default float parsing), so compare shape.
    assert_eq!(loaded.isolators.len(), record.isolators.len());
    assert_eq!(loaded.host, record.host);
    assert_eq!(loaded.warnings, record.warnings);
    for (a, b) in loaded.isolators.iter().zip(&record.isolators) {
        assert_eq!(a.samples, b.samples, "{}", a.name);
    }
}

#[test]
fn malformed_file_is_one_line() {
    for text in [
        "{ not json",
        "[1, 2, 3]",
        "{\"schema_version\": 1, \"isolators\": 7}",
    ] {
        let error = RunRecord::from_json("broken.json", text).expect_err("malformed");
        assert!(
            matches!(error, LoadError::Malformed { .. }),
            "{text}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("broken.json: not an isobench results file"),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn older_schema_is_one_line_naming_both_versions() {
    let record = common::record(2, false);
    let mut value: serde_json::Value =
        serde_json::from_slice(&reports::json(&record)).expect("json");
    value["schema_version"] = 0.into();
    let error = RunRecord::from_json("old.json", &value.to_string()).expect_err("old schema");
    let message = error.to_string();
    assert!(
        matches!(error, LoadError::WrongVersion { found: 0, .. }),
        "{error:?}"
    );
    assert!(
        message.contains("version 0") && message.contains("version 1"),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn guest_and_emulation_are_spelled_in_lowercase_and_round_trip() {
    use reports::schema::{Flag, GuestKind};
    let mut record = common::record(2, false);
    let vm = record
        .isolators
        .iter_mut()
        .find(|i| i.name == "microvm")
        .expect("microvm");
    vm.guest = Some(GuestKind::Linux);
    vm.emulated = true;
    vm.flags = vec![Flag::Emulated];
    let value: serde_json::Value = serde_json::from_slice(&reports::json(&record)).expect("json");
    let vm = &value["isolators"][5];
    assert_eq!(vm["name"], "microvm");
    assert_eq!(
        (&vm["guest"], &vm["emulated"], &vm["flags"][0]),
        (
            &serde_json::json!("linux"),
            &serde_json::json!(true),
            &serde_json::json!("emulated")
        )
    );
    let container = &value["isolators"][1];
    assert_eq!(container["guest"], "none");
    assert!(
        container.get("emulated").is_none(),
        "written only when true"
    );
    let loaded = RunRecord::from_json("run.json", &value.to_string()).expect("loads");
    let vm = loaded.isolator("microvm").unwrap();
    assert_eq!((vm.guest, vm.emulated), (Some(GuestKind::Linux), true));
}

/// A run.json names its samples log; the name comes from the file, so it may only name a file
/// beside it: an absolute path or `..` would read elsewhere (a device would never end).
#[test]
fn samples_file_is_only_a_name_beside_run_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["/dev/zero", "../samples.jsonl", "..", "sub/samples.jsonl"] {
        let mut record = common::record(2, false);
        record.samples_file = Some(name.to_string());
        let path = dir.path().join("run.json");
        std::fs::write(&path, reports::json(&record)).expect("write");
        let error = RunRecord::load(&path).expect_err(name);
        let message = error.to_string();
        assert!(
            message.contains("is not a file name beside run.json"),
            "{name}: {message}"
        );
    }
    // A FIFO beside it, named plainly, is refused as not a regular file, not read forever.
    let fifo = dir.path().join("samples.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let mut record = common::record(2, false);
    record.samples_file = Some("samples.jsonl".into());
    std::fs::write(dir.path().join("run.json"), reports::json(&record)).expect("write");
    let message = RunRecord::load(&dir.path().join("run.json"))
        .expect_err("fifo")
        .to_string();
    assert!(message.contains("not a regular file"), "{message}");
}
