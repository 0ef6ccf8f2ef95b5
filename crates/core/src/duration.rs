//! Human durations as wrk, k6 and fortio spell them: `10s`, `500ms`, `1m30s`, `250us`, `2h`.
//! A bare number means seconds, as in the seed's `"duration": 60`.

use std::time::Duration;

use crate::{Error, Result};

/// Parses `10s`, `1.5s`, `500ms`, `250us`, `2m`, `1h`, `1m30s` or a bare number of seconds.
pub fn parse_duration(field: &'static str, text: &str) -> Result<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid(field, "empty duration"));
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(field, seconds);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                Error::invalid(field, format!("`{text}` has a number without a unit"))
            })?;
        if number_len == 0 {
            return Err(Error::invalid(
                field,
                format!("`{text}` is not a duration (try 10s, 500ms, 2m)"),
            ));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| Error::invalid(field, format!("`{text}` is not a duration")))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => {
                return Err(Error::invalid(
                    field,
                    format!("unknown unit `{unit}` in `{text}` (use ns, us, ms, s, m or h)"),
                ))
            }
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(field, total)
}

fn seconds_to_duration(field: &'static str, seconds: f64) -> Result<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(Error::invalid(
            field,
            "duration must be a finite, non-negative number",
        ));
    }
    // Ten years is far beyond any benchmark and keeps Duration arithmetic from overflowing.
    if seconds > 315_360_000.0 {
        return Err(Error::invalid(field, "duration is too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Formats a duration the way [`parse_duration`] reads it back, choosing a readable unit.
pub fn format_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("d", "10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("d", "10").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("d", "500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_duration("d", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("d", "250us").unwrap(),
            Duration::from_micros(250)
        );
        assert_eq!(
            parse_duration("d", "1.5s").unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "10x", "-1", "s", "1e400"] {
            assert!(parse_duration("d", bad).is_err(), "{bad} accepted");
        }
    }
}
