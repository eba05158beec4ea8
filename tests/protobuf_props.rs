//! Property tests for the protobuf codec: round trips, and agreement with
//! prost's own decoder on arbitrary (mostly malformed) bytes.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;
use pushgate::codec::{self, protobuf, Limits};
use pushgate::model::MetricFamily;

mod support {
    pub mod arb;
}
use support::arb;

/// What prost makes of one record, as a `Result` comparable with ours.
fn prost_decode(record: &[u8]) -> Option<Vec<u8>> {
    MetricFamily::decode(Bytes::copy_from_slice(record))
        .ok()
        .map(|mf| mf.encode_to_vec())
}

fn ours_decode(record: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    prost::encode_length_delimiter(record.len(), &mut body).unwrap();
    body.extend_from_slice(record);
    let limits = Limits {
        max_bytes: usize::MAX,
    };
    protobuf::decode(Bytes::from(body), &limits)
        .ok()
        .map(|fams| fams[0].encode_to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn families_round_trip(fams in proptest::collection::vec(arb::family(), 0..4)) {
        let mut out = Vec::new();
        codec::encode(pushgate::Format::Protobuf, &fams, &mut out).unwrap();
        let back = protobuf::decode(Bytes::from(out.clone()), &Limits { max_bytes: usize::MAX }).unwrap();
        prop_assert!(arb::bits_eq(&back, &fams));
        let mut again = Vec::new();
        protobuf::encode(&back, &mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn agrees_with_prost_on_arbitrary_bytes(record in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(ours_decode(&record), prost_decode(&record));
    }

    #[test]
    fn agrees_with_prost_on_mutated_families(
        mf in arb::family(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut record = mf.encode_to_vec();
        if !record.is_empty() {
            for (i, b) in &flips {
                let i = i.index(record.len());
                record[i] ^= *b;
            }
            let keep = cut.index(record.len() + 1);
            if keep < record.len() / 4 {
                record.truncate(keep);
            }
        }
        prop_assert_eq!(ours_decode(&record), prost_decode(&record));
    }
}

#[test]
fn deep_groups_are_refused_like_prost() {
    // An unknown field 15 opening 120 nested groups inside a family.
    let mut record = Vec::new();
    for _ in 0..120 {
        record.push((15 << 3) | 3);
    }
    for _ in 0..120 {
        record.push((15 << 3) | 4);
    }
    assert_eq!(ours_decode(&record), prost_decode(&record));
    assert_eq!(prost_decode(&record), None);
    // 50 levels are fine for both.
    let shallow: Vec<u8> = std::iter::repeat_n((15 << 3) | 3, 50)
        .chain(std::iter::repeat_n((15 << 3) | 4, 50))
        .collect();
    assert!(prost_decode(&shallow).is_some());
    assert_eq!(ours_decode(&shallow), prost_decode(&shallow));
}

#[test]
fn packed_and_unpacked_repeated_scalars_both_decode() {
    use pushgate::model::{Histogram, Metric};
    // Histogram { positive_delta: [1, -1] } packed (tag 13, LEN) inside a metric.
    let hist = [0x6a, 0x02, 0x02, 0x01];
    let metric = [&[0x3a, hist.len() as u8][..], &hist].concat();
    let family = [&[0x22, metric.len() as u8][..], &metric].concat();
    let mut body = vec![family.len() as u8];
    body.extend_from_slice(&family);
    let fams = protobuf::decode(Bytes::from(body), &Limits::default()).unwrap();
    let want = Metric {
        histogram: Some(Box::new(Histogram {
            positive_delta: vec![1, -1],
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(fams[0].metric, vec![want.clone()]);
    // Re-encoded unpacked, as proto2 declares the field (and Go writes it).
    let unpacked = want.encode_to_vec();
    assert_eq!(&unpacked[2..], &[0x68, 0x02, 0x68, 0x01]);
}

#[test]
fn a_large_metric_does_not_make_empty_ones_reserve() {
    use pushgate::model::{LabelPair, Metric};
    // One metric with 1000 labels, then 10000 empty metrics: the size hint
    // taken from the first must not be reserved for each of the others.
    let big = Metric {
        label: (0..1000)
            .map(|i| LabelPair::new(format!("l{i}"), "v"))
            .collect(),
        ..Default::default()
    };
    let mut mf = MetricFamily {
        name: Some("x".into()),
        metric: vec![big],
        ..Default::default()
    };
    mf.metric
        .extend(std::iter::repeat_n(Metric::default(), 10_000));
    let mut body = Vec::new();
    protobuf::encode(std::slice::from_ref(&mf), &mut body);
    let fams = protobuf::decode(Bytes::from(body), &Limits::default()).unwrap();
    assert_eq!(fams[0].metric.len(), 10_001);
    assert!(fams[0].metric[1..].iter().all(|m| m.label.capacity() == 0));
}
