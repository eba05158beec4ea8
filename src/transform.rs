//! Rewriting families on their way through: [`Transformer`] and InfluxDB telemetry's
//! transformers.
//!
//! The gateway runs its transformers, in order, on every push it receives
//! before storing it: typically [`AddTimestamps`] to stamp the time of
//! receipt, then any of [`AddLabels`], [`RemoveLabels`], [`RenameFamilies`]
//! and a [`Matcher`] to keep only some families.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::matcher::{sort_by_name, Matcher};
use crate::model::{LabelPair, MetricFamily, Str};

/// Rewrites metric families in place (InfluxDB telemetry's `prometheus.Transformer`).
///
/// Transformers are `Send + Sync` so that a gateway can share one list of
/// them between requests, for example as `Arc<[Box<dyn Transformer>]>`; a
/// slice, `Vec`, `Box`, `Arc` or reference of transformers is itself a
/// transformer, applying each in order.
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use pushgate::matcher::Matcher;
/// use pushgate::model::{Gauge, LabelPair, Metric, MetricFamily};
/// use pushgate::transform::{AddLabels, AddTimestamps, Transformer};
///
/// let transformers: Arc<[Box<dyn Transformer>]> = Arc::new([
///     Box::new(Matcher::new().family("up")) as Box<dyn Transformer>,
///     Box::new(AddLabels::new([("env", "prod")])),
///     Box::new(AddTimestamps::with_clock(|| UNIX_EPOCH + Duration::from_secs(1))),
/// ]);
///
/// let mut families = vec![
///     MetricFamily { name: Some("up".into()), metric: vec![Metric {
///         label: vec![LabelPair::new("job", "api")],
///         gauge: Some(Gauge { value: Some(1.0) }),
///         ..Default::default()
///     }], ..Default::default() },
///     MetricFamily { name: Some("dropped".into()), metric: vec![Metric::default()], ..Default::default() },
/// ];
/// transformers.transform(&mut families);
///
/// assert_eq!(families.len(), 1);
/// let m = &families[0].metric[0];
/// assert_eq!(m.label, vec![LabelPair::new("env", "prod"), LabelPair::new("job", "api")]);
/// assert_eq!(m.timestamp_ms, Some(1000));
/// ```
pub trait Transformer: Send + Sync {
    /// Rewrites `families`: values, labels, names, which families there are
    /// and their order.
    fn transform(&self, families: &mut Vec<MetricFamily>);
}

impl<T: Transformer + ?Sized> Transformer for &T {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        (**self).transform(families)
    }
}

impl<T: Transformer + ?Sized> Transformer for Box<T> {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        (**self).transform(families)
    }
}

impl<T: Transformer + ?Sized> Transformer for Arc<T> {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        (**self).transform(families)
    }
}

/// Applies each transformer in order.
impl<T: Transformer> Transformer for [T] {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        for t in self {
            t.transform(families);
        }
    }
}

/// Applies each transformer in order.
impl<T: Transformer> Transformer for Vec<T> {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        self.as_slice().transform(families)
    }
}

/// Keeps the matching families and metrics, sorted by name
/// ([`Matcher::retain`]).
impl Transformer for Matcher {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        self.retain(families)
    }
}

/// Stamps every metric with the time of the transform, in milliseconds since
/// the epoch (InfluxDB telemetry's `AddTimestamps`).
///
/// One reading of the clock serves all metrics of a call. A timestamp already
/// there is overwritten. The clock is the system clock unless one is given
/// with [`with_clock`](AddTimestamps::with_clock), as tests do.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use pushgate::model::{Metric, MetricFamily};
/// use pushgate::transform::{AddTimestamps, Transformer};
///
/// let stamp = AddTimestamps::with_clock(|| UNIX_EPOCH + Duration::from_millis(1));
/// let mut families = vec![MetricFamily { metric: vec![Metric::default()], ..Default::default() }];
/// stamp.transform(&mut families);
/// assert_eq!(families[0].metric[0].timestamp_ms, Some(1));
/// ```
#[derive(Clone)]
pub struct AddTimestamps {
    clock: Arc<dyn Fn() -> SystemTime + Send + Sync>,
}

impl AddTimestamps {
    /// Stamps with the system clock.
    pub fn new() -> AddTimestamps {
        AddTimestamps::with_clock(SystemTime::now)
    }

