//! The terminal table at real terminal widths: nothing runs past the edge, nothing important
//! is lost, and colour codes appear only when asked for.
mod common;

use reports::terminal::{render_with, Options};

#[test]
fn every_line_fits_the_terminal_width() {
    let record = common::record(10, false);
    for width in [80, 100, 120, 160] {
        let text = render_with(
            &record,
            Options {
                width: Some(width),
                color: false,
            },
        );
        println!("--- width {width}\n{text}");
        for line in text.lines() {
            assert!(
                line.chars().count() <= width,
                "width {width}: {line:?} is {} long",
                line.chars().count()
            );
        }
        // Wrapped lines read as one text.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for expected in [
            "microvm*",
            "firecracker",
            "unavailable",
            "* software-kvm",
            "software KVM and mean nothing",
        ] {
            assert!(flat.contains(expected), "width {width}: no {expected:?}");
        }
        // The headline numbers survive every width.
        for number in ["494 µs", "99.1 ms", "45×"] {
            assert!(flat.contains(number), "width {width}: no {number:?}");
        }
        // The host memory cost too (launch CPU may give way on a narrow terminal, and says so).
        assert!(flat.contains("host mem cost"), "width {width}");
        assert!(flat.contains("49.9 MiB"), "width {width}: no host mem cost");
        if width >= 160 {
            assert!(flat.contains("45.9 msᵃ"), "width {width}: no launch CPU");
        } else if !flat.contains("45.9 msᵃ") {
            assert!(flat.contains("too narrow for:"), "width {width}");
        }
    }
}

#[test]
fn colour_codes_only_when_asked() {
    let record = common::record(5, false);
    let plain = render_with(
        &record,
        Options {
            width: Some(120),
            color: false,
        },
    );
    assert!(!plain.contains('\x1b'));
    let coloured = render_with(
        &record,
        Options {
            width: Some(120),
            color: true,
        },
    );
    assert!(
        coloured.contains("\x1b[33m"),
        "warnings are not highlighted"
    );
    assert!(
        coloured.contains("\x1b[2m"),
        "the unavailable row is not dimmed"
    );
}
