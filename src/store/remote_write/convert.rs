//! Families → remote write series, as Prometheus itself would have
//! ingested them had it scraped the push (its protobuf parser's rules).

use std::time::{SystemTime, UNIX_EPOCH};

use super::proto::{self, BucketSpan, Count, Label, Sample, TimeSeries, ZeroCount};
use crate::codec::float;
use crate::model::{self, Metric, MetricFamily, MetricType};

/// `Histogram.ResetHint.GAUGE`: a gauge histogram's counts go up and down.
const RESET_HINT_GAUGE: i32 = 3;

/// The series of `families`, each with one sample or one native histogram,
/// stamped with each metric's timestamp or else `received`.
pub(crate) fn convert(families: &[MetricFamily], received: SystemTime) -> Vec<TimeSeries> {
    let received = millis(received);
    let mut out = Vec::new();
    for family in families {
        let name = family.name();
        let kind = family.metric_type();
        for metric in &family.metric {
            let at = metric.timestamp_ms.unwrap_or(received);
            let series = Series { metric, name, at };
            match kind {
                MetricType::Counter => {
                    series.sample(&mut out, "", None, counter(metric));
                }
                MetricType::Gauge => {
                    let v = metric.gauge.and_then(|g| g.value).unwrap_or(0.0);
                    series.sample(&mut out, "", None, v);
                }
                MetricType::Untyped => {
                    let v = metric.untyped.and_then(|u| u.value).unwrap_or(0.0);
                    series.sample(&mut out, "", None, v);
                }
                MetricType::Summary => series.summary(&mut out),
                MetricType::Histogram | MetricType::GaugeHistogram => {
                    series.histogram(&mut out, kind == MetricType::GaugeHistogram);
                }
            }
        }
    }
    out
}

/// Milliseconds since the epoch (negative before it), as remote write
/// stamps samples.
pub(crate) fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn counter(metric: &Metric) -> f64 {
    metric.counter.as_ref().and_then(|c| c.value).unwrap_or(0.0)
}

/// `strconv.FormatFloat(v, 'g', -1, 64)`, as Prometheus writes `le` and
/// `quantile` values: `0.5`, `1`, `1e+06`, `+Inf`.
fn format_float(v: f64) -> String {
    let mut out = Vec::new();
    float::write_g(&mut out, v);
    String::from_utf8(out).expect("a formatted float is ASCII")
}

/// One metric on its way to series.
struct Series<'a> {
    metric: &'a Metric,
    name: &'a str,
    at: i64,
}

