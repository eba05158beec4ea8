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
    fn json_round_trips(fams in proptest::collection::vec(arb::family(), 0..3)) {
        round_trip(Format::Json, &fams)?;
    }
}
