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

    /// The one-pass encoder writes exactly what prost's would (metrics
    /// with every field at once, too), and its parts join into the same.
    #[test]
    fn encodes_the_bytes_prost_does(fams in proptest::collection::vec(arb::family(), 0..4)) {
        let mut ours = Vec::new();
        protobuf::encode(&fams, &mut ours);
        let mut theirs = Vec::new();
        for family in &fams {
            family.encode_length_delimited(&mut theirs).unwrap();
        }
        prop_assert_eq!(ours, theirs);
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

/// One field of a small message: a key byte for tag 1..=4 with a wire
/// type, then a plausible (or not) payload: varints of every length,
/// over-long and overflowing ones included, fixed64s, short lengths.
fn small_field() -> impl Strategy<Value = Vec<u8>> {
    // Mostly the tags and wire types of the layouts the decoder reads
    // straight off the bytes, so that they and their near misses come up.
    let tag = prop_oneof![4 => 1u8..=2, 1 => 1u8..=4];
    let wire = prop_oneof![3 => Just(0u8), 3 => Just(1u8), 1 => 0u8..=5];
    let varint_len = prop_oneof![3 => 1usize..=2, 1 => 0usize..=11];
    (tag, wire, any::<u64>(), varint_len, any::<[u8; 8]>()).prop_map(
        |(tag, wire, v, varint_len, fixed)| {
            let mut out = vec![(tag << 3) | wire];
            match wire {
                0 => {
                    // `varint_len` bytes: continuation bits on all but the
                    // last, so lengths past 10 overflow.
                    let n = varint_len.max(1);
                    for i in 0..n {
                        let byte = ((v >> (7 * i.min(9))) & 0x7f) as u8;
                        out.push(if i + 1 < n { byte | 0x80 } else { byte });
                    }
                }
                1 => out.extend_from_slice(&fixed),
                2 => {
                    out.push((varint_len % 4) as u8);
                    out.extend_from_slice(&fixed[..varint_len % 4]);
                }
                5 => out.extend_from_slice(&fixed[..4]),
                _ => {}
            }
            out
        },
    )
}

/// `payload` as field `tag` (length-delimited) of a message.
fn wrap(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(tag << 3) | 2];
    prost::encode_length_delimiter(payload.len(), &mut out).unwrap();
    out.extend_from_slice(payload);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The decoder reads buckets, quantiles and lone values laid out as
    /// clients write them straight off the bytes: any other layout of the
    /// same messages must still decode exactly as prost decodes it.
    #[test]
    fn small_messages_agree_with_prost(
        fields in prop_oneof![2 => Just(2usize), 1 => 0usize..=3]
            .prop_flat_map(|n| proptest::collection::vec(small_field(), n)),
        which in 0u8..5,
    ) {
        let inner: Vec<u8> = fields.concat();
        let metric = match which {
            // Histogram.bucket, Summary.quantile
            0 => wrap(7, &wrap(3, &inner)),
            1 => wrap(4, &wrap(3, &inner)),
            // Metric.gauge, Metric.counter, Metric.untyped
            2 => wrap(2, &inner),
            3 => wrap(3, &inner),
            _ => wrap(5, &inner),
        };
        let record = wrap(4, &metric);
        prop_assert_eq!(ours_decode(&record), prost_decode(&record));
    }
}

#[test]
fn plain_layouts_decode_exactly() {
    use pushgate::model::{Bucket, Histogram, Metric, Quantile, Summary};
    let bucket = |count: u64, bound: f64| Bucket {
        cumulative_count: Some(count),
        upper_bound: Some(bound),
        ..Default::default()
    };
    let hist = Metric {
        histogram: Some(Box::new(Histogram {
            sample_count: Some(u64::MAX),
            bucket: [0, 1, 127, 128, 1 << 35, u64::MAX]
                .into_iter()
                .map(|c| bucket(c, c as f64 / 3.0))
                .collect(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let summary = Metric {
        summary: Some(Box::new(Summary {
            quantile: vec![Quantile {
                quantile: Some(0.99),
                value: Some(f64::NAN),
            }],
            ..Default::default()
        })),
        ..Default::default()
    };
    let mf = MetricFamily {
        name: Some("x".into()),
        metric: vec![hist, summary],
        ..Default::default()
    };
    let record = mf.encode_to_vec();
    assert_eq!(ours_decode(&record), prost_decode(&record));
    assert_eq!(ours_decode(&record).unwrap(), record);
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
