//! Human units for tables and charts: durations from nanoseconds, sizes from bytes, ratios.
//!
//! Table values keep three significant digits (`2.18 ms`, `42.3 ms`, `327 ms`), enough to
//! compare isolators without pretending to a precision a noisy host does not give.

/// `850 µs`, `2.31 ms`, `42.3 ms`, `1.20 s`.
pub fn duration_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "—".into();
    }
    let (value, unit) = duration_unit(ns);
    format!("{} {unit}", three_digits(value))
}

/// An axis tick: like [`duration_ns`] without trailing zeros (`1 ms`, `2.5 ms`, `10 ms`).
pub fn duration_tick(ns: f64) -> String {
    if !ns.is_finite() {
        return "—".into();
    }
    let (value, unit) = duration_unit(ns);
    format!("{} {unit}", trim_zeros(&three_digits(value)))
}

fn duration_unit(ns: f64) -> (f64, &'static str) {
    // Round first so 999.7 µs becomes 1.00 ms, not "1000 µs".
    let abs = round_three(ns.abs());
    if abs < 1e3 {
        (ns, "ns")
    } else if abs < 1e6 {
        (ns / 1e3, "µs")
    } else if abs < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    }
}

/// A wall-clock span in words: `42.3 s`, `3 min 12 s`.
pub fn duration_words(span: std::time::Duration) -> String {
    let seconds = span.as_secs_f64();
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    format!("{} min {} s", whole / 60, whole % 60)
}

/// `812 B`, `76.0 KiB`, `0.98 MiB`, `1.17 MiB`, `149 MiB`, `2.40 GiB`; negative sizes keep their sign.
pub fn bytes(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    const KIB: f64 = 1024.0;
    let abs = value.abs();
    let sign = if value < 0.0 { "-" } else { "" };
    if abs < 1000.0 {
        return format!("{sign}{abs:.0} B");
    }
    let mut scaled = abs / KIB;
    for unit in ["KiB", "MiB", "GiB"] {
        // Above 999 of a unit, the next unit reads better (0.98 MiB, not 1000 KiB).
        if round_three(scaled) < 1000.0 || unit == "GiB" {
            return format!("{sign}{} {unit}", three_digits(scaled));
        }
        scaled /= KIB;
    }
    unreachable!("the loop returns at GiB")
}

/// A ratio such as `0.14×`, `4.1×` or `45×`.
pub fn ratio(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    if value >= 9.95 {
        format!("{value:.0}×")
    } else if value >= 0.995 {
        format!("{value:.1}×")
    } else {
        format!("{value:.2}×")
    }
}

/// Three significant digits for magnitudes up to 999: `2.18`, `42.3`, `327`.
fn three_digits(value: f64) -> String {
    let abs = value.abs();
    if abs >= 99.95 {
        format!("{value:.0}")
    } else if abs >= 9.995 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Rounds to three significant digits (as [`three_digits`] would print it).
fn round_three(abs: f64) -> f64 {
    if abs == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(2 - abs.log10().floor() as i32);
    (abs * scale).round() / scale
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_words() {
        use std::time::Duration;
        assert_eq!(duration_words(Duration::from_millis(42_345)), "42.3 s");
        assert_eq!(duration_words(Duration::from_millis(192_400)), "3 min 12 s");
        assert_eq!(duration_words(Duration::from_millis(59_990)), "60.0 s");
    }

    #[test]
    fn durations_keep_three_significant_digits() {
        assert_eq!(duration_ns(512.0), "512 ns");
        assert_eq!(duration_ns(850_000.0), "850 µs");
        assert_eq!(duration_ns(999_700.0), "1.00 ms");
        assert_eq!(duration_ns(2_314_000.0), "2.31 ms");
        assert_eq!(duration_ns(42_260_000.0), "42.3 ms");
        assert_eq!(duration_ns(327_490_000.0), "327 ms");
        assert_eq!(duration_ns(1.2e9), "1.20 s");
        assert_eq!(duration_ns(f64::NAN), "—");
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(duration_tick(1e6), "1 ms");
        assert_eq!(duration_tick(2.5e6), "2.5 ms");
        assert_eq!(duration_tick(1e8), "100 ms");
        assert_eq!(duration_tick(1e9), "1 s");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(1000.0), "0.98 KiB");
        assert_eq!(bytes(77_824.0), "76.0 KiB");
        assert_eq!(bytes(-2048.0), "-2.00 KiB");
        assert_eq!(bytes(1_226_833.0), "1.17 MiB");
        assert_eq!(bytes(149.0 * 1024.0 * 1024.0), "149 MiB");
        assert_eq!(bytes(1023.9 * 1024.0), "1.00 MiB");
        assert_eq!(bytes(1000.0 * 1024.0), "0.98 MiB");
        assert_eq!(bytes(2.4 * 1024.0 * 1024.0 * 1024.0), "2.40 GiB");
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(4.12), "4.1×");
        assert_eq!(ratio(9.97), "10×");
        assert_eq!(ratio(123.0), "123×");
        assert_eq!(ratio(0.139), "0.14×");
        assert_eq!(ratio(f64::INFINITY), "—");
    }
}
