//! Sizes and durations as people write them — `64MiB`, `1GB`, `4096`; `500ms`, `10s`, `2m`,
//! `30` — with one parser for every command-line flag, scenario file and example.
//!
//! ```
//! use spate::units::{parse_duration, parse_size};
//! use std::time::Duration;
//! assert_eq!(parse_size("64MiB")?, 64 << 20);
//! assert_eq!(parse_size("1GB")?, 1_000_000_000);
//! assert_eq!(parse_size("4096")?, 4096);
//! assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
//! assert_eq!(parse_duration("2m")?, Duration::from_secs(120));
//! assert_eq!(parse_duration("2.5")?, Duration::from_millis(2500));
//! assert!(parse_size("12 parsecs").is_err());
//! # Ok::<(), spate::units::UnitError>(())
//! ```

use std::time::Duration;

/// A size or duration that does not parse. The message says what is accepted; a command
/// line parser adds the flag's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// Not a size.
    #[error(
        "{0:?} is not a size: give bytes, or a number with B, kB, MB, GB, TB (powers of 1000) \
         or KiB, MiB, GiB, TiB (powers of 1024), e.g. 64MiB, 1GB, 4096"
    )]
    Size(String),
    /// Not a duration.
    #[error(
        "{0:?} is not a duration: give seconds, or a number with ns, us, ms, s, m (or min) or h, \
         e.g. 500ms, 10s, 2m, 30"
    )]
    Duration(String),
    /// A size or duration too large to represent.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Splits `"1.5 GiB"` into `(1.5, "gib")`; `None` unless the number is finite and not
/// negative. Underscores group digits (`1_000_000`).
fn split(text: &str) -> Option<(f64, String)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(end);
    let n: f64 = number.replace('_', "").parse().ok()?;
    (n.is_finite() && n >= 0.0).then(|| (n, unit.trim().to_ascii_lowercase()))
}

/// Bytes from `64MiB`, `1.5GB`, `10kB`, `4096`, `4096B` (units in any case; `K`, `M`, `G`,
/// `T` alone are powers of 1000, `Ki`…`Ti` powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::Size(text.to_owned());
    let (n, unit) = split(text).ok_or_else(bad)?;
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let bytes = n * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err(UnitError::TooLarge(text.to_owned()));
    }
    Ok(bytes.round() as u64)
}

/// A duration from `500ms`, `10s`, `2m`, `1.5h`, `250us`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (n, unit) = split(text).ok_or_else(|| UnitError::Duration(text.to_owned()))?;
    let seconds = match unit.as_str() {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "" | "s" | "sec" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(UnitError::Duration(text.to_owned())),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| UnitError::TooLarge(text.to_owned()))
}

/// [`parse_duration`], in seconds (for settings kept as `f64` seconds).
pub fn parse_seconds(text: &str) -> Result<f64, UnitError> {
    parse_duration(text).map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_unit_and_case() {
        for (text, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("4096B", 4096),
            ("1_000_000", 1_000_000),
            ("10kB", 10_000),
            ("10KB", 10_000),
            ("2K", 2_000),
            ("1GB", 1_000_000_000),
            ("1.5GB", 1_500_000_000),
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("8Mi", 8 << 20),
            (" 2 GiB ", 2 << 30),
            ("1TiB", 1 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "MiB", "-1", "1 parsec", "1.2.3", "NaN", "inf", "1e3"] {
            assert!(matches!(parse_size(bad), Err(UnitError::Size(_))), "{bad}");
        }
        assert!(matches!(
            parse_size("99999999999TiB"),
            Err(UnitError::TooLarge(_))
        ));
    }

    #[test]
    fn durations_in_every_unit() {
        for (text, d) in [
            ("10", Duration::from_secs(10)),
            ("2.5", Duration::from_millis(2500)),
            ("10s", Duration::from_secs(10)),
            ("500ms", Duration::from_millis(500)),
            ("250us", Duration::from_micros(250)),
            ("7ns", Duration::from_nanos(7)),
            ("2m", Duration::from_secs(120)),
            ("2min", Duration::from_secs(120)),
            ("1.5h", Duration::from_secs(5400)),
            (" 3 s ", Duration::from_secs(3)),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        for bad in ["", "s", "-1s", "10 fortnights", "1d", "NaN"] {
            assert!(
                matches!(parse_duration(bad), Err(UnitError::Duration(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_duration("1e300"),
            Err(UnitError::Duration(_))
        ));
        assert_eq!(parse_seconds("1500ms"), Ok(1.5));
    }
}
