//! The HTML report: files written, strings escaped, size bounded, and the page renders with its
//! images in headless Chromium from file://.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use reports::html;

/// A fresh directory under cargo's per-target temp dir, kept after the test for inspection.
fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const LINKS: [(&str, &str); 2] = [("JSON", "run.json"), ("CSV", "run.csv")];

#[test]
fn writes_the_page_and_every_chart() {
    let dir = out_dir("html-fixture");
    let record = common::record(10, false);
    html::write(&record, &dir, &LINKS).expect("report written");
    let page = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    for file in [
        "startup.png",
        "phases.png",
        "memory.png",
        "host_cost.png",
        "disk.png",
        "teardown.png",
        "density.png",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
        assert!(
            page.contains(&format!("src=\"{file}\"")),
            "{file} not referenced"
        );
    }
    for expected in [
        "fixture-host",
        "software-kvm",
        "noisy-host",
        "engine-workaround",
        "<a href=\"run.json\">JSON</a>",
        "<a href=\"run.csv\">CSV</a>",
        "VMs vs containers",
        "<h3 id=\"tier-os\">With an OS (the textbook&#39;s sense)</h3>",
        "<h3 id=\"tier-floor\">Floor (no OS)</h3>",
        "VMs with Linux",
        "(qemu-tcg*, emulated)",
        "95% CI of median",
        "Startup phases",
        "kernel-loaded",
        "firecracker",
        "KVM_CREATE_VM failed",
        // The results table's host-cost columns, their footnotes and the host-cost section.
        "<th>launch CPU</th>",
        "<th>host mem cost</th>",
        "<td class=\"num\">45.9 msᵃ</td>",
        "ᵃ launch CPU attributed only",
        "over batches of 10 instances held at once",
        "<section id=\"host-cost\">",
        "<th>unattributed</th>",
        "exceeds used by 4.50 MiB",
        "batches of 10 (3, 1 disturbed)",
        "host-cost-noisy",
        "budget-reached",
        // The comparison names its memory source.
        "memory overhead vs process<br><small>host cost: system-wide, batches of 10; not measured for docker</small>",
        // Density points with host figures, the disturbed one marked.
        "<th>host used per instance</th>",
        "23.4 MiB ⚠",
        "disturbed: MemAvailable did not come back",
    ] {
        assert!(page.contains(expected), "page lacks {expected:?}");
    }
    // The record's strings are escaped, and nothing reaches the network.
    assert!(page.contains("pivot_root &lt;on &quot;tmpfs&quot;&gt; &amp; nested"));
    assert!(!page.contains("<on \"tmpfs\">"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "page refers to the network"
    );
    // The warnings come before the tables, and the OS tier (the headline) before the floor;
    // the host-cost chart sits in its own section, above its table, not among the others.
    assert!(page.find("id=\"warnings\"") < page.find("id=\"comparison\""));
    let section = page.find("id=\"host-cost\"").unwrap();
    let chart = page.find("src=\"host_cost.png\"").unwrap();
    assert!(section < chart && chart < page.find("<th>unattributed</th>").unwrap());
    assert!(chart < page.find("id=\"charts\"").unwrap());
    assert!(page.find("id=\"tier-os\"") < page.find("id=\"tier-floor\""));
}

#[test]
fn missing_data_is_noted_and_stale_charts_removed() {
    let dir = out_dir("html-no-density");
    let mut record = common::record(5, false);
    html::write(&record, &dir, &[]).expect("first report");
    assert!(dir.join("density.png").is_file());
    record.density.clear();
    html::write(&record, &dir, &[]).expect("second report");
    let page = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        !dir.join("density.png").exists(),
        "a stale density chart was left behind"
    );
    assert!(
        page.contains("<b>Density</b>: no chart"),
        "no note about the missing chart"
    );
    assert!(page.contains("too-few-runs"));
}

