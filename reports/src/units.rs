//! Human units for tables: durations from nanoseconds, sizes from bytes.

/// `850 µs`, `2.31 ms`, `1.20 s`.
pub fn duration_ns(ns: f64) -> String {
    if !ns.is_finite() {
        return "—".into();
    }
    let abs = ns.abs();
    if abs < 1e3 {
        format!("{ns:.0} ns")
    } else if abs < 1e6 {
        format!("{:.0} µs", ns / 1e3)
    } else if abs < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `812 B`, `76.0 KiB`, `1.17 MiB`, `2.40 GiB`; negative sizes keep their sign.
pub fn bytes(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let abs = value.abs();
    const KIB: f64 = 1024.0;
    if abs < KIB {
        format!("{sign}{abs:.0} B")
    } else if abs < KIB * KIB {
        format!("{sign}{:.1} KiB", abs / KIB)
    } else if abs < KIB * KIB * KIB {
        format!("{sign}{:.2} MiB", abs / KIB / KIB)
    } else {
        format!("{sign}{:.2} GiB", abs / KIB / KIB / KIB)
    }
}

/// A ratio such as `4.1×`.
pub fn ratio(value: f64) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    if value >= 10.0 {
        format!("{value:.0}×")
    } else {
        format!("{value:.1}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration_ns(850_000.0), "850 µs");
        assert_eq!(duration_ns(2_310_000.0), "2.31 ms");
        assert_eq!(duration_ns(1.2e9), "1.20 s");
        assert_eq!(bytes(77_824.0), "76.0 KiB");
        assert_eq!(bytes(-2048.0), "-2.0 KiB");
        assert_eq!(bytes(1_226_833.0), "1.17 MiB");
        assert_eq!(ratio(4.12), "4.1×");
        assert_eq!(ratio(123.0), "123×");
    }
}
