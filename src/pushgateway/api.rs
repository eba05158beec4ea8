//! The Pushgateway's JSON API, `/api/v1/metrics` and `/api/v1/status`, in
//! its shapes: what its status page, scripts and dashboards read.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::codec::float::write_g;
use crate::model::{Metric, MetricFamily, MetricType};
use crate::store::{GroupInfo, PUSH_FAILURE_TIME, PUSH_TIME};
use crate::time::rfc3339_nanos;

/// `GET /api/v1/metrics`: every group with its labels, whether its last
/// push succeeded, and each family with the time it was pushed.
pub(super) fn metrics(groups: &[GroupInfo]) -> Value {
    let data: Vec<Value> = groups.iter().map(group).collect();
    json!({ "status": "success", "data": data })
}

/// `GET /api/v1/status`: version, flags and start time.
pub(super) fn status(flags: &[(String, String)], started: SystemTime) -> Value {
    let flags: Map<String, Value> = flags
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "status": "success",
        "data": {
            "build_information": {
                "version": env!("CARGO_PKG_VERSION"),
                "program": "pushgate",
                "branch": "",
                "revision": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "flags": flags,
            "start_time": rfc3339_nanos(started),
        }
    })
}

fn group(group: &GroupInfo) -> Value {
    let mut out = Map::new();
    let labels: Map<String, Value> = group
        .labels
        .iter()
        .map(|l| (l.name().to_owned(), Value::String(l.value().to_owned())))
        .collect();
    out.insert("labels".into(), Value::Object(labels));
    out.insert(
        "last_push_successful".into(),
        Value::Bool(match (group.pushed, group.failed) {
            (_, None) => true,
            (Some(pushed), Some(failed)) => pushed >= failed,
            (None, Some(_)) => false,
        }),
    );
    for stored in &group.families {
        out.insert(
            stored.family.name().to_owned(),
            family(&stored.family, stored.pushed),
        );
    }
    let pushed = group.pushed.unwrap_or(SystemTime::UNIX_EPOCH);
    let own = crate::store::GroupStore::time_families(group);
    for f in own {
        debug_assert!(f.name() == PUSH_TIME || f.name() == PUSH_FAILURE_TIME);
        out.insert(f.name().to_owned(), family(&f, pushed));
    }
    Value::Object(out)
}

fn family(family: &MetricFamily, pushed: SystemTime) -> Value {
    let mut out = Map::new();
    out.insert("time_stamp".into(), Value::String(rfc3339_nanos(pushed)));
    out.insert(
        "type".into(),
        Value::String(type_name(family.metric_type()).into()),
    );
    if !family.help().is_empty() {
        out.insert("help".into(), Value::String(family.help().to_owned()));
    }
    let metrics: Vec<Value> = family
        .metric
        .iter()
        .map(|m| metric(m, family.metric_type()))
        .collect();
    out.insert("metrics".into(), Value::Array(metrics));
    Value::Object(out)
}

fn metric(metric: &Metric, kind: MetricType) -> Value {
    let mut out = Map::new();
    let labels: Map<String, Value> = metric
        .label
        .iter()
        .map(|l| (l.name().to_owned(), Value::String(l.value().to_owned())))
        .collect();
    out.insert("labels".into(), Value::Object(labels));
    match kind {
        MetricType::Summary => {
            let s = metric.summary.as_deref().cloned().unwrap_or_default();
            let quantiles: Map<String, Value> = s
                .quantile
                .iter()
                .map(|q| {
                    (
                        g(q.quantile.unwrap_or(0.0)),
                        Value::String(g(q.value.unwrap_or(0.0))),
                    )
                })
                .collect();
            out.insert("quantiles".into(), Value::Object(quantiles));
            out.insert(
                "count".into(),
                Value::String(s.sample_count.unwrap_or(0).to_string()),
            );
            out.insert("sum".into(), Value::String(g(s.sample_sum.unwrap_or(0.0))));
        }
        MetricType::Histogram | MetricType::GaugeHistogram => {
            let h = metric.histogram.as_deref().cloned().unwrap_or_default();
            let buckets: Map<String, Value> = h
                .bucket
                .iter()
                .map(|b| {
                    let count = match b.cumulative_count_float {
                        Some(f) if f > 0.0 => g(f),
                        _ => b.cumulative_count.unwrap_or(0).to_string(),
                    };
                    (
                        g(b.upper_bound.unwrap_or(f64::INFINITY)),
                        Value::String(count),
                    )
                })
                .collect();
            out.insert("buckets".into(), Value::Object(buckets));
            let count = match h.sample_count_float {
                Some(f) if f > 0.0 => g(f),
                _ => h.sample_count.unwrap_or(0).to_string(),
            };
            out.insert("count".into(), Value::String(count));
            out.insert("sum".into(), Value::String(g(h.sample_sum.unwrap_or(0.0))));
        }
        MetricType::Counter | MetricType::Gauge | MetricType::Untyped => {
            let value = metric
                .counter
                .as_ref()
                .and_then(|c| c.value)
                .or(metric.gauge.and_then(|v| v.value))
                .or(metric.untyped.and_then(|v| v.value))
                .unwrap_or(0.0);
            out.insert("value".into(), Value::String(g(value)));
        }
    }
    Value::Object(out)
}

/// A value as Go's `%v` writes a float64.
fn g(v: f64) -> String {
    let mut out = Vec::new();
    write_g(&mut out, v);
    String::from_utf8(out).expect("digits are ASCII")
}

/// The type as the Pushgateway's API spells it (client_model's enum name).
fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "COUNTER",
        MetricType::Gauge => "GAUGE",
        MetricType::Summary => "SUMMARY",
        MetricType::Untyped => "UNTYPED",
        MetricType::Histogram => "HISTOGRAM",
        MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
    }
}
