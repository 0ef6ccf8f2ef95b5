//! The fortio-style controls a request carries in its query string: `delay`, `size`, `status`
//! and `close`. Parsing is only done when a query is present, so the default path costs nothing.
//!
//! Unknown parameters are ignored (load generators often add cache-busters); a known parameter
//! with a bad value is refused with a [`ParamError`] that names it, which the handler turns into
//! a 400.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use hyper::StatusCode;
use meshbench_core::duration::parse_duration;

/// The largest body `size=` may ask for: 64 MiB.
pub(crate) const MAX_SIZE: usize = 64 * 1024 * 1024;

/// The longest delay `delay=` may ask for. Longer waits are almost always a typo (`delay=10`
/// means ten seconds, not ten milliseconds) and would pin connections for no benefit.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(3600);

/// What one request asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Controls {
    /// Wait before answering.
    pub(crate) delay: Option<DelaySpec>,
    /// Body length in bytes; `None` means the small default body.
    pub(crate) size: Option<usize>,
    /// The status to answer with.
    pub(crate) status: StatusSpec,
    /// Close the connection after answering.
    pub(crate) close: bool,
}

/// A fixed delay or a uniform random one between two bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DelaySpec {
    /// Always this long.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// Lower bound, inclusive.
        min: Duration,
        /// Upper bound, inclusive.
        max: Duration,
    },
}

impl DelaySpec {
    /// Picks this request's delay.
    pub(crate) fn pick(&self) -> Duration {
        match *self {
            DelaySpec::Fixed(d) => d,
            DelaySpec::Uniform { min, max } => {
                // Both bounds are at most MAX_DELAY, so nanoseconds fit in a u64.
                let lo = u64::try_from(min.as_nanos()).unwrap_or(u64::MAX);
                let hi = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(crate::random::range_inclusive(lo, hi))
            }
        }
    }
}

/// The status to answer with: fixed, or a mix of statuses with percentages (200 otherwise).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum StatusSpec {
    /// 200, the default.
    #[default]
    Ok,
    /// Always this status.
    Fixed(StatusCode),
    /// Each entry is a status and its cumulative percentage (0–100, increasing); requests
    /// falling beyond the last one get 200.
    Mix(Vec<(StatusCode, f64)>),
}

impl StatusSpec {
    /// Picks this request's status.
    pub(crate) fn pick(&self) -> StatusCode {
        match self {
            StatusSpec::Ok => StatusCode::OK,
            StatusSpec::Fixed(s) => *s,
            StatusSpec::Mix(entries) => {
                let roll = crate::random::percent();
                entries
                    .iter()
                    .find(|(_, cumulative)| roll < *cumulative)
                    .map_or(StatusCode::OK, |(s, _)| *s)
            }
        }
    }
}

/// A query parameter whose value cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamError {
    /// The parameter, as spelled in the query string.
    pub(crate) name: &'static str,
    /// What is wrong with it, for a person to read.
    pub(crate) message: String,
}

impl ParamError {
    pub(crate) fn new(name: &'static str, message: impl Into<String>) -> Self {
        ParamError {
            name,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.name, self.message)
    }
}

impl Controls {
    /// Parses the controls out of a raw (still percent-encoded) query string.
    pub(crate) fn parse(query: &str) -> Result<Controls, ParamError> {
        let mut controls = Controls::default();
        for pair in query.split('&') {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "delay" => controls.delay = Some(parse_delay(&decode("delay", raw)?)?),
                "size" => controls.size = Some(parse_size(&decode("size", raw)?)?),
                "status" => controls.status = parse_status(&decode("status", raw)?)?,
                "close" => controls.close = parse_flag("close", &decode("close", raw)?)?,
                _ => {}
            }
        }
        Ok(controls)
    }
}

/// Reads one `name=value` parameter out of a raw query string, decoded; `None` when absent.
pub(crate) fn find_param<'q>(
    query: &'q str,
    name: &'static str,
) -> Result<Option<Cow<'q, str>>, ParamError> {
    query
        .rsplit('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| *key == name)
        .map(|(_, raw)| decode(name, raw))
        .transpose()
}

