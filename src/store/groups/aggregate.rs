//! Aggregating groups: a push adds to what the group has, series by series.

use std::collections::{BTreeMap, HashMap};

use super::{sorted_labels, StoredFamily};
use crate::model::{Metric, MetricFamily, MetricType};

/// Folds the group's `existing` families into `incoming`, so that
/// `incoming` becomes what the group holds after the push: for each family
/// pushed with the type it has, a series in both is the sum of the two
/// (counters, histograms, summaries' counts and sums) or the pushed one
/// (gauges, untyped, gauge histograms, summaries' quantiles), and a series
/// only in the group stays. A family pushed with another type replaces the
/// group's.
pub(super) fn merge(
    existing: &BTreeMap<String, StoredFamily>,
    incoming: &mut BTreeMap<String, MetricFamily>,
) {
    for (name, family) in incoming.iter_mut() {
        let Some(old) = existing.get(name) else {
            continue;
        };
        let old = &old.family;
        let kind = family.metric_type();
        if old.metric_type() != kind {
            continue;
        }
        let mut pushed: HashMap<Vec<(String, String)>, usize> = family
            .metric
            .iter()
            .enumerate()
            .map(|(i, m)| (sorted_labels(&m.label), i))
            .collect();
        let mut kept = Vec::new();
        for metric in &old.metric {
            match pushed.remove(&sorted_labels(&metric.label)) {
                Some(i) => add(metric, &mut family.metric[i], kind),
                None => kept.push(metric.clone()),
            }
        }
        family.metric.extend(kept);
    }
}

/// Adds `old` into `new`, as the type says.
fn add(old: &Metric, new: &mut Metric, kind: MetricType) {
    match kind {
        MetricType::Counter => {
            if let (Some(o), Some(n)) = (&old.counter, &mut new.counter) {
                n.value = Some(o.value.unwrap_or(0.0) + n.value.unwrap_or(0.0));
            }
        }
        MetricType::Summary => {
            if let (Some(o), Some(n)) = (&old.summary, &mut new.summary) {
                n.sample_count = Some(
                    o.sample_count
                        .unwrap_or(0)
                        .saturating_add(n.sample_count.unwrap_or(0)),
                );
                n.sample_sum = Some(o.sample_sum.unwrap_or(0.0) + n.sample_sum.unwrap_or(0.0));
            }
        }
        MetricType::Histogram => {
            if let (Some(o), Some(n)) = (&old.histogram, &mut new.histogram) {
                let same_buckets = o.bucket.len() == n.bucket.len()
                    && o.bucket
                        .iter()
                        .zip(&n.bucket)
                        .all(|(a, b)| a.upper_bound == b.upper_bound);
                let classic_only = o.schema.is_none() && n.schema.is_none();
                // Buckets that differ cannot be added: the push replaces.
                if !(same_buckets && classic_only) {
                    return;
                }
                n.sample_count = Some(
                    o.sample_count
                        .unwrap_or(0)
                        .saturating_add(n.sample_count.unwrap_or(0)),
                );
                if o.sample_count_float.is_some() || n.sample_count_float.is_some() {
                    n.sample_count_float = Some(
                        o.sample_count_float.unwrap_or(0.0) + n.sample_count_float.unwrap_or(0.0),
                    );
                }
                n.sample_sum = Some(o.sample_sum.unwrap_or(0.0) + n.sample_sum.unwrap_or(0.0));
                for (a, b) in o.bucket.iter().zip(&mut n.bucket) {
                    b.cumulative_count = Some(
                        a.cumulative_count
                            .unwrap_or(0)
                            .saturating_add(b.cumulative_count.unwrap_or(0)),
                    );
                    if a.cumulative_count_float.is_some() || b.cumulative_count_float.is_some() {
                        b.cumulative_count_float = Some(
                            a.cumulative_count_float.unwrap_or(0.0)
                                + b.cumulative_count_float.unwrap_or(0.0),
                        );
                    }
                }
            }
        }
        // Last write wins.
        MetricType::Gauge | MetricType::Untyped | MetricType::GaugeHistogram => {}
    }
}
