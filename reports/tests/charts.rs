//! Every chart decodes as a PNG of the advertised size, and is a drawing, not a blank canvas.
mod common;

use std::collections::HashSet;

use reports::charts::{self, Rendered, HEIGHT, WIDTH};

/// Decodes PNG bytes into (width, height, RGB pixels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).expect("PNG image data");
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1 % channels], p[2 % channels]])
        .collect();
    (info.width, info.height, pixels)
}

/// Panics unless the image has many non-white pixels and several distinct colours.
pub fn assert_drawn(name: &str, pixels: &[[u8; 3]]) {
    let background = pixels.iter().filter(|p| **p == [255, 255, 255]).count();
    let drawn = pixels.len() - background;
    let colours: HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(
        drawn > pixels.len() / 50,
        "{name}: only {drawn} of {} pixels drawn",
        pixels.len()
    );
    assert!(
        colours.len() >= 8,
        "{name}: only {} distinct colours",
        colours.len()
    );
}

#[test]
fn every_chart_is_a_non_blank_png_of_the_expected_size() {
    let record = common::record(30, true);
    let all = charts::all(&record).expect("charts draw");
    assert_eq!(
        all.len(),
        7,
        "six charts and, with host-cost data, its chart"
    );
    for chart in &all {
        assert!(
            charts::FILE_NAMES.contains(&chart.file_name),
            "{}: not in FILE_NAMES, so a report would never write it",
            chart.file_name
        );
        let Rendered::Png(bytes) = &chart.rendered else {
            panic!("{}: not drawn: {:?}", chart.file_name, chart.rendered);
        };
        let (width, height, pixels) = decode(bytes);
        // The phase chart grows with its VM rows; the others have one size.
        if chart.file_name == "phases.png" {
            assert_eq!(width, WIDTH);
            assert!(
                (150..=1200).contains(&height),
                "phases.png: {height} px high"
            );
        } else {
            assert_eq!((width, height), (WIDTH, HEIGHT), "{}", chart.file_name);
        }
        assert_drawn(chart.file_name, &pixels);
        assert!(
            bytes.len() < 300_000,
            "{}: {} bytes",
            chart.file_name,
            bytes.len()
        );
    }
}

#[test]
fn chart_text_is_rendered_with_the_embedded_font() {
    // A chart with text only differs from one without if glyphs are drawn: compare the title
    // strip of the startup chart against pure white.
    let record = common::record(10, false);
    let Rendered::Png(bytes) = charts::startup::render(&record).expect("draws") else {
        panic!("startup chart not drawn");
    };
    let (width, _, pixels) = decode(&bytes);
    let title_strip = &pixels[..(width as usize * 24)];
    let inked = title_strip.iter().filter(|p| p[0] < 128).count();
    assert!(
        inked > 200,
        "title strip has only {inked} dark pixels: is the font registered?"
    );
}

#[test]
fn charts_without_data_are_skipped_with_a_reason() {
    let mut record = common::record(5, false);
    record.density.clear();
    for isolator in &mut record.isolators {
        isolator.disk = None;
    }
    let Rendered::NoData(reason) = charts::density::render(&record).expect("no error") else {
        panic!("density drawn without density results");
    };
    assert!(reason.contains("density"), "{reason}");
    assert!(matches!(
        charts::disk::render(&record).expect("no error"),
        Rendered::NoData(_)
    ));
    record.isolators.iter_mut().for_each(|i| i.samples.clear());
    assert!(matches!(
        charts::startup::render(&record).expect("no error"),
        Rendered::NoData(_)
    ));
    assert!(matches!(
        charts::memory::render(&record).expect("no error"),
        Rendered::NoData(_)
    ));
}

#[test]
fn startup_uses_a_linear_axis_for_a_narrow_spread() {
    // Only the process baseline: the spread is far below 20×, and the chart still draws.
    let mut record = common::record(10, false);
    record.isolators.truncate(1);
    let Rendered::Png(bytes) = charts::startup::render(&record).expect("draws") else {
        panic!("not drawn");
    };
    let (_, _, pixels) = decode(&bytes);
    assert_drawn("startup (one isolator)", &pixels);
}

#[test]
fn the_phase_chart_has_a_bar_per_vm_with_phases_and_grows_with_them() {
    let record = common::record(10, true);
    let Rendered::Png(bytes) = charts::phases::render(&record).expect("draws") else {
        panic!("phase chart not drawn");
    };
    let (_, tall, pixels) = decode(&bytes);
    assert_drawn("phases", &pixels);
    // microvm and qemu-tcg stamp phases, and cloud-hypervisor its one; qemu-microvm none.
    let mut fewer = record.clone();
    fewer.isolators.retain(|i| i.name != "cloud-hypervisor");
    let Rendered::Png(bytes) = charts::phases::render(&fewer).expect("draws") else {
        panic!("phase chart not drawn");
    };
    let (_, short, _) = decode(&bytes);
    assert!(
        tall - short >= 60,
        "one row (and its legend entry) less: {tall} vs {short}"
    );
    // No VM stamped phases: no chart, and why.
    fewer
        .isolators
        .iter_mut()
        .flat_map(|i| &mut i.samples)
        .for_each(|s| s.phases.clear());
    let Rendered::NoData(reason) = charts::phases::render(&fewer).expect("no error") else {
        panic!("drawn without phases");
    };
    assert!(reason.contains("phases"), "{reason}");
}

