//! Benchmark payloads: realistic families of counters, gauges, 10-bucket
//! histograms and summaries, in three sizes.
//!
//! Shared by the criterion benches (and tests that check the sizes) via
//! `#[path]`, so every measurement uses the same families.

#![allow(dead_code)]

use pushgate::model::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Summary,
};

/// A payload size: `families` x `series` metrics.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub name: &'static str,
    pub families: usize,
    pub series: usize,
}

pub const SMALL: Size = Size {
    name: "small",
    families: 10,
    series: 5,
};
pub const MEDIUM: Size = Size {
    name: "medium",
    families: 100,
    series: 10,
};
/// Just under the default 1024000-byte limit when written as text.
pub const LARGE: Size = Size {
    name: "large",
    families: 180,
    series: 10,
};

pub const SIZES: [Size; 3] = [SMALL, MEDIUM, LARGE];

const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

fn labels(f: usize, s: usize) -> Vec<LabelPair> {
    vec![
        LabelPair::new("handler", format!("/api/v1/r{}", f % 17)),
        LabelPair::new("instance", format!("10.0.{}.{s}:9100", f % 8)),
        LabelPair::new("method", METHODS[s % METHODS.len()]),
    ]
}

/// The families of `size`: types cycle counter, gauge, histogram, summary.
pub fn families(size: Size) -> Vec<MetricFamily> {
    (0..size.families)
        .map(|f| {
            let kind = f % 4;
            let (suffix, t) = match kind {
                0 => ("_total", MetricType::Counter),
                1 => ("_bytes", MetricType::Gauge),
                2 => ("_seconds", MetricType::Histogram),
                _ => ("_duration_seconds", MetricType::Summary),
            };
            let mut mf = MetricFamily {
                name: Some(format!("app_{f:03}_requests{suffix}").into()),
                help: Some(
                    format!("Requests handled by subsystem {f}, by handler and status.").into(),
                ),
                ..Default::default()
            };
            mf.set_metric_type(t);
            for s in 0..size.series {
                let x = (f * 31 + s * 7) as f64;
                let mut m = Metric {
                    label: labels(f, s),
                    ..Default::default()
                };
                match t {
                    MetricType::Counter => {
                        m.counter = Some(Counter {
                            value: Some(1027.0 + x * 13.0),
                            ..Default::default()
                        })
                    }
                    MetricType::Gauge => {
                        m.gauge = Some(Gauge {
                            value: Some(x * 1.5e6 + 0.25),
                        })
                    }
                    MetricType::Histogram => {
                        let mut cum = 0u64;
                        let bucket = BOUNDS
                            .iter()
                            .enumerate()
                            .map(|(i, &b)| {
                                cum += (x as u64 % 9) + i as u64 * 3;
                                Bucket {
                                    cumulative_count: Some(cum),
                                    upper_bound: Some(b),
                                    ..Default::default()
                                }
                            })
                            .collect();
                        m.histogram = Some(Box::new(Histogram {
                            sample_count: Some(cum + 2),
                            sample_sum: Some(x * 0.731 + 12.5),
                            bucket,
                            ..Default::default()
                        }))
                    }
                    _ => {
                        m.summary = Some(Box::new(Summary {
                            sample_count: Some(500 + x as u64),
                            sample_sum: Some(x * 0.37 + 3.25),
                            quantile: [0.5, 0.9, 0.99]
                                .iter()
                                .map(|&q| Quantile {
                                    quantile: Some(q),
                                    value: Some(q * 0.125 + x / 1000.0),
                                })
                                .collect(),
                            ..Default::default()
                        }))
                    }
                }
                mf.metric.push(m);
            }
            mf
        })
        .collect()
}

/// Samples (lines of the text format, without HELP/TYPE) in `families`.
pub fn samples(families: &[MetricFamily]) -> usize {
    families
        .iter()
        .flat_map(|mf| &mf.metric)
        .map(|m| {
            if let Some(h) = &m.histogram {
                h.bucket.len() + 1 + 2 // buckets, +Inf, sum, count
            } else if let Some(s) = &m.summary {
                s.quantile.len() + 2
            } else {
                1
            }
        })
        .sum()
}