impl Series<'_> {
    /// `__name__` = name + suffix, the metric's labels with a value, and
    /// `extra` (`le`, `quantile`), sorted by name in byte order as
    /// Prometheus' `labels.Labels` are (`A` < `__name__` < `a`).
    fn labels(&self, suffix: &str, extra: Option<(&str, String)>) -> Vec<Label> {
        let mut labels = Vec::with_capacity(self.metric.label.len() + 2);
        labels.push(Label {
            name: "__name__".into(),
            value: format!("{}{suffix}", self.name),
        });
        // An empty value is no label at all in Prometheus.
        labels.extend(
            self.metric
                .label
                .iter()
                .filter(|l| !l.value().is_empty())
                .map(|l| Label {
                    name: l.name().into(),
                    value: l.value().into(),
                }),
        );
        if let Some((name, value)) = extra {
            labels.push(Label {
                name: name.into(),
                value,
            });
        }
        labels.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        labels
    }

    fn sample(
        &self,
        out: &mut Vec<TimeSeries>,
        suffix: &str,
        extra: Option<(&str, String)>,
        value: f64,
    ) {
        out.push(TimeSeries {
            labels: self.labels(suffix, extra),
            samples: vec![Sample {
                value,
                timestamp: self.at,
            }],
            histograms: Vec::new(),
        });
    }

    fn summary(&self, out: &mut Vec<TimeSeries>) {
        let Some(s) = self.metric.summary.as_deref() else {
            self.sample(out, "_sum", None, 0.0);
            self.sample(out, "_count", None, 0.0);
            return;
        };
        for q in &s.quantile {
            let quantile = format_float(q.quantile.unwrap_or(0.0));
            let value = q.value.unwrap_or(0.0);
            self.sample(out, "", Some(("quantile", quantile)), value);
        }
        self.sample(out, "_sum", None, s.sample_sum.unwrap_or(0.0));
        self.sample(out, "_count", None, s.sample_count.unwrap_or(0) as f64);
    }

    fn histogram(&self, out: &mut Vec<TimeSeries>, gauge: bool) {
        let default = model::Histogram::default();
        let h = self.metric.histogram.as_deref().unwrap_or(&default);
        let native = is_native(h);
        if native {
            out.push(TimeSeries {
                labels: self.labels("", None),
                samples: Vec::new(),
                histograms: vec![self.native(h, gauge)],
            });
        }
        // A native histogram also sends its classic buckets when it has
        // some, as Prometheus does when it keeps classic histograms.
        if native && h.bucket.is_empty() {
            return;
        }
        let count = if h.sample_count_float.is_some_and(|c| c > 0.0) {
            h.sample_count_float.unwrap_or(0.0)
        } else {
            h.sample_count.unwrap_or(0) as f64
        };
        let mut inf_seen = false;
        for b in &h.bucket {
            let upper = b.upper_bound.unwrap_or(0.0);
            inf_seen |= upper == f64::INFINITY;
            let cumulative = match b.cumulative_count_float {
                Some(c) if c > 0.0 => c,
                _ => b.cumulative_count.unwrap_or(0) as f64,
            };
            self.sample(
                out,
                "_bucket",
                Some(("le", format_float(upper))),
                cumulative,
            );
        }
        // The +Inf bucket is optional in a push and implied by the count.
        if !inf_seen {
            self.sample(out, "_bucket", Some(("le", "+Inf".into())), count);
        }
        self.sample(out, "_sum", None, h.sample_sum.unwrap_or(0.0));
        self.sample(out, "_count", None, count);
    }

    fn native(&self, h: &model::Histogram, gauge: bool) -> proto::Histogram {
        let spans = |spans: &[model::BucketSpan]| -> Vec<BucketSpan> {
            spans
                .iter()
                .map(|s| BucketSpan {
                    offset: s.offset.unwrap_or(0),
                    length: s.length.unwrap_or(0),
                })
                .collect()
        };
        let float = h.sample_count_float.is_some_and(|c| c > 0.0)
            || h.zero_count_float.is_some_and(|c| c > 0.0);
        let mut out = proto::Histogram {
            sum: h.sample_sum.unwrap_or(0.0),
            schema: h.schema.unwrap_or(0),
            zero_threshold: h.zero_threshold.unwrap_or(0.0),
            negative_spans: spans(&h.negative_span),
            positive_spans: spans(&h.positive_span),
            reset_hint: if gauge { RESET_HINT_GAUGE } else { 0 },
            timestamp: self.at,
            ..proto::Histogram::default()
        };
        if float {
            out.count = Some(Count::Float(h.sample_count_float.unwrap_or(0.0)));
            out.zero_count = Some(ZeroCount::Float(h.zero_count_float.unwrap_or(0.0)));
            out.negative_counts = h.negative_count.clone();
            out.positive_counts = h.positive_count.clone();
        } else {
            out.count = Some(Count::Int(h.sample_count.unwrap_or(0)));
            out.zero_count = Some(ZeroCount::Int(h.zero_count.unwrap_or(0)));
            out.negative_deltas = h.negative_delta.clone();
            out.positive_deltas = h.positive_delta.clone();
        }
        out
    }
}

