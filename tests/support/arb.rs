//! proptest strategies for metric families.

#![allow(dead_code)]

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use pushgate::model::*;

/// Any string, including empty, unicode and control characters.
pub fn any_str() -> impl Strategy<Value = Str> {
    ".{0,12}".prop_map(Str::from)
}

/// Any f64 bit pattern, NaNs included.
pub fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        any::<u64>().prop_map(f64::from_bits),
    ]
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<i64>(), any::<i32>()).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos })
}

pub fn label_pair() -> impl Strategy<Value = LabelPair> {
    (option::of(any_str()), option::of(any_str()))
        .prop_map(|(name, value)| LabelPair { name, value })
}

pub fn exemplar() -> impl Strategy<Value = Exemplar> {
    (
        vec(label_pair(), 0..3),
        option::of(any_f64()),
        option::of(timestamp()),
    )
        .prop_map(|(label, value, timestamp)| Exemplar {
            label,
            value,
            timestamp,
        })
}

pub fn span() -> impl Strategy<Value = BucketSpan> {
    (option::of(any::<i32>()), option::of(any::<u32>()))
        .prop_map(|(offset, length)| BucketSpan { offset, length })
}

pub fn bucket() -> impl Strategy<Value = Bucket> {
    (
        option::of(any::<u64>()),
        option::of(any_f64()),
        option::of(any_f64()),
        option::of(exemplar().prop_map(Box::new)),
    )
        .prop_map(
            |(cumulative_count, cumulative_count_float, upper_bound, exemplar)| Bucket {
                cumulative_count,
                cumulative_count_float,
                upper_bound,
                exemplar,
            },
        )
}

pub fn histogram() -> impl Strategy<Value = Histogram> {
    (
        (
            option::of(any::<u64>()),
            option::of(any_f64()),
            option::of(any_f64()),
            vec(bucket(), 0..4),
            option::of(timestamp()),
            option::of(any::<i32>()),
            option::of(any_f64()),
            option::of(any::<u64>()),
            option::of(any_f64()),
        ),
        (
            vec(span(), 0..3),
            vec(any::<i64>(), 0..3),
            vec(any_f64(), 0..3),
            vec(span(), 0..3),
            vec(any::<i64>(), 0..3),
            vec(any_f64(), 0..3),
            vec(exemplar(), 0..2),
        ),
    )
        .prop_map(|(a, b)| Histogram {
            sample_count: a.0,
            sample_count_float: a.1,
            sample_sum: a.2,
            bucket: a.3,
            created_timestamp: a.4,
            schema: a.5,
            zero_threshold: a.6,
            zero_count: a.7,
            zero_count_float: a.8,
            negative_span: b.0,
            negative_delta: b.1,
            negative_count: b.2,
            positive_span: b.3,
            positive_delta: b.4,
            positive_count: b.5,
            exemplars: b.6,
        })
}

pub fn summary() -> impl Strategy<Value = Summary> {
    (
        option::of(any::<u64>()),
        option::of(any_f64()),
        vec(
            (option::of(any_f64()), option::of(any_f64()))
                .prop_map(|(quantile, value)| Quantile { quantile, value }),
            0..4,
        ),
        option::of(timestamp()),
    )
        .prop_map(
            |(sample_count, sample_sum, quantile, created_timestamp)| Summary {
                sample_count,
                sample_sum,
                quantile,
                created_timestamp,
            },
        )
}

/// Any metric: every field independently present or absent.
pub fn metric() -> impl Strategy<Value = Metric> {
    (
        vec(label_pair(), 0..4),
        option::of(any_f64().prop_map(|v| Gauge { value: Some(v) })),
        option::of(
            (
                option::of(any_f64()),
                option::of(exemplar().prop_map(Box::new)),
                option::of(timestamp()),
            )
                .prop_map(|(value, exemplar, created_timestamp)| Counter {
                    value,
                    exemplar,
                    created_timestamp,
                }),
        ),
        option::of(summary().prop_map(Box::new)),
        option::of(any_f64().prop_map(|v| Untyped { value: Some(v) })),
        option::of(histogram().prop_map(Box::new)),
        option::of(any::<i64>()),
    )
        .prop_map(
            |(label, gauge, counter, summary, untyped, histogram, timestamp_ms)| Metric {
                label,
                gauge,
                counter,
                summary,
                untyped,
                histogram,
                timestamp_ms,
            },
        )
}

/// Any family the protobuf model can hold.
pub fn family() -> impl Strategy<Value = MetricFamily> {
    (
        option::of(any_str()),
        option::of(any_str()),
        option::of(any::<i32>()),
        vec(metric(), 0..4),
        option::of(any_str()),
    )
        .prop_map(|(name, help, r#type, metric, unit)| MetricFamily {
            name,
            help,
            r#type,
            metric,
            unit,
        })
}

/// Compares families with floats by bit pattern, so NaN equals NaN.
pub fn bits_eq(a: &[MetricFamily], b: &[MetricFamily]) -> bool {
    use prost::Message;
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.encode_to_vec() == y.encode_to_vec())
}

/// Finite floats, infinities and the canonical NaN: what text formats carry.
/// Not `-0.0`: Go's encoders write it as `0`, and so do ours.
pub fn text_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => any::<f64>().prop_filter("canonical NaN, no -0", |v| !v.is_nan() && *v != 0.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => (-1000i32..1000).prop_map(f64::from),
    ]
}

