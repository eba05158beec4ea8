//! The gateway's own metrics, in a [`prometheus::Registry`] the binary
//! serves on `GET /metrics`.
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `pushgate_pushes_total{outcome}` | counter | pushes answered, by outcome: `stored`, `bad_request`, `too_large`, `unsupported_media_type`, `method_not_allowed`, `body_timeout`, `store_timeout`, `store_unavailable`, `store_failed` |
//! | `pushgate_received_bytes_total` | counter | request body bytes read, as sent (before decompression), over all pushes |
//! | `pushgate_push_duration_seconds` | histogram | time from receiving a push request to answering it |

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

use super::GatewayError;

/// The gateway's metrics; clones share them.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    pushes: IntCounterVec,
    /// `pushes` by outcome, resolved once.
    outcomes: Vec<(&'static str, IntCounter)>,
    received_bytes: IntCounter,
    duration: Histogram,
}

/// Buckets of `pushgate_push_duration_seconds`, 100µs to 10s: most pushes
/// take well under a millisecond; the default timeout is 10s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

impl GatewayMetrics {
    /// New metrics, registered nowhere yet; every outcome starts at 0.
    pub fn new() -> GatewayMetrics {
        // Fixed, valid names and help: these constructors cannot fail.
        let pushes = IntCounterVec::new(
            Opts::new("pushgate_pushes_total", "Pushes answered, by outcome."),
            &["outcome"],
        )
        .expect("valid counter options");
        let outcomes = GatewayError::OUTCOMES
            .iter()
            .map(|&o| (o, pushes.with_label_values(&[o])))
            .collect();
        let received_bytes = IntCounter::new(
            "pushgate_received_bytes_total",
            "Request body bytes read, as sent, over all pushes.",
        )
        .expect("valid counter options");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "pushgate_push_duration_seconds",
                "Time from receiving a push to answering it.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )
        .expect("valid histogram options");
        GatewayMetrics {
            pushes,
            outcomes,
            received_bytes,
            duration,
        }
    }

    /// Registers the metrics with `registry`; fails if metrics of the same
    /// names are registered there already.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.pushes.clone()))?;
        registry.register(Box::new(self.received_bytes.clone()))?;
        registry.register(Box::new(self.duration.clone()))
    }

    /// Counts one push answered with `outcome` after reading `bytes` in
    /// `duration`.
    pub fn record(&self, outcome: &str, bytes: u64, duration: Duration) {
        match self.outcomes.iter().find(|(o, _)| *o == outcome) {
            Some((_, counter)) => counter.inc(),
            None => self.pushes.with_label_values(&[outcome]).inc(),
        }
        self.received_bytes.inc_by(bytes);
        self.duration.observe(duration.as_secs_f64());
    }
}

impl Default for GatewayMetrics {
    fn default() -> GatewayMetrics {
        GatewayMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, TextEncoder};

    #[test]
    fn registers_and_counts() {
        let registry = Registry::new();
        let m = GatewayMetrics::new();
        m.register(&registry).unwrap();
        m.record("stored", 100, Duration::from_micros(300));
        m.record("bad_request", 7, Duration::from_millis(2));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"stored\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"bad_request\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"store_failed\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_received_bytes_total 107\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_push_duration_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_push_duration_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        // Twice in one registry is refused.
        assert!(GatewayMetrics::new().register(&registry).is_err());
    }
}
