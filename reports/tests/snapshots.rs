//! Snapshot tests of the text renderers against checked-in files (UPDATE_SNAPSHOTS=1 rewrites them).
mod common;

use std::path::PathBuf;

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from the snapshot at line {}:\n expected: {:?}\n   actual: {:?}\n(run with UPDATE_SNAPSHOTS=1 if the change is intended)",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

#[test]
fn terminal_matches_snapshot() {
    check(
        "terminal.txt",
        &reports::terminal::render(&common::record(10, false)),
    );
}

#[test]
fn markdown_matches_snapshot() {
    check(
        "report.md",
        &reports::markdown::render(&common::record(10, false)),
    );
}

#[test]
fn csv_matches_snapshot() {
    let bytes = reports::csv::render(&common::record(10, false)).expect("csv renders");
    check("samples.csv", &String::from_utf8(bytes).expect("utf-8"));
}