/// Label sets the text formats can carry: legacy names, no reserved or
/// grouping names (`le`, `quantile`), unique names, any value.
pub fn text_labels() -> impl Strategy<Value = Vec<LabelPair>> {
    proptest::collection::btree_map(
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}".prop_filter("reserved", |n| {
            !n.starts_with("__") && n != "le" && n != "quantile"
        }),
        "\\PC{0,8}|[\\\\\"\n]{0,3}",
        0..4,
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| LabelPair::new(k, v)).collect())
}

/// Counts as the text formats write them: floats, exact below 2^53.
pub fn text_count() -> impl Strategy<Value = u64> {
    0u64..(1 << 40)
}

/// A metric of `t` holding exactly what text formats can write for it.
pub fn text_metric(t: MetricType, timestamps: bool) -> BoxedStrategy<Metric> {
    let ts = if timestamps {
        option::of(-(1i64 << 50)..(1i64 << 50)).boxed()
    } else {
        Just(None).boxed()
    };
    let value = (text_labels(), ts);
    match t {
        MetricType::Counter => (value, text_f64())
            .prop_map(|((label, timestamp_ms), v)| Metric {
                label,
                timestamp_ms,
                counter: Some(Counter {
                    value: Some(v),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .boxed(),
        MetricType::Gauge => (value, text_f64())
            .prop_map(|((label, timestamp_ms), v)| Metric {
                label,
                timestamp_ms,
                gauge: Some(Gauge { value: Some(v) }),
                ..Default::default()
            })
            .boxed(),
        MetricType::Untyped => (value, text_f64())
            .prop_map(|((label, timestamp_ms), v)| Metric {
                label,
                timestamp_ms,
                untyped: Some(Untyped { value: Some(v) }),
                ..Default::default()
            })
            .boxed(),
        MetricType::Summary => (
            value,
            text_count(),
            text_f64(),
            proptest::collection::btree_map(0u32..1000, text_f64(), 0..4),
        )
            .prop_map(|((label, timestamp_ms), count, sum, qs)| Metric {
                label,
                timestamp_ms,
                summary: Some(Box::new(Summary {
                    sample_count: Some(count),
                    sample_sum: Some(sum),
                    quantile: qs
                        .into_iter()
                        .map(|(q, v)| Quantile {
                            quantile: Some(f64::from(q) / 1000.0),
                            value: Some(v),
                        })
                        .collect(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .boxed(),
        _ => (
            value,
            text_count(),
            text_f64(),
            proptest::collection::btree_map(-1000i32..1000, text_count(), 0..5),
        )
            .prop_map(|((label, timestamp_ms), count, sum, bs)| {
                // Cumulative counts, ending with the +Inf bucket the encoders
                // would otherwise add.
                let mut cum = 0;
                let mut bucket: Vec<Bucket> = bs
                    .into_iter()
                    .map(|(ub, c)| {
                        cum += c;
                        Bucket {
                            cumulative_count: Some(cum),
                            upper_bound: Some(f64::from(ub) / 8.0),
                            ..Default::default()
                        }
                    })
                    .collect();
                let total = cum + count;
                bucket.push(Bucket {
                    cumulative_count: Some(total),
                    upper_bound: Some(f64::INFINITY),
                    ..Default::default()
                });
                Metric {
                    label,
                    timestamp_ms,
                    histogram: Some(Box::new(Histogram {
                        sample_count: Some(total),
                        sample_sum: Some(sum),
                        bucket,
                        ..Default::default()
                    })),
                    ..Default::default()
                }
            })
            .boxed(),
    }
}

/// Families the text formats can carry: distinct names that no other
/// family's `_sum`/`_count`/`_bucket` lines could be mistaken for, metrics
/// with distinct label sets.
pub fn text_families(
    types: &'static [MetricType],
    timestamps: bool,
) -> impl Strategy<Value = Vec<MetricFamily>> {
    proptest::collection::vec(
        (
            "[a-zA-Z_][a-zA-Z0-9_]{0,10}",
            // Go's parser skips the blanks before help text, so an empty
            // help or one starting with a blank does not survive a trip.
            option::of(
                "\\PC{0,16}|[\\\\\n\"]{0,3}".prop_filter("leading blank", |h| {
                    !h.is_empty() && !h.starts_with([' ', '\t'])
                }),
            ),
            proptest::sample::select(types),
        )
            .prop_flat_map(move |(name, help, t)| {
                (
                    Just(name),
                    Just(help),
                    Just(t),
                    proptest::collection::vec(text_metric(t, timestamps), 1..4),
                )
            }),
        0..5,
    )
    .prop_map(|fams| {
        fams.into_iter()
            .enumerate()
            .map(|(i, (name, help, t, mut metric))| {
                let mut seen = std::collections::HashSet::new();
                metric.retain(|m| seen.insert(m.label.clone()));
                let mut mf = MetricFamily {
                    name: Some(format!("{name}_f{i}").into()),
                    help: help.map(Str::from),
                    metric,
                    ..Default::default()
                };
                mf.set_metric_type(t);
                mf
            })
            .collect()
    })
}