/// Columns holding a pure black vertical run of at least `run` pixels (bar marks; no glyph is that tall).
fn black_columns(width: u32, pixels: &[[u8; 3]], run: usize) -> usize {
    let width = width as usize;
    let height = pixels.len() / width;
    (0..width)
        .filter(|&x| {
            let mut longest = 0;
            let mut current = 0;
            for y in 0..height {
                if pixels[y * width + x] == [0, 0, 0] {
                    current += 1;
                    longest = longest.max(current);
                } else {
                    current = 0;
                }
            }
            longest >= run
        })
        .count()
}

#[test]
fn the_host_cost_chart_stacks_each_instance_and_marks_attribution_beyond_used() {
    let record = common::record(10, false);
    let Rendered::Png(bytes) = charts::host_cost::render(&record).expect("draws") else {
        panic!("host-cost chart not drawn");
    };
    let (width, height, pixels) = decode(&bytes);
    assert_eq!((width, height), (WIDTH, HEIGHT));
    assert_drawn("host_cost", &pixels);
    for (name, colour) in [
        ("user-space PSS", [31, 119, 180]),
        ("attributed kernel", [44, 160, 44]),
        ("unattributed", [170, 170, 170]),
    ] {
        let count = pixels.iter().filter(|p| **p == colour).count();
        // Several times the legend's 13×13 square: the bars are drawn in it.
        assert!(count > 500, "{name}: only {count} pixels");
    }
    // qemu-microvm's PSS exceeds its system-wide growth: a black mark at `used`. Without the
    // excess there is no mark.
    let marked = black_columns(width, &pixels, 25);
    let mut within = record.clone();
    let host = within
        .isolators
        .iter_mut()
        .find(|i| i.name == "qemu-microvm")
        .and_then(|i| i.host_cost.as_mut())
        .expect("fixture host cost");
    for sample in &mut host.samples {
        sample.attributed_user_bytes /= 2;
    }
    let Rendered::Png(bytes) = charts::host_cost::render(&within).expect("draws") else {
        panic!("host-cost chart not drawn");
    };
    let (_, _, unmarked) = decode(&bytes);
    let plain = black_columns(width, &unmarked, 25);
    assert!(
        marked >= plain + 2,
        "the excess mark is missing: {marked} black columns with it, {plain} without"
    );
}

#[test]
fn the_host_cost_chart_says_why_it_has_nothing_to_draw() {
    let mut record = common::record(5, false);
    record.density.clear();
    for isolator in &mut record.isolators {
        for sample in isolator.host_cost.iter_mut().flat_map(|h| &mut h.samples) {
            sample.disturbed = Some("the host moved".into());
        }
        if let Some(host) = &mut isolator.host_cost {
            host.per_instance_used_bytes = None;
            host.per_instance_attributed_kernel_bytes = None;
        }
    }
    let Rendered::NoData(reason) = charts::host_cost::render(&record).expect("no error") else {
        panic!("drawn though every batch was disturbed");
    };
    assert!(reason.contains("disturbed"), "{reason}");
    for isolator in &mut record.isolators {
        isolator.host_cost = None;
    }
    let Rendered::NoData(reason) = charts::host_cost::render(&record).expect("no error") else {
        panic!("drawn without host cost");
    };
    assert!(reason.contains("no host cost"), "{reason}");
    let names: Vec<&str> = charts::all(&record)
        .expect("charts draw")
        .iter()
        .map(|c| c.file_name)
        .collect();
    assert!(
        !names.contains(&charts::host_cost::FILE_NAME),
        "a run without host cost has no host-cost chart: {names:?}"
    );
}

#[test]
fn the_memory_chart_counts_estimated_kernel_memory() {
    // A process outside any cgroup: its kernel memory is only an estimate, which the footprint
    // counts, and so must the bar.
    let mut record = common::record(10, false);
    record.isolators.truncate(1);
    let draw = |record: &reports::RunRecord| {
        let Rendered::Png(bytes) = charts::memory::render(record).expect("draws") else {
            panic!("memory chart not drawn");
        };
        let (_, _, pixels) = decode(&bytes);
        pixels.iter().filter(|p| **p == [44, 160, 44]).count()
    };
    let without = draw(&record);
    for sample in &mut record.isolators[0].samples {
        let usage = &mut sample.memory.usage;
        usage.kernel_estimate_bytes = Some(usage.pss_bytes);
        usage.kernel_not_measured = Some("no cgroup of its own".into());
    }
    let with = draw(&record);
    assert!(
        with > without + 1000,
        "kernel estimate not drawn: {with} vs {without} green pixels"
    );
}
