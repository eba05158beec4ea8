//! Prometheus' rules for metric and label names, in one place for the
//! codecs, the gateway's validation and the grouping key.
//!
//! These are the "legacy" (pre-UTF-8) rules that every client writes names
//! in, and that Go's `expfmt` writes without quotes:
//! metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names
//! `[a-zA-Z_][a-zA-Z0-9_]*`.
//!
//! ```
//! use pushgate::model::name;
//!
//! assert!(name::is_metric_name("http_requests_total"));
//! assert!(name::is_metric_name("job:rate5m"));
//! assert!(!name::is_metric_name("0day"));
//! assert!(name::is_label_name("instance"));
//! assert!(!name::is_label_name("a:b"));
//! ```

/// The byte may start a metric name.
const METRIC_START: u8 = 1;
/// The byte may continue a metric name.
const METRIC_CONT: u8 = 2;
/// The byte may start a label name.
const LABEL_START: u8 = 4;
/// The byte may continue a label name.
const LABEL_CONT: u8 = 8;

/// Which name positions each byte may take. A table rather than range
/// tests: the text decoders classify every byte of every name with it.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        table[i] = if c.is_ascii_alphabetic() || c == b'_' {
            METRIC_START | METRIC_CONT | LABEL_START | LABEL_CONT
        } else if c.is_ascii_digit() {
            METRIC_CONT | LABEL_CONT
        } else if c == b':' {
            METRIC_START | METRIC_CONT
        } else {
            0
        };
        i += 1;
    }
    table
};

/// Whether `b` may start a metric name: `[a-zA-Z_:]`.
#[inline]
pub fn is_metric_name_start(b: u8) -> bool {
    CLASS[usize::from(b)] & METRIC_START != 0
}

/// Whether `b` may continue a metric name: `[a-zA-Z0-9_:]`.
#[inline]
pub fn is_metric_name_char(b: u8) -> bool {
    CLASS[usize::from(b)] & METRIC_CONT != 0
}

/// Whether `b` may start a label name: `[a-zA-Z_]`.
#[inline]
pub fn is_label_name_start(b: u8) -> bool {
    CLASS[usize::from(b)] & LABEL_START != 0
}

/// Whether `b` may continue a label name: `[a-zA-Z0-9_]`.
#[inline]
pub fn is_label_name_char(b: u8) -> bool {
    CLASS[usize::from(b)] & LABEL_CONT != 0
}

/// Whether `name` is a metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*` (Go's
/// `model.LegacyValidation.IsValidMetricName`).
#[inline]
pub fn is_metric_name(name: impl AsRef<[u8]>) -> bool {
    match name.as_ref().split_first() {
        Some((&first, rest)) => {
            is_metric_name_start(first) && rest.iter().all(|&b| is_metric_name_char(b))
        }
        None => false,
    }
}

/// Whether `name` is a label name, `[a-zA-Z_][a-zA-Z0-9_]*`. Names that
/// start with `__` pass: they are reserved for Prometheus' own use, which is
/// for callers to refuse where it matters (the grouping key does).
#[inline]
pub fn is_label_name(name: impl AsRef<[u8]>) -> bool {
    match name.as_ref().split_first() {
        Some((&first, rest)) => {
            is_label_name_start(first) && rest.iter().all(|&b| is_label_name_char(b))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_agrees_with_the_regular_expressions() {
        for b in 0..=255u8 {
            let alpha = b.is_ascii_alphabetic() || b == b'_';
            assert_eq!(is_metric_name_start(b), alpha || b == b':', "{b}");
            assert_eq!(
                is_metric_name_char(b),
                alpha || b == b':' || b.is_ascii_digit(),
                "{b}"
            );
            assert_eq!(is_label_name_start(b), alpha, "{b}");
            assert_eq!(is_label_name_char(b), alpha || b.is_ascii_digit(), "{b}");
        }
    }

    #[test]
    fn names() {
        for ok in ["a", "_", ":", "a:b_c9", "__name__"] {
            assert!(is_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "ä", "a\0"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        for ok in ["a", "_", "a_9", "__name__"] {
            assert!(is_label_name(ok), "{ok}");
        }
        for bad in ["", "9a", ":", "a:b", "a-b", "ü"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        assert!(is_label_name(b"bytes".as_slice()));
    }
}
