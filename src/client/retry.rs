//! [`Retry`]: when and how long to wait before sending again.

use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// How a failed send is retried, by the pusher and by forwarding stores.
///
/// A request is sent again when the server could not be reached (the
/// client service failed: refused or reset connection, failed TLS
/// handshake, …), answered `429 Too Many Requests` or any `5xx`; never
/// after another status, which the same request would only get again.
/// Pushes are idempotent (a push replaces what the same push stored
/// before), and so are remote writes of the same samples, so sending one
/// twice does no harm.
///
/// The wait before attempt `n + 1` is `base · 2ⁿ⁻¹`, capped at the maximum
/// delay, less a random part of it (the jitter) so that many pushers
/// failing together do not come back together. A `Retry-After` (seconds
/// or an HTTP date) makes the wait at least that long. The sender's
/// deadline (a pusher's timeout) bounds everything: a wait that would end
/// past it is not started, and the last error is returned.
///
/// The default makes 3 attempts, waiting 250 ms, then 500 ms (each less up
/// to half, the jitter), and at most 5 s.
///
/// ```
/// use std::time::Duration;
/// use pushgate::client::Retry;
///
/// let retry = Retry::attempts(5)
///     .base_delay(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(2))
///     .jitter(0.0);
/// assert_eq!(retry.backoff(1), Duration::from_millis(100));
/// assert_eq!(retry.backoff(4), Duration::from_millis(800));
/// assert_eq!(retry.backoff(6), Duration::from_secs(2));
/// assert_eq!(Retry::never().max_attempts(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retry {
    max_attempts: u32,
    base: Duration,
    max_delay: Duration,
    jitter: f64,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            max_attempts: 3,
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            jitter: 0.5,
        }
    }
}

impl Retry {
    /// The default policy with at most `max_attempts` sends in all (at
    /// least 1).
    pub fn attempts(max_attempts: u32) -> Retry {
        Retry {
            max_attempts: max_attempts.max(1),
            ..Retry::default()
        }
    }

    /// One attempt: a failed send is an error at once (as Go's client).
    pub fn never() -> Retry {
        Retry::attempts(1)
    }

    /// The wait after the first failure, doubled after each next one.
    pub fn base_delay(mut self, base: Duration) -> Retry {
        self.base = base;
        self
    }

    /// The longest wait between attempts, jitter aside (a `Retry-After`
    /// may ask for longer, and is honoured).
    pub fn max_delay(mut self, max: Duration) -> Retry {
        self.max_delay = max;
        self
    }

    /// The fraction of each wait that is random, in `0.0..=1.0`: the wait
    /// is `backoff · (1 − jitter · r)` for `r` uniform in `[0, 1)`. `0.0`
    /// waits exactly the backoff, `1.0` anywhere from nothing up to it.
    pub fn jitter(mut self, jitter: f64) -> Retry {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The most sends a push makes.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after `failed` failed attempts (`failed ≥ 1`), before
    /// jitter: `base · 2^(failed − 1)`, at most the maximum delay.
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.base
            .checked_mul(1 << doublings)
            .unwrap_or(Duration::MAX)
            .min(self.max_delay)
    }

    /// The wait before the next attempt after `failed` failed attempts,
    /// the last of which asked for `retry_after`; `None` when no attempt
    /// is left. `random` is uniform in `[0, 1)`.
    pub(crate) fn delay(
        &self,
        failed: u32,
        retry_after: Option<Duration>,
        random: f64,
    ) -> Option<Duration> {
        if failed >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(failed);
        let jittered = backoff.mul_f64(1.0 - self.jitter * random.clamp(0.0, 1.0));
        Some(retry_after.map_or(jittered, |r| r.max(jittered)))
    }
}

/// Whether a response with `status` is worth sending again: 429 and 5xx.
pub(crate) fn is_retryable_status(status: http::StatusCode) -> bool {
    status == http::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// A `Retry-After` value as a wait from `now`: delay seconds, or an HTTP
/// date (a date already past is no wait). `None` if it is neither.
pub(crate) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly many digits: as long as can be, the deadline cuts it.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn exact() -> Retry {
        Retry::attempts(10)
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_secs(1))
            .jitter(0.0)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let r = exact();
        let ms: Vec<u128> = (1..=6).map(|n| r.backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        // No overflow however many failures.
        assert_eq!(r.backoff(u32::MAX), Duration::from_secs(1));
        let huge = Retry::attempts(2)
            .base_delay(Duration::from_secs(u64::MAX / 2))
            .max_delay(Duration::MAX);
        assert_eq!(huge.backoff(40), Duration::MAX);
    }

    #[test]
    fn attempts_are_bounded() {
        let r = exact();
        assert!(r.delay(9, None, 0.0).is_some());
        assert_eq!(r.delay(10, None, 0.0), None);
        assert_eq!(Retry::never().delay(1, None, 0.0), None);
        // Zero attempts would never send: it means one.
        assert_eq!(Retry::attempts(0).max_attempts(), 1);
    }

    #[test]
    fn jitter_takes_up_to_its_fraction_off() {
        let r = exact().jitter(0.5);
        assert_eq!(r.delay(1, None, 0.0), Some(Duration::from_millis(100)));
        assert_eq!(r.delay(1, None, 0.5), Some(Duration::from_millis(75)));
        let least = r.delay(1, None, 0.999_999).unwrap();
        assert!(least > Duration::from_millis(50) && least < Duration::from_millis(51));
        let full = exact().jitter(1.0);
        assert!(full.delay(2, None, 0.999_999).unwrap() < Duration::from_millis(1));
        // Out-of-range settings are clamped.
        assert_eq!(exact().jitter(7.0), full);
        assert_eq!(exact().jitter(f64::NAN), exact());
    }

    #[test]
    fn retry_after_is_a_floor() {
        let r = exact();
        assert_eq!(
            r.delay(1, Some(Duration::from_secs(3)), 0.0),
            Some(Duration::from_secs(3))
        );
        // A shorter Retry-After does not shorten the backoff.
        assert_eq!(
            r.delay(3, Some(Duration::from_millis(1)), 0.0),
            Some(Duration::from_millis(400))
        );
        // Nor does it grant attempts.
        assert_eq!(r.delay(10, Some(Duration::from_secs(1)), 0.0), None);
    }

    #[test]
    fn which_statuses_are_retried() {
        for s in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(StatusCode::from_u16(s).unwrap()), "{s}");
        }
        for s in [200, 202, 301, 400, 401, 403, 404, 405, 408, 413, 415] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(s).unwrap()),
                "{s}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let parse = |s: &'static str| parse_retry_after(&HeaderValue::from_static(s), now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(
            parse("Tue, 14 Nov 2023 22:13:50 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse("Tue, 14 Nov 2023 22:00:00 GMT"), Some(Duration::ZERO));
        for bad in ["", "-1", "1.5", "soon", "Tue, 14 Nov 2023"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
