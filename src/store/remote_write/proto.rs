//! The Prometheus remote write 1.0 messages (`prometheus.WriteRequest` of
//! `prompb/remote.proto` and `prompb/types.proto`), written by hand with
//! `prost`'s derive: only the fields pushgate sends.
//!
//! proto3: scalars at their zero value are not written, repeated scalars
//! are packed. Exemplars and metadata are left out; receivers treat them
//! as optional.

/// `prometheus.WriteRequest`: the body of one remote write, before snappy.
/// Requests are encoded series by series (`send::encode`); the type is for
/// decoding them in tests.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WriteRequest {
    /// Tag 1.
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: one label set, its samples and histograms.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TimeSeries {
    /// Tag 1: sorted by name, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    /// Tag 2.
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
    /// Tag 4: native histograms.
    #[prost(message, repeated, tag = "4")]
    pub(crate) histograms: Vec<Histogram>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub(crate) struct Label {
    /// Tag 1.
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// Tag 2.
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Sample {
    /// Tag 1.
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Tag 2: milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// `prometheus.Histogram`: a native histogram, integer or float.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Histogram {
    /// Tags 1 (`count_int`) and 2 (`count_float`).
    #[prost(oneof = "Count", tags = "1, 2")]
    pub(crate) count: Option<Count>,
    /// Tag 3.
    #[prost(double, tag = "3")]
    pub(crate) sum: f64,
    /// Tag 4.
    #[prost(sint32, tag = "4")]
    pub(crate) schema: i32,
    /// Tag 5.
    #[prost(double, tag = "5")]
    pub(crate) zero_threshold: f64,
    /// Tags 6 (`zero_count_int`) and 7 (`zero_count_float`).
    #[prost(oneof = "ZeroCount", tags = "6, 7")]
    pub(crate) zero_count: Option<ZeroCount>,
    /// Tag 8.
    #[prost(message, repeated, tag = "8")]
    pub(crate) negative_spans: Vec<BucketSpan>,
    /// Tag 9: integer histograms, each bucket's count as a delta to the
    /// previous one's.
    #[prost(sint64, repeated, tag = "9")]
    pub(crate) negative_deltas: Vec<i64>,
    /// Tag 10: float histograms, absolute counts.
    #[prost(double, repeated, tag = "10")]
    pub(crate) negative_counts: Vec<f64>,
    /// Tag 11.
    #[prost(message, repeated, tag = "11")]
    pub(crate) positive_spans: Vec<BucketSpan>,
    /// Tag 12.
    #[prost(sint64, repeated, tag = "12")]
    pub(crate) positive_deltas: Vec<i64>,
    /// Tag 13.
    #[prost(double, repeated, tag = "13")]
    pub(crate) positive_counts: Vec<f64>,
    /// Tag 14: `ResetHint`; always 0, `UNKNOWN`: a push says nothing of
    /// resets.
    #[prost(int32, tag = "14")]
    pub(crate) reset_hint: i32,
    /// Tag 15: milliseconds since the epoch.
    #[prost(int64, tag = "15")]
    pub(crate) timestamp: i64,
}

/// `Histogram.count`.
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub(crate) enum Count {
    /// Tag 1.
    #[prost(uint64, tag = "1")]
    Int(u64),
    /// Tag 2.
    #[prost(double, tag = "2")]
    Float(f64),
}

/// `Histogram.zero_count`.
#[derive(Clone, Copy, PartialEq, prost::Oneof)]
pub(crate) enum ZeroCount {
    /// Tag 6.
    #[prost(uint64, tag = "6")]
    Int(u64),
    /// Tag 7.
    #[prost(double, tag = "7")]
    Float(f64),
}

/// `prometheus.BucketSpan`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub(crate) struct BucketSpan {
    /// Tag 1.
    #[prost(sint32, tag = "1")]
    pub(crate) offset: i32,
    /// Tag 2.
    #[prost(uint32, tag = "2")]
    pub(crate) length: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn wire_bytes_match_prompb() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "a".into(),
                }],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 2,
                }],
                histograms: vec![Histogram {
                    count: Some(Count::Int(3)),
                    schema: -1,
                    zero_count: Some(ZeroCount::Int(0)),
                    positive_spans: vec![BucketSpan {
                        offset: 1,
                        length: 2,
                    }],
                    positive_deltas: vec![1, -1],
                    ..Histogram::default()
                }],
            }],
        };
        let bytes = request.encode_to_vec();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x0a, 46, // timeseries, 46 bytes
            0x0a, 13, 0x0a, 8, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_', 0x12, 1, b'a',
            0x12, 11, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 2,
            0x22, 16,
            0x08, 3, // count_int
            0x20, 1, // schema -1, zigzag
            0x30, 0, // zero_count_int 0: a oneof member is written even at 0
            0x5a, 4, 0x08, 2, 0x10, 2, // positive span: offset 1 (zigzag 2), length 2
            0x62, 2, 2, 1, // positive deltas 1, -1 (zigzag), packed
        ];
        assert_eq!(bytes, expected);
        assert_eq!(WriteRequest::decode(&bytes[..]).unwrap(), request);
    }
}