    /// Stamps with the time `clock` returns.
    pub fn with_clock(clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> AddTimestamps {
        AddTimestamps {
            clock: Arc::new(clock),
        }
    }
}

impl Default for AddTimestamps {
    /// Stamps with the system clock.
    fn default() -> AddTimestamps {
        AddTimestamps::new()
    }
}

impl fmt::Debug for AddTimestamps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddTimestamps").finish_non_exhaustive()
    }
}

impl Transformer for AddTimestamps {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        let now = unix_millis((self.clock)());
        for m in families.iter_mut().flat_map(|mf| &mut mf.metric) {
            m.timestamp_ms = Some(now);
        }
    }
}

/// Milliseconds since the epoch, truncated toward zero as Go's
/// `UnixNano() / 1e6` is, saturating far outside `i64`.
fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Sets labels on every metric, overwriting a label of the same name, and
/// leaves each metric's labels sorted by name (InfluxDB telemetry's
/// `prometheus.AddLabels`).
///
/// ```
/// use pushgate::model::{LabelPair, Metric, MetricFamily};
/// use pushgate::transform::{AddLabels, Transformer};
///
/// let mut families = vec![MetricFamily {
///     metric: vec![Metric {
///         label: vec![LabelPair::new("handler", "platform"), LabelPair::new("method", "GET")],
///         ..Default::default()
///     }],
///     ..Default::default()
/// }];
/// AddLabels::new([("handler", "influxdb"), ("org", "myorg")]).transform(&mut families);
/// assert_eq!(
///     families[0].metric[0].label,
///     vec![
///         LabelPair::new("handler", "influxdb"),
///         LabelPair::new("method", "GET"),
///         LabelPair::new("org", "myorg"),
///     ]
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddLabels {
    labels: BTreeMap<Str, Str>,
}

impl AddLabels {
    /// Adds these name/value pairs; of repeated names, the last wins.
    pub fn new<I, K, V>(labels: I) -> AddLabels
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Str>,
        V: Into<Str>,
    {
        labels.into_iter().collect()
    }

    /// The labels added, sorted by name.
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl<K: Into<Str>, V: Into<Str>> FromIterator<(K, V)> for AddLabels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(labels: I) -> AddLabels {
        AddLabels {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl Transformer for AddLabels {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        for m in families.iter_mut().flat_map(|mf| &mut mf.metric) {
            m.label.retain(|l| !self.labels.contains_key(l.name()));
            m.label.extend(self.labels.iter().map(|(k, v)| LabelPair {
                name: Some(k.clone()),
                value: Some(v.clone()),
            }));
            m.label.sort_by(|a, b| a.name().cmp(b.name()));
        }
    }
}

/// Removes labels by name from every metric (InfluxDB telemetry's
/// `prometheus.RemoveLabels`). The order of the remaining labels is kept.
///
/// ```
/// use pushgate::model::{LabelPair, Metric, MetricFamily};
/// use pushgate::transform::{RemoveLabels, Transformer};
///
/// let mut families = vec![MetricFamily {
///     metric: vec![Metric {
///         label: vec![LabelPair::new("handler", "platform"), LabelPair::new("method", "GET")],
///         ..Default::default()
///     }],
///     ..Default::default()
/// }];
/// RemoveLabels::new(["handler"]).transform(&mut families);
/// assert_eq!(families[0].metric[0].label, vec![LabelPair::new("method", "GET")]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoveLabels {
    names: BTreeSet<Str>,
}

impl RemoveLabels {
    /// Removes the labels with these names.
    pub fn new<I, K>(names: I) -> RemoveLabels
    where
        I: IntoIterator<Item = K>,
        K: Into<Str>,
    {
        names.into_iter().collect()
    }

    /// The names removed, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(Str::as_str)
    }
}

impl<K: Into<Str>> FromIterator<K> for RemoveLabels {
    fn from_iter<I: IntoIterator<Item = K>>(names: I) -> RemoveLabels {
        RemoveLabels {
            names: names.into_iter().map(Into::into).collect(),
        }
    }
}

impl Transformer for RemoveLabels {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        if self.names.is_empty() {
            return;
        }
        for m in families.iter_mut().flat_map(|mf| &mut mf.metric) {
            m.label.retain(|l| !self.names.contains(l.name()));
        }
    }
}