/// Parses a duration with the same rules as `delay`, for `duration=` of the pause control.
pub(crate) fn parse_bounded_duration(
    name: &'static str,
    text: &str,
) -> Result<Duration, ParamError> {
    let d = parse_duration(name, text).map_err(|e| core_error(name, e))?;
    if d > MAX_DELAY {
        return Err(ParamError::new(name, format!("`{text}` is longer than 1h")));
    }
    Ok(d)
}

fn parse_delay(text: &str) -> Result<DelaySpec, ParamError> {
    match text.split_once(':') {
        None => Ok(DelaySpec::Fixed(parse_bounded_duration("delay", text)?)),
        Some((lo, hi)) => {
            let min = parse_bounded_duration("delay", lo)?;
            let max = parse_bounded_duration("delay", hi)?;
            if max < min {
                return Err(ParamError::new(
                    "delay",
                    format!("`{text}`: the upper bound is below the lower bound"),
                ));
            }
            Ok(DelaySpec::Uniform { min, max })
        }
    }
}

fn parse_size(text: &str) -> Result<usize, ParamError> {
    let size: usize = text.trim().parse().map_err(|_| {
        ParamError::new(
            "size",
            format!("`{text}` is not a number of bytes (try size=1024)"),
        )
    })?;
    if size > MAX_SIZE {
        return Err(ParamError::new(
            "size",
            format!("{size} bytes is more than the limit of {MAX_SIZE}"),
        ));
    }
    Ok(size)
}

fn parse_status(text: &str) -> Result<StatusSpec, ParamError> {
    if !text.contains([':', ',']) {
        return Ok(StatusSpec::Fixed(parse_status_code(text)?));
    }
    let mut entries = Vec::new();
    let mut cumulative = 0.0;
    for entry in text.split(',') {
        let (code, percent) = match entry.split_once(':') {
            Some((code, percent)) => {
                let p: f64 = percent.trim().parse().map_err(|_| {
                    ParamError::new(
                        "status",
                        format!("`{percent}` is not a percentage (try status=503:5)"),
                    )
                })?;
                (code, p)
            }
            None => (entry, 100.0),
        };
        if !(0.0..=100.0).contains(&percent) {
            return Err(ParamError::new(
                "status",
                format!("percentage {percent} is not between 0 and 100"),
            ));
        }
        cumulative += percent;
        entries.push((parse_status_code(code)?, cumulative));
    }
    // A little slack for decimal percentages such as 33.3,33.3,33.4.
    if cumulative > 100.0 + 1e-9 {
        return Err(ParamError::new(
            "status",
            format!("`{text}`: percentages add up to {cumulative}, more than 100"),
        ));
    }
    Ok(StatusSpec::Mix(entries))
}

fn parse_status_code(text: &str) -> Result<StatusCode, ParamError> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|code| (200..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| {
            ParamError::new(
                "status",
                format!("`{text}` is not a status code between 200 and 599"),
            )
        })
}

fn parse_flag(name: &'static str, text: &str) -> Result<bool, ParamError> {
    match text {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ParamError::new(
            name,
            format!("`{text}` is not a flag (use {name}=1 or {name}=0)"),
        )),
    }
}

fn core_error(name: &'static str, e: meshbench_core::Error) -> ParamError {
    match e {
        meshbench_core::Error::Invalid { message, .. } => ParamError::new(name, message),
        other => ParamError::new(name, other.to_string()),
    }
}

