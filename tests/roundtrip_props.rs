//! Random families survive a round trip through every text format that can
//! represent them (the protobuf round trip is in `protobuf_props.rs`).

use bytes::Bytes;
use proptest::prelude::*;
use pushgate::codec::{self, Limits};
use pushgate::model::MetricType;
use pushgate::Format;

mod support {
    pub mod arb;
}
use support::arb;

const TEXT_TYPES: &[MetricType] = &[
    MetricType::Counter,
    MetricType::Gauge,
    MetricType::Untyped,
    MetricType::Summary,
    MetricType::Histogram,
];

fn round_trip(format: Format, fams: &[pushgate::model::MetricFamily]) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    codec::encode(format, fams, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let back = codec::decode(format, Bytes::from(out), &Limits::default())
        .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert!(
        arb::bits_eq(&back, fams),
        "{format} round trip changed the families\n{text}\nwant {fams:#?}\ngot {back:#?}"
    );
    Ok(())
}

/// Adapts text-representable families to OpenMetrics' rules: counter
/// families are named `*_total`, counter values and summary/histogram sums
/// are counters (not negative, not NaN; no sum beside negative buckets),
/// quantile values are not negative.
fn openmetrics_families(
    mut fams: Vec<pushgate::model::MetricFamily>,
) -> Vec<pushgate::model::MetricFamily> {
    let counter = |v: &mut Option<f64>| {
        if let Some(x) = v {
            *x = if x.is_nan() { 0.0 } else { x.abs() };
        }
    };
    for mf in &mut fams {
        if mf.metric_type() == MetricType::Counter {
            mf.name = Some(format!("{}_total", mf.name()).into());
        }
        for m in &mut mf.metric {
            if let Some(c) = &mut m.counter {
                counter(&mut c.value);
            }
            if let Some(h) = &mut m.histogram {
                counter(&mut h.sample_sum);
                // With negative buckets the sum is no counter: OM forbids it.
                if h.bucket.iter().any(|b| b.upper_bound.unwrap_or(0.0) < 0.0) {
                    h.sample_sum = None;
                }
            }
            if let Some(s) = &mut m.summary {
                counter(&mut s.sample_sum);
                for q in &mut s.quantile {
                    if let Some(v) = &mut q.value {
                        *v = v.abs();
                    }
                }
            }
        }
    }
    fams
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_round_trips(fams in arb::text_families(TEXT_TYPES, true)) {
        round_trip(Format::Text, &fams)?;
    }

    #[test]
    fn text_families_round_trip_through_protobuf(fams in arb::text_families(TEXT_TYPES, true)) {
        round_trip(Format::Protobuf, &fams)?;
    }

    #[test]
    fn openmetrics_round_trips(fams in arb::text_families(TEXT_TYPES, true)) {
        round_trip(Format::OpenMetrics, &openmetrics_families(fams))?;
    }

    #[test]
    fn json_round_trips(fams in proptest::collection::vec(arb::family(), 0..3)) {
        // JSON writes every NaN as "NaN", so NaN payload bits are not kept:
        // compare the re-encoded JSON rather than the bits.
        let mut out = Vec::new();
        codec::encode(Format::Json, &fams, &mut out).unwrap();
        let back = codec::decode(Format::Json, Bytes::from(out.clone()), &Limits::default()).unwrap();
        let mut again = Vec::new();
        codec::encode(Format::Json, &back, &mut again).unwrap();
        prop_assert_eq!(String::from_utf8(again).unwrap(), String::from_utf8(out).unwrap());
        prop_assert_eq!(back.len(), fams.len());
    }
}
