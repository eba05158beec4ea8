//! Times as RFC 3339 text in UTC, as Go writes them: what the Pushgateway's
//! JSON API, its status page and `pushgate dump` show.

use std::time::{SystemTime, UNIX_EPOCH};

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
}