/// Renames families, then sorts all families by name (InfluxDB telemetry's
/// `prometheus.RenameFamilies`).
///
/// Families that end up with the same name are not merged, as in Go; the
/// sort keeps them in their order.
///
/// ```
/// use pushgate::model::MetricFamily;
/// use pushgate::transform::{RenameFamilies, Transformer};
///
/// let family = |name: &str| MetricFamily { name: Some(name.into()), ..Default::default() };
/// let mut families = vec![family("handler"), family("http_api_requests_total")];
/// RenameFamilies::new([("http_api_requests_total", "api_requests_total")]).transform(&mut families);
/// let names: Vec<_> = families.iter().map(|mf| mf.name()).collect();
/// assert_eq!(names, ["api_requests_total", "handler"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenameFamilies {
    from_to: BTreeMap<Str, Str>,
}

impl RenameFamilies {
    /// Renames each family named `from` to `to`; of repeated `from`s, the
    /// last wins.
    pub fn new<I, F, T>(from_to: I) -> RenameFamilies
    where
        I: IntoIterator<Item = (F, T)>,
        F: Into<Str>,
        T: Into<Str>,
    {
        from_to.into_iter().collect()
    }

    /// The renames, sorted by the old name.
    pub fn renames(&self) -> impl Iterator<Item = (&str, &str)> {
        self.from_to.iter().map(|(f, t)| (f.as_str(), t.as_str()))
    }
}

impl<F: Into<Str>, T: Into<Str>> FromIterator<(F, T)> for RenameFamilies {
    fn from_iter<I: IntoIterator<Item = (F, T)>>(from_to: I) -> RenameFamilies {
        RenameFamilies {
            from_to: from_to
                .into_iter()
                .map(|(f, t)| (f.into(), t.into()))
                .collect(),
        }
    }
}

impl Transformer for RenameFamilies {
    fn transform(&self, families: &mut Vec<MetricFamily>) {
        for mf in families.iter_mut() {
            if let Some(to) = self.from_to.get(mf.name()) {
                mf.name = Some(to.clone());
            }
        }
        sort_by_name(families);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counter, Metric, MetricType};
    use std::time::Duration;

