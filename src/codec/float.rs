//! Float formatting and parsing as Go's `strconv` does it, so that encoders
//! write the same bytes as the Go client and `expfmt`.

use std::fmt::Write as _;

use super::int;

/// The shortest decimal digits of a finite, non-zero `|v|` and its decimal
/// point position: `|v| = 0.DIGITS * 10^point`.
struct Decimal {
    buf: [u8; 32],
    len: usize,
    point: i32,
}

impl Decimal {
    fn of(v: f64) -> Decimal {
        // Rust's `{:e}` prints the shortest round-tripping digits, as Go's
        // `strconv` with precision -1 does.
        let mut s = StackStr::default();
        let _ = write!(s, "{:e}", v.abs());
        let text = s.as_str();
        let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut d = Decimal {
            buf: [0; 32],
            len: 0,
            point: exp + 1,
        };
        for b in mantissa.bytes().filter(u8::is_ascii_digit) {
            d.buf[d.len] = b;
            d.len += 1;
        }
        d
    }

    fn digits(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[derive(Default)]
struct StackStr {
    buf: [u8; 32],
    len: usize,
}

impl StackStr {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)` body for a finite non-zero
/// value: `d.ddde±XX`, at least two exponent digits.
fn write_e(out: &mut Vec<u8>, d: &Decimal) {
    let digits = d.digits();
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    let exp = d.point - 1;
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push(b'0');
    }
    int::write_u64(out, exp.into());
}

/// Go's `%f` body with exactly the digits needed.
fn write_f(out: &mut Vec<u8>, d: &Decimal) {
    let digits = d.digits();
    if d.point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', d.point.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else {
        let point = d.point as usize;
        if digits.len() <= point {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', point - digits.len()));
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
}

/// Writes the special values as Go's `strconv` spells them; false if `v` is finite.
fn write_special(out: &mut Vec<u8>, v: f64) -> bool {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"+Inf");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"-Inf");
    } else {
        return false;
    }
    true
}

/// `strconv.FormatFloat(v, 'g', -1, 64)`: what Go's `expfmt` text encoder
/// writes for sample values, `le` and `quantile` labels.
pub(crate) fn write_g(out: &mut Vec<u8>, v: f64) {
    if write_special(out, v) {
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.push(b'0');
        return;
    }
    let d = Decimal::of(v);
    // With the shortest precision Go switches to %e below 1e-4 or from 1e6 up.
    let exp = d.point - 1;
    if !(-4..6).contains(&exp) {
        write_e(out, &d);
    } else {
        write_f(out, &d);
    }
}

/// `strconv.FormatFloat(v, 'f', -1, 64)`: never an exponent.
pub(crate) fn write_f_shortest(out: &mut Vec<u8>, v: f64) {
    if write_special(out, v) {
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.push(b'0');
        return;
    }
    write_f(out, &Decimal::of(v));
}

/// Go's `encoding/json` float: `%f` for 1e-6 <= |v| < 1e21, else `%e` with
/// the exponent's leading zero dropped (`1e-7`, `1e+21`). The caller handles
/// non-finite values, which Go's JSON cannot write.
pub(crate) fn write_json(out: &mut Vec<u8>, v: f64) {
    debug_assert!(v.is_finite());
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        if v.is_sign_negative() {
            out.push(b'-');
        }
        let start = out.len();
        write_e(out, &Decimal::of(v));
        // "e-07" -> "e-7", as Go's encoder cleans it up.
        let n = out.len();
        if n - start >= 4 && out[n - 4] == b'e' && out[n - 3] == b'-' && out[n - 2] == b'0' {
            out.remove(n - 2);
        }
    } else {
        write_f_shortest(out, v);
    }
}

/// Parses a float as Go's `strconv.ParseFloat(s, 64)` does for exposition
/// formats: decimal or exponent notation, an optional sign, and the
/// case-insensitive specials `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity`.
pub(crate) fn parse(s: &str) -> Option<f64> {
    if let Some(v) = parse_short(s.as_bytes()) {
        return Some(v);
    }
    let b = s.as_bytes();
    let (sign, rest) = match b.first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if rest.eq_ignore_ascii_case("nan") {
        return (b[0] != b'+' && b[0] != b'-').then_some(f64::NAN);
    }
    // Rust accepts "inf"/"nan" spellings Go does not; those were handled above,
    // and only digits, '.', 'e' and signs may reach the std parser.
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    // Go allows '_' only between digits in base-prefixed literals; not in decimal.
    if rest.contains('_') {
        return None;
    }
    // Go reports a finite spelling that overflows as a range error (its
    // parsers reject it); underflow to zero is accepted, as in Go.
    s.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of [`parse`], exactly: `[+-]digits[.digits][(e|E)[+-]digits]`
/// with at most 19 significant-or-not digits, a mantissa of at most 2^53 and
/// a decimal exponent within ±22. The mantissa and the power of ten are then
/// both exact, so one multiplication or division rounds correctly and gives
/// the bits the std parser gives (Clinger's fast path). Anything else is
/// `None`, for the full parser.
#[inline]
fn parse_short(b: &[u8]) -> Option<f64> {
    parse_short_prefix(b)
        .filter(|&(_, n)| n == b.len())
        .map(|(v, _)| v)
}

/// [`parse_short`] of the longest prefix of `b` that has its shape, and the
/// prefix's length. If `b` goes on after it with a byte that cannot extend
/// it (a blank, a line feed), that prefix is the whole number and its value
/// is what [`parse`] gives for it.
#[inline]
pub(crate) fn parse_short_prefix(b: &[u8]) -> Option<(f64, usize)> {
    let (negative, mut i) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let digits = |i: &mut usize, m: &mut u64| {
        let start = *i;
        while let Some(&c) = b.get(*i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
        *i - start
    };
    let mut m = 0u64;
    let int_digits = digits(&mut i, &mut m);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i, &mut m);
    }
    if int_digits == 0 || int_digits + frac_digits > 19 || m > 1 << 53 {
        return None;
    }
    let mut exp = -(frac_digits as i64);
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let negative_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut e = 0u64;
        let n = digits(&mut i, &mut e);
        if n == 0 || n > 4 {
            return None;
        }
        exp += if negative_exp { -(e as i64) } else { e as i64 };
    }
    let v = m as f64;
    let v = match exp {
        0 => v,
        1..=22 => v * POW10[exp as usize],
        -22..=-1 => v / POW10[(-exp) as usize],
        _ => return None,
    };
    Some((if negative { -v } else { v }, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64) -> String {
        let mut out = Vec::new();
        write_g(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn f(v: f64) -> String {
        let mut out = Vec::new();
        write_f_shortest(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn json(v: f64) -> String {
        let mut out = Vec::new();
        write_json(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn g_matches_go() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let cases = [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(g(v), want, "{v:e}");
        }
    }

    #[test]
    fn f_never_uses_an_exponent() {
        assert_eq!(f(1e21), "1000000000000000000000");
        assert_eq!(f(1e-7), "0.0000001");
        assert_eq!(f(0.5), "0.5");
        assert_eq!(f(250.0), "250");
        assert_eq!(f(-2.25), "-2.25");
    }

    #[test]
    fn json_matches_go() {
        assert_eq!(json(1.0), "1");
        assert_eq!(json(0.000001), "0.000001");
        assert_eq!(json(0.0000001), "1e-7");
        assert_eq!(json(1e20), "100000000000000000000");
        assert_eq!(json(1e21), "1e+21");
        assert_eq!(json(-1.5e-10), "-1.5e-10");
        assert_eq!(json(0.0), "0");
    }

    #[test]
    fn parse_matches_go() {
        assert_eq!(parse("1"), Some(1.0));
        assert_eq!(parse("-1.5e3"), Some(-1500.0));
        assert_eq!(parse("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse("-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse("Infinity"), Some(f64::INFINITY));
        assert!(parse("NaN").unwrap().is_nan());
        assert!(parse("nan").unwrap().is_nan());
        assert_eq!(parse(".5"), Some(0.5));
        assert_eq!(parse("5."), Some(5.0));
        assert_eq!(parse("1e-400"), Some(0.0));
        for bad in [
            "", "+", "abc", "1x", "0x10", "1_000", "+NaN", "1e", "--1", "1e400", "-1e400",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn short_path_is_bit_identical_to_std() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "+0",
            "0.0",
            "-0.0",
            "1",
            "-1",
            "+1",
            "5.",
            "1027",
            "0.005",
            "0.1",
            "0.25",
            "2.5",
            "57.821999999999996",
            "4.650000025e+07",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "9007199254740992",
            "9007199254740993",
            "9007199254740991e22",
            "9007199254740993e-22",
            "1234567890123456789",
            "12345678901234567890",
            "0.0000000000000000001",
            "1E5",
            "1e+0",
            "1e-0",
            "1e0022",
            "1e00022",
            "00000000000000000001",
            "0000000000000000001.5",
            "123.456e-5",
            "1.7976931348623157e308",
            "5e-324",
            "3.0e-10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every short shape the fast path takes or declines.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let mut s = String::new();
            match next() % 3 {
                0 => s.push('-'),
                1 if next() % 4 == 0 => s.push('+'),
                _ => {}
            }
            let n = 1 + next() % 20;
            for _ in 0..n {
                s.push(char::from(b'0' + (next() % 10) as u8));
            }
            if next() % 2 == 0 {
                s.insert(1 + (next() as usize % s.len()), '.');
            }
            if next() % 3 == 0 {
                s.push('e');
                if next() % 2 == 0 {
                    s.push(if next() % 2 == 0 { '-' } else { '+' });
                }
                s += &(next() % 40).to_string();
            }
            cases.push(s);
        }
        for s in ["1027", "-0", "0.005", "4.650000025e+07", "9007199254740992"] {
            assert!(parse_short(s.as_bytes()).is_some(), "{s:?}");
        }
        for s in cases {
            let want = s.parse::<f64>().ok().map(f64::to_bits);
            let fast = parse_short(s.as_bytes()).map(f64::to_bits);
            if fast.is_some() {
                assert_eq!(fast, want, "{s:?}");
            }
            assert_eq!(parse(&s).map(f64::to_bits), want, "{s:?}");
            // A number followed by a blank reads as the number alone.
            let line = format!("{s} 5\n");
            if let Some((v, n)) = parse_short_prefix(line.as_bytes()) {
                if n == s.len() {
                    assert_eq!(Some(v.to_bits()), want, "{line:?}");
                }
            }
        }
    }
}