/// Percent-decodes a query value (`+` is a space); borrows when there is nothing to decode.
fn decode<'a>(name: &'static str, raw: &'a str) -> Result<Cow<'a, str>, ParamError> {
    if !raw.contains(['%', '+']) {
        return Ok(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ParamError::new(name, format!("`{raw}` has a bad percent-escape"))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| ParamError::new(name, format!("`{raw}` is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_and_unknown_parameters_give_defaults() {
        assert_eq!(Controls::parse("").unwrap(), Controls::default());
        assert_eq!(
            Controls::parse("x=1&nocache=42").unwrap(),
            Controls::default()
        );
    }

    #[test]
    fn parses_every_control() {
        let c = Controls::parse("delay=10ms&size=1024&status=503&close=1").unwrap();
        assert_eq!(c.delay, Some(DelaySpec::Fixed(ms(10))));
        assert_eq!(c.size, Some(1024));
        assert_eq!(c.status, StatusSpec::Fixed(StatusCode::SERVICE_UNAVAILABLE));
        assert!(c.close);
    }

    #[test]
    fn delay_forms() {
        let c = Controls::parse("delay=5ms:50ms").unwrap();
        assert_eq!(
            c.delay,
            Some(DelaySpec::Uniform {
                min: ms(5),
                max: ms(50)
            })
        );
        let c = Controls::parse("delay=250us").unwrap();
        assert_eq!(c.delay, Some(DelaySpec::Fixed(Duration::from_micros(250))));
        let c = Controls::parse("delay=1.5s").unwrap();
        assert_eq!(c.delay, Some(DelaySpec::Fixed(ms(1500))));
        let c = Controls::parse("delay=5ms%3A6ms").unwrap();
        assert_eq!(
            c.delay,
            Some(DelaySpec::Uniform {
                min: ms(5),
                max: ms(6)
            })
        );
    }

    #[test]
    fn uniform_delay_stays_in_bounds() {
        let spec = DelaySpec::Uniform {
            min: ms(5),
            max: ms(6),
        };
        for _ in 0..1000 {
            let d = spec.pick();
            assert!(d >= ms(5) && d <= ms(6), "{d:?}");
        }
    }

    #[test]
    fn bad_values_name_the_parameter() {
        for (query, name) in [
            ("delay=abc", "delay"),
            ("delay=", "delay"),
            ("delay=50ms:5ms", "delay"),
            ("delay=2h", "delay"),
            ("size=-1", "size"),
            ("size=lots", "size"),
            ("size=999999999999", "size"),
            ("status=abc", "status"),
            ("status=99", "status"),
            ("status=600", "status"),
            ("status=503:x", "status"),
            ("status=503:60,500:50", "status"),
            ("status=503:-1", "status"),
            ("close=maybe", "close"),
            ("delay=%zz", "delay"),
        ] {
            let err = Controls::parse(query).unwrap_err();
            assert_eq!(err.name, name, "{query}");
            assert!(err.to_string().starts_with(&format!("invalid {name}: ")));
        }
    }

    #[test]
    fn status_mix_is_cumulative() {
        let c = Controls::parse("status=503:5,500:1").unwrap();
        assert_eq!(
            c.status,
            StatusSpec::Mix(vec![
                (StatusCode::SERVICE_UNAVAILABLE, 5.0),
                (StatusCode::INTERNAL_SERVER_ERROR, 6.0)
            ])
        );
        let all = StatusSpec::Mix(vec![(StatusCode::IM_A_TEAPOT, 100.0)]);
        let none = StatusSpec::Mix(vec![(StatusCode::IM_A_TEAPOT, 0.0)]);
        for _ in 0..100 {
            assert_eq!(all.pick(), StatusCode::IM_A_TEAPOT);
            assert_eq!(none.pick(), StatusCode::OK);
        }
        let encoded = Controls::parse("status=503%3A5%2C500%3A1").unwrap();
        assert_eq!(encoded.status, c.status);
    }

    #[test]
    fn close_flag_forms() {
        assert!(Controls::parse("close").unwrap().close);
        assert!(Controls::parse("close=").unwrap().close);
        assert!(Controls::parse("close=true").unwrap().close);
        assert!(!Controls::parse("close=0").unwrap().close);
    }

    #[test]
    fn find_param_takes_the_last_value() {
        assert_eq!(
            find_param("a=1&duration=1s&duration=2s", "duration")
                .unwrap()
                .as_deref(),
            Some("2s")
        );
        assert_eq!(find_param("a=1", "duration").unwrap(), None);
    }
}
