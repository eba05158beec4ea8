//! Integers as decimal text, without `fmt`: one digit loop for every
//! encoder (sample values and timestamps in the text formats, counts and
//! seconds in OpenMetrics, exponents of floats, JSON and line protocol
//! integers).

/// Writes the decimal digits of `n` at the end of `buf`, zero-padded to at
/// least `min` digits, and returns where they start.
///
/// # Panics
/// If `buf` is too short for them.
#[inline]
fn fill(buf: &mut [u8], mut n: u64, min: usize) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 && buf.len() - i >= min {
            return i;
        }
    }
}

/// Appends `n` in decimal.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let start = fill(&mut buf, n, 1);
    out.extend_from_slice(&buf[start..]);
}

/// Appends `n` in decimal, with a `-` if negative.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// The decimal digits of `n` (at least one), written into `buf`.
pub(crate) fn digits(n: u128, buf: &mut [u8; 39]) -> &[u8] {
    const CHUNK: u128 = 10_000_000_000_000_000_000; // 10^19, 19 digits
    let mut end = buf.len();
    let mut n = n;
    // Division of a u128 is slow: take 19 digits at a time off the bottom
    // while it does not fit a u64 (never, for timestamps in nanoseconds
    // within ±292 years of 1970).
    while n > u128::from(u64::MAX) {
        let low = (n % CHUNK) as u64;
        n /= CHUNK;
        end = fill(&mut buf[..end], low, 19);
    }
    let start = fill(&mut buf[..end], n as u64, 1);
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_match_display() {
        let mut cases: Vec<i64> = vec![0, 1, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN];
        let mut x = 1i64;
        while let Some(y) = x.checked_mul(10) {
            cases.extend([x - 1, x, x + 1, -x, y / 3]);
            x = y;
        }
        for n in cases {
            let mut out = Vec::new();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes(), "{n}");
            if let Ok(u) = u64::try_from(n) {
                out.clear();
                write_u64(&mut out, u);
                assert_eq!(out, u.to_string().as_bytes(), "{u}");
            }
        }
        let mut out = Vec::new();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn wide_integers_match_display() {
        let mut buf = [0u8; 39];
        for n in [
            0,
            7,
            u128::from(u64::MAX),
            u128::from(u64::MAX) + 1,
            10u128.pow(19),
            10u128.pow(19) - 1,
            10u128.pow(38) + 5,
            123_456_789_012_345_678_901_234_567_890,
            u128::MAX,
        ] {
            assert_eq!(digits(n, &mut buf), n.to_string().as_bytes(), "{n}");
        }
    }
}