    /// The Go tests' `NewCounter`.
    fn counter(name: &str, v: f64, labels: &[(&str, &str)]) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            r#type: Some(MetricType::Counter as i32),
            metric: vec![Metric {
                label: labels.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
                counter: Some(Counter {
                    value: Some(v),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn api(labels: &[(&str, &str)]) -> MetricFamily {
        counter("http_api_requests_total", 10.0, labels)
    }

    const API_LABELS: [(&str, &str); 4] = [
        ("handler", "platform"),
        ("method", "GET"),
        ("path", "/api/v2"),
        ("status", "2XX"),
    ];

    fn run(t: &impl Transformer, mut families: Vec<MetricFamily>) -> Vec<MetricFamily> {
        t.transform(&mut families);
        families
    }

    // InfluxDB telemetry's TestAddLabels_Transform.

    #[test]
    fn add_label_replaces_label() {
        let got = run(
            &AddLabels::new([("handler", "influxdb")]),
            vec![api(&API_LABELS)],
        );
        let want = api(&[
            ("handler", "influxdb"),
            ("method", "GET"),
            ("path", "/api/v2"),
            ("status", "2XX"),
        ]);
        assert_eq!(got, vec![want]);
    }

    #[test]
    fn add_label_keeps_labels_sorted() {
        let got = run(&AddLabels::new([("org", "myorg")]), vec![api(&API_LABELS)]);
        let want = api(&[
            ("handler", "platform"),
            ("method", "GET"),
            ("org", "myorg"),
            ("path", "/api/v2"),
            ("status", "2XX"),
        ]);
        assert_eq!(got, vec![want]);
    }

    #[test]
    fn add_labels_sorts_even_with_nothing_to_add() {
        let got = run(&AddLabels::default(), vec![api(&[("b", "2"), ("a", "1")])]);
        assert_eq!(got, vec![api(&[("a", "1"), ("b", "2")])]);
    }

    // InfluxDB telemetry's TestRemoveLabels_Transform.

    #[test]
    fn remove_label_from_metric() {
        let got = run(&RemoveLabels::new(["handler"]), vec![api(&API_LABELS)]);
        assert_eq!(got, vec![api(&API_LABELS[1..])]);
    }

    #[test]
    fn no_match_removes_no_labels() {
        let got = run(&RemoveLabels::new(["handler"]), vec![api(&API_LABELS[1..])]);
        assert_eq!(got, vec![api(&API_LABELS[1..])]);
    }

    // InfluxDB telemetry's TestRenameFamilies_Transform.

    #[test]
    fn rename_metric_family_in_sort_order() {
        let rename = RenameFamilies::new([("http_api_requests_total", "api_requests_total")]);
        let got = run(
            &rename,
            vec![
                counter("handler", 10.0, &[("handler", "platform")]),
                api(&API_LABELS),
            ],
        );
        let want = vec![
            counter("api_requests_total", 10.0, &API_LABELS),
            counter("handler", 10.0, &[("handler", "platform")]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn rename_ignored_if_not_found() {
        let rename = RenameFamilies::new([("http_api_requests_total", "api_requests_total")]);
        let families = vec![counter("handler", 10.0, &[("handler", "platform")])];
        assert_eq!(run(&rename, families.clone()), families);
    }

    // InfluxDB telemetry's TestAddTimestamps.

    #[test]
    fn add_timestamps() {
        let stamp = AddTimestamps::with_clock(|| UNIX_EPOCH + Duration::from_millis(1));
        let got = run(&stamp, vec![counter("good", 1.0, &[("n1", "v1")])]);
        let mut want = counter("good", 1.0, &[("n1", "v1")]);
        want.metric[0].timestamp_ms = Some(1);
        assert_eq!(got, vec![want]);
    }

    #[test]
    fn add_timestamps_overwrites_and_stamps_every_metric_alike() {
        let mut mf = counter("a", 1.0, &[]);
        mf.metric[0].timestamp_ms = Some(42);
        mf.metric.push(Metric::default());
        let stamp = AddTimestamps::with_clock(|| UNIX_EPOCH + Duration::from_micros(2_999));
        let got = run(&stamp, vec![mf, counter("b", 1.0, &[])]);
        let stamps: Vec<_> = got
            .iter()
            .flat_map(|mf| &mf.metric)
            .map(|m| m.timestamp_ms)
            .collect();
        assert_eq!(stamps, [Some(2), Some(2), Some(2)]);
    }

    #[test]
    fn system_clock_is_now() {
        let before = unix_millis(SystemTime::now());
        let got = run(&AddTimestamps::new(), vec![counter("a", 1.0, &[])]);
        let stamped = got[0].metric[0].timestamp_ms.unwrap();
        assert!(stamped >= before && stamped <= unix_millis(SystemTime::now()));
    }

    #[test]
    fn millis_truncate_toward_zero() {
        assert_eq!(unix_millis(UNIX_EPOCH + Duration::from_micros(1_999)), 1);
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_micros(1_999)), -1);
        assert_eq!(unix_millis(UNIX_EPOCH), 0);
    }

    #[test]
    fn matcher_is_a_transformer() {
        let m = Matcher::new().family("b").family("a");
        let got = run(
            &m,
            vec![
                counter("c", 1.0, &[]),
                counter("b", 1.0, &[]),
                counter("a", 1.0, &[]),
            ],
        );
        assert_eq!(got, vec![counter("a", 1.0, &[]), counter("b", 1.0, &[])]);
    }

    #[test]
    fn lists_apply_in_order() {
        // Rename first, then match the new name: order matters.
        let chain: Arc<[Box<dyn Transformer>]> = Arc::new([
            Box::new(RenameFamilies::new([("old", "new")])) as Box<dyn Transformer>,
            Box::new(Matcher::new().family("new")),
            Box::new(RemoveLabels::new(["secret"])),
        ]);
        let got = run(
            &chain,
            vec![counter("old", 1.0, &[("secret", "x"), ("keep", "y")])],
        );
        assert_eq!(got, vec![counter("new", 1.0, &[("keep", "y")])]);

        let reversed: Vec<Box<dyn Transformer>> = vec![
            Box::new(Matcher::new().family("new")),
            Box::new(RenameFamilies::new([("old", "new")])),
        ];
        assert_eq!(run(&reversed, vec![counter("old", 1.0, &[])]), vec![]);
    }

    #[test]
    fn transformers_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Arc<[Box<dyn Transformer>]>>();
        assert_send_sync::<AddTimestamps>();
    }
}