/// Whether `h` carries a native histogram: a schema, spans, or a zero
/// bucket (client_model's and Prometheus' test, plus the schema, which
/// only native histograms set).
fn is_native(h: &model::Histogram) -> bool {
    h.schema.is_some()
        || !h.positive_span.is_empty()
        || !h.negative_span.is_empty()
        || h.zero_threshold.is_some_and(|z| z > 0.0)
        || h.zero_count.is_some_and(|z| z > 0)
        || h.zero_count_float.is_some_and(|z| z > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{self, Limits};
    use crate::model::{Histogram, LabelPair};
    use crate::Format;
    use std::time::Duration;

    const AT: i64 = 1_700_000_000_123;

    fn received() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(AT as u64)
    }

    fn text(body: &str) -> Vec<TimeSeries> {
        let families = codec::decode(Format::Text, body.to_owned().into(), &Limits::default());
        convert(&families.unwrap(), received())
    }

    /// Each series as `{labels} value @ts`, for readable assertions.
    fn show(series: &[TimeSeries]) -> Vec<String> {
        series
            .iter()
            .map(|s| {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|l| format!("{}={:?}", l.name, l.value))
                    .collect();
                let sample = &s.samples[0];
                format!(
                    "{{{}}} {} @{}",
                    labels.join(","),
                    sample.value,
                    sample.timestamp
                )
            })
            .collect()
    }

    #[test]
    fn counters_gauges_untyped_are_one_series_each_with_sorted_labels() {
        let series = text(
            "# TYPE c counter\nc{b=\"2\",a=\"1\"} 3\n\
             # TYPE g gauge\ng{Zone=\"eu\",empty=\"\"} -1.5 1000\n\
             u 7\n",
        );
        assert_eq!(
            show(&series),
            [
                format!("{{__name__=\"c\",a=\"1\",b=\"2\"}} 3 @{AT}"),
                // Uppercase sorts before `__name__`; the empty label is gone;
                // the metric's own timestamp wins over the receive time.
                "{Zone=\"eu\",__name__=\"g\"} -1.5 @1000".to_owned(),
                format!("{{__name__=\"u\"}} 7 @{AT}"),
            ]
        );
        assert!(series.iter().all(|s| s.histograms.is_empty()));
    }

    #[test]
    fn classic_histograms_become_buckets_sum_and_count() {
        let series = text(
            "# TYPE h histogram\n\
             h_bucket{x=\"y\",le=\"0.05\"} 1\n\
             h_bucket{x=\"y\",le=\"1\"} 2\n\
             h_bucket{x=\"y\",le=\"1000000\"} 3\n\
             h_bucket{x=\"y\",le=\"+Inf\"} 4\n\
             h_sum{x=\"y\"} 12.5\n\
             h_count{x=\"y\"} 4\n",
        );
        assert_eq!(
            show(&series),
            [
                format!("{{__name__=\"h_bucket\",le=\"0.05\",x=\"y\"}} 1 @{AT}"),
                format!("{{__name__=\"h_bucket\",le=\"1\",x=\"y\"}} 2 @{AT}"),
                format!("{{__name__=\"h_bucket\",le=\"1e+06\",x=\"y\"}} 3 @{AT}"),
                format!("{{__name__=\"h_bucket\",le=\"+Inf\",x=\"y\"}} 4 @{AT}"),
                format!("{{__name__=\"h_sum\",x=\"y\"}} 12.5 @{AT}"),
                format!("{{__name__=\"h_count\",x=\"y\"}} 4 @{AT}"),
            ]
        );
    }

    #[test]
    fn a_missing_inf_bucket_is_added_and_gauge_histograms_convert_alike() {
        let mut family = MetricFamily {
            name: Some("gh".into()),
            ..MetricFamily::default()
        };
        family.set_metric_type(MetricType::GaugeHistogram);
        family.metric.push(Metric {
            histogram: Some(Box::new(Histogram {
                sample_count: Some(5),
                sample_sum: Some(2.0),
                bucket: vec![model::Bucket {
                    cumulative_count: Some(3),
                    upper_bound: Some(0.25),
                    ..model::Bucket::default()
                }],
                ..Histogram::default()
            })),
            ..Metric::default()
        });
        assert_eq!(
            show(&convert(&[family], received())),
            [
                format!("{{__name__=\"gh_bucket\",le=\"0.25\"}} 3 @{AT}"),
                format!("{{__name__=\"gh_bucket\",le=\"+Inf\"}} 5 @{AT}"),
                format!("{{__name__=\"gh_sum\"}} 2 @{AT}"),
                format!("{{__name__=\"gh_count\"}} 5 @{AT}"),
            ]
        );
    }

    #[test]
    fn summaries_become_quantiles_sum_and_count() {
        let series = text(
            "# TYPE s summary\n\
             s{quantile=\"0.5\"} 1.5\n\
             s{quantile=\"0.99\"} 9\n\
             s_sum 30\n\
             s_count 10\n",
        );
        assert_eq!(
            show(&series),
            [
                format!("{{__name__=\"s\",quantile=\"0.5\"}} 1.5 @{AT}"),
                format!("{{__name__=\"s\",quantile=\"0.99\"}} 9 @{AT}"),
                format!("{{__name__=\"s_sum\"}} 30 @{AT}"),
                format!("{{__name__=\"s_count\"}} 10 @{AT}"),
            ]
        );
    }

    fn native(buckets: bool) -> MetricFamily {
        let mut family = MetricFamily {
            name: Some("nh".into()),
            ..MetricFamily::default()
        };
        family.set_metric_type(MetricType::Histogram);
        family.metric.push(Metric {
            label: vec![LabelPair::new("job", "j")],
            histogram: Some(Box::new(Histogram {
                sample_count: Some(6),
                sample_sum: Some(10.5),
                schema: Some(3),
                zero_threshold: Some(1e-128),
                zero_count: Some(1),
                negative_span: vec![model::BucketSpan {
                    offset: Some(-2),
                    length: Some(1),
                }],
                negative_delta: vec![1],
                positive_span: vec![
                    model::BucketSpan {
                        offset: Some(0),
                        length: Some(2),
                    },
                    model::BucketSpan {
                        offset: Some(3),
                        length: Some(1),
                    },
                ],
                positive_delta: vec![2, -1, 0],
                bucket: if buckets {
                    vec![model::Bucket {
                        cumulative_count: Some(4),
                        upper_bound: Some(2.0),
                        ..model::Bucket::default()
                    }]
                } else {
                    Vec::new()
                },
                ..Histogram::default()
            })),
            timestamp_ms: Some(AT),
            ..Metric::default()
        });
        family
    }

    #[test]
    fn native_histograms_become_remote_write_histograms() {
        let series = convert(&[native(false)], received());
        assert_eq!(series.len(), 1);
        assert_eq!(
            series[0].labels,
            [
                Label {
                    name: "__name__".into(),
                    value: "nh".into()
                },
                Label {
                    name: "job".into(),
                    value: "j".into()
                },
            ]
        );
        assert!(series[0].samples.is_empty());
        assert_eq!(
            series[0].histograms,
            [proto::Histogram {
                count: Some(Count::Int(6)),
                sum: 10.5,
                schema: 3,
                zero_threshold: 1e-128,
                zero_count: Some(ZeroCount::Int(1)),
                negative_spans: vec![BucketSpan {
                    offset: -2,
                    length: 1
                }],
                negative_deltas: vec![1],
                positive_spans: vec![
                    BucketSpan {
                        offset: 0,
                        length: 2
                    },
                    BucketSpan {
                        offset: 3,
                        length: 1
                    },
                ],
                positive_deltas: vec![2, -1, 0],
                timestamp: AT,
                ..proto::Histogram::default()
            }]
        );
    }

    #[test]
    fn a_histogram_with_classic_and_native_data_sends_both() {
        let series = convert(&[native(true)], received());
        let names: Vec<(&str, usize)> = series
            .iter()
            .map(|s| (s.labels[0].value.as_str(), s.histograms.len()))
            .collect();
        assert_eq!(
            names,
            [
                ("nh", 1),
                ("nh_bucket", 0),
                ("nh_bucket", 0),
                ("nh_sum", 0),
                ("nh_count", 0)
            ]
        );
        assert_eq!(
            show(&series[1..2]),
            [format!(
                "{{__name__=\"nh_bucket\",job=\"j\",le=\"2\"}} 4 @{AT}"
            )]
        );
    }

    #[test]
    fn float_native_histograms_keep_absolute_counts() {
        let mut family = native(false);
        let h = family.metric[0].histogram.as_mut().unwrap();
        h.sample_count_float = Some(2.5);
        h.zero_count_float = Some(0.5);
        h.positive_count = vec![1.0, 1.0];
        h.positive_span = vec![model::BucketSpan {
            offset: Some(0),
            length: Some(2),
        }];
        h.negative_span.clear();
        let series = convert(&[family], received());
        let got = &series[0].histograms[0];
        assert_eq!(got.count, Some(Count::Float(2.5)));
        assert_eq!(got.zero_count, Some(ZeroCount::Float(0.5)));
        assert_eq!(got.positive_counts, [1.0, 1.0]);
        assert!(got.positive_deltas.is_empty());
    }

    #[test]
    fn receive_times_before_the_epoch_are_negative() {
        assert_eq!(millis(UNIX_EPOCH - Duration::from_millis(5)), -5);
        assert_eq!(millis(received()), AT);
    }
}
