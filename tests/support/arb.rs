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
