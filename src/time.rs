//! Times as RFC 3339 text in UTC, as Go writes them (what the Pushgateway's
//! JSON API, its status page and `pushgate dump` show), and durations as
//! people write them (`10s`, `5m`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A duration as a number and a unit: `500ms`, `10s`, `1.5s`, `2m`, `1h`,
/// `7d`. Zero is refused: a gateway with no time for a push refuses every push,
/// and a pusher with none fails every push.
///
/// ```
/// use std::time::Duration;
/// use pushgate::time::parse_duration;
///
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_duration("10").is_err());
/// assert!(parse_duration("0s").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{s:?} needs a unit: ms, s, m, h or d (as in 10s)"))?;
    let (number, unit) = s.split_at(split);
    let seconds_per_unit = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?}: use ms, s, m, h or d"
            ))
        }
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a number and a unit (as in 10s)"))?;
    let duration = Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("{s:?} is out of range"))?;
    if duration.is_zero() {
        return Err("the duration must be more than 0".into());
    }
    Ok(duration)
}

/// `t` with milliseconds: `2026-12-02T15:04:05.123Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_796_223_845_123);
/// assert_eq!(pushgate::time::rfc3339_millis(t), "2026-12-02T15:04:05.123Z");
/// ```
pub fn rfc3339_millis(t: SystemTime) -> String {
    let (secs, nanos) = split(t);
    format!("{}.{:03}Z", date_time(secs), nanos / 1_000_000)
}

/// `t` as Go's `time.RFC3339Nano`: nanoseconds with trailing zeros dropped,
/// and no fraction at all on a whole second (`2026-12-02T15:04:05.1234Z`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_nanos(1_796_223_845_123_400_000);
/// assert_eq!(pushgate::time::rfc3339_nanos(t), "2026-12-02T15:04:05.1234Z");
/// assert_eq!(pushgate::time::rfc3339_nanos(UNIX_EPOCH), "1970-01-01T00:00:00Z");
/// ```
pub fn rfc3339_nanos(t: SystemTime) -> String {
    let (secs, nanos) = split(t);
    if nanos == 0 {
        return format!("{}Z", date_time(secs));
    }
    let fraction = format!("{nanos:09}");
    format!("{}.{}Z", date_time(secs), fraction.trim_end_matches('0'))
}

/// Whole seconds since the epoch (negative before it) and nanoseconds.
fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let nanos = d.subsec_nanos();
            if nanos == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - nanos)
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of whole seconds since the epoch.
fn date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn in_utc() {
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_millis(leap), "2000-02-29T00:00:00.000Z");
        let before = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(rfc3339_millis(before), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_nanos(before), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e30h").is_err());
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
    }
}