#[test]
fn a_run_without_host_cost_has_no_host_cost_section_and_no_stale_chart() {
    let dir = out_dir("html-no-host-cost");
    let mut record = common::record(5, false);
    html::write(&record, &dir, &[]).expect("first report");
    assert!(dir.join("host_cost.png").is_file());
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
    }
    for point in &mut record.density {
        point.host = None;
    }
    html::write(&record, &dir, &[]).expect("second report");
    let page = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    assert!(
        !dir.join("host_cost.png").exists(),
        "a stale host-cost chart was left behind"
    );
    assert!(
        !page.contains("id=\"host-cost\""),
        "host-cost section without data"
    );
    assert!(!page.contains("host_cost.png"));
    // The columns stay, with dashes where nothing was measured.
    assert!(page.contains("<th>host mem cost</th>"));
    assert!(
        !page.contains("over batches of"),
        "footnote without host cost"
    );
}

#[test]
fn a_thirty_run_twelve_isolator_report_stays_under_two_megabytes() {
    let dir = out_dir("html-large");
    let record = common::record(30, true);
    assert_eq!(record.isolators.len(), 14);
    html::write(&record, &dir, &LINKS).expect("report written");
    let total: u64 = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum();
    println!("fixture report: {total} bytes");
    assert!(total < 2 * 1024 * 1024, "report is {total} bytes");
}

#[test]
fn unwritable_directory_is_one_clear_line() {
    let file = out_dir("html-not-a-dir");
    std::fs::write(&file, b"a file").expect("write");
    let error =
        html::write(&common::record(3, false), &file, &[]).expect_err("cannot write into a file");
    let message = error.to_string();
    assert!(
        !message.contains('\n') && message.contains("html-not-a-dir"),
        "{message}"
    );
    std::fs::remove_file(&file).expect("cleanup");
}

/// Finds Chromium on PATH under its Debian or upstream names.
fn chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err("no chromium on PATH (apt-get install -y chromium)".into())
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut command = Command::new(browser);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

#[test]
fn chromium_loads_every_image_and_renders_the_page() {
    let Some(browser) = chromium().map_or_else(
        |e| {
            test_gate::run_if(
                "chromium_loads_every_image_and_renders_the_page",
                "chromium",
                Err(e),
            )
            .then(PathBuf::new)
        },
        Some,
    ) else {
        return;
    };
    let dir = out_dir("html-chromium");
    let record = common::record(30, false);
    html::write(&record, &dir, &LINKS).expect("report written");
    let url = format!("file://{}", dir.join("index.html").display());
    let profile = tempfile::tempdir().expect("profile dir");

    let dom = headless(&browser, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let attribute = |name: &str| -> Option<u32> {
        let start = dom_text.find(&format!("{name}=\""))? + name.len() + 2;
        dom_text[start..].split('"').next()?.parse().ok()
    };
    let (loaded, total) = (
        attribute("data-images-loaded"),
        attribute("data-images-total"),
    );
    println!("chromium: {loaded:?} of {total:?} images loaded");
    assert_eq!(total, Some(7), "the page should have 7 images");
    assert_eq!(loaded, Some(7), "not every image loaded");

    let screenshot = dir.join("screenshot.png");
    let shot = headless(&browser, profile.path())
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1200,2000")
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&screenshot).expect("screenshot written");
    let decoder = png::Decoder::new(bytes.as_slice());
    let mut reader = decoder.read_info().expect("screenshot is a PNG");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).expect("screenshot data");
    assert_eq!((info.width, info.height), (1200, 2000));
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buffer[..info.buffer_size()].chunks(channels).collect();
    let non_white = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().map(|p| &p[..3]).collect();
    println!(
        "screenshot: {non_white} non-white pixels, {} colours",
        colours.len()
    );
    assert!(
        non_white > pixels.len() / 20,
        "screenshot is nearly blank ({non_white} non-white pixels)"
    );
    assert!(
        colours.len() > 50,
        "screenshot has only {} colours",
        colours.len()
    );
}
