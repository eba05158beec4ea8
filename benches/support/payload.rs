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

/// Series of each family of [`group`].
const GROUP_SERIES: [&str; 4] = ["ok", "failed", "retried", "skipped"];

/// The families of one small group, as a batch job pushes them: a counter
/// and a gauge of four series and a histogram of two, 10 series and 34
/// samples. Named apart from [`families`] so both can be stored side by
/// side; `k` (the group's number) makes its values its own, `stamp` is
/// the gauges' value, so that pushing the group again changes it. HELP
/// is the same for every `k`: groups must agree on it.
pub fn group(k: usize, stamp: f64) -> Vec<MetricFamily> {
    let family = |name: &str, help: &str, t: MetricType, metric: Vec<Metric>| {
        let mut mf = MetricFamily {
            name: Some(name.into()),
            help: Some(help.into()),
            metric,
            ..Default::default()
        };
        mf.set_metric_type(t);
        mf
    };
    let label = |v: &str| vec![LabelPair::new("result", v)];
    let x = k as f64;
    let counters = GROUP_SERIES
        .iter()
        .enumerate()
        .map(|(i, r)| Metric {
            label: label(r),
            counter: Some(Counter {
                value: Some(x * 10.0 + i as f64),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let gauges = GROUP_SERIES
        .iter()
        .map(|r| Metric {
            label: label(r),
            gauge: Some(Gauge { value: Some(stamp) }),
            ..Default::default()
        })
        .collect();
    let histograms = GROUP_SERIES[..2]
        .iter()
        .map(|r| {
            let bucket = BOUNDS
                .iter()
                .enumerate()
                .map(|(i, &b)| Bucket {
                    cumulative_count: Some((k + i) as u64),
                    upper_bound: Some(b),
                    ..Default::default()
                })
                .collect();
            Metric {
                label: label(r),
                histogram: Some(Box::new(Histogram {
                    sample_count: Some((k + BOUNDS.len()) as u64),
                    sample_sum: Some(x * 0.5 + 1.25),
                    bucket,
                    ..Default::default()
                })),
                ..Default::default()
            }
        })
        .collect();
    vec![
        family(
            "batch_items_total",
            "Items the batch job handled, by result.",
            MetricType::Counter,
            counters,
        ),
        family(
            "batch_last_run_timestamp_seconds",
            "When the batch job last ran, by result.",
            MetricType::Gauge,
            gauges,
        ),
        family(
            "batch_item_duration_seconds",
            "Time to handle one item, by result.",
            MetricType::Histogram,
            histograms,
        ),
    ]
}
