//! Selecting families and metrics: [`Matcher`] and [`Filter`].
//!
//! A [`Matcher`] names the families to keep, each either whole or narrowed to
//! the metrics with given label sets. A [`Filter`] applies one to what a
//! gatherer returns, as InfluxDB telemetry's `prometheus.Filter` does for the
//! telemetry pusher. A matcher is also a [`Transformer`](crate::transform::Transformer).

use std::collections::BTreeMap;

use crate::model::{LabelPair, Metric, MetricFamily, Str};

/// Which families, and which of their metrics, to keep (InfluxDB telemetry's
/// `prometheus.Matcher`).
///
/// * A family named with [`family`](Matcher::family) keeps all its metrics.
/// * A family named with [`family_with`](Matcher::family_with) keeps the
///   metrics whose labels are exactly those pairs: all of them, and no others.
///   This is Go's rule: it compares a metric's whole label set with the
///   matcher's. Naming a family several times keeps the metrics that match
///   any of the label sets; naming it once with no pairs keeps all of them.
/// * Families not named are dropped, and so are families left without
///   metrics. The result is sorted by family name.
///
/// Label order does not matter on either side (Go compares in the metric's
/// order, which is sorted in everything a Prometheus client writes), and an
/// absent label name or value compares as `""`.
///
/// ```
/// use pushgate::matcher::Matcher;
/// use pushgate::model::{Counter, LabelPair, Metric, MetricFamily};
///
/// let requests = |code: &str| Metric {
///     label: vec![LabelPair::new("code", code), LabelPair::new("method", "get")],
///     counter: Some(Counter { value: Some(1.0), ..Default::default() }),
///     ..Default::default()
/// };
/// let families = vec![
///     MetricFamily {
///         name: Some("http_requests_total".into()),
///         metric: vec![requests("200"), requests("500")],
///         ..Default::default()
///     },
///     MetricFamily { name: Some("go_goroutines".into()), metric: vec![Metric::default()], ..Default::default() },
///     MetricFamily { name: Some("process_open_fds".into()), metric: vec![Metric::default()], ..Default::default() },
/// ];
///
/// let matcher = Matcher::new()
///     .family("go_goroutines")
///     .family_with("http_requests_total", [("method", "get"), ("code", "200")]);
/// let kept = matcher.matches(&families);
///
/// assert_eq!(kept.len(), 2);
/// assert_eq!(kept[0].name(), "go_goroutines");
/// assert_eq!(kept[1].name(), "http_requests_total");
/// assert_eq!(kept[1].metric, vec![requests("200")]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matcher {
    families: BTreeMap<Str, Selection>,
}

/// The metrics a matcher keeps of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Selection {
    /// Named without labels: every metric.
    all: bool,
    /// Exact label sets, each sorted by name.
    label_sets: Vec<Vec<(Str, Str)>>,
}

impl Selection {
    fn matches(&self, metric: &Metric) -> bool {
        self.all
            || self
                .label_sets
                .iter()
                .any(|set| same_labels(set, &metric.label))
    }
}

/// Whether `labels` is exactly `set` (sorted by name), in any order.
fn same_labels(set: &[(Str, Str)], labels: &[LabelPair]) -> bool {
    if set.len() != labels.len() {
        return false;
    }
    let eq = |(n, v): &(Str, Str), l: &LabelPair| l.name() == n.as_str() && l.value() == v.as_str();
    if labels.windows(2).all(|w| w[0].name() <= w[1].name()) {
        return set.iter().zip(labels).all(|(p, l)| eq(p, l));
    }
    let mut sorted: Vec<&LabelPair> = labels.iter().collect();
    sorted.sort_by(|a, b| a.name().cmp(b.name()));
    set.iter().zip(sorted).all(|(p, l)| eq(p, l))
}

impl Matcher {
    /// A matcher that keeps nothing until families are added.
    pub fn new() -> Matcher {
        Matcher::default()
    }

    /// Keeps every metric of the family `name`.
    pub fn family(mut self, name: impl Into<Str>) -> Matcher {
        self.families.entry(name.into()).or_default().all = true;
        self
    }

    /// Keeps the metrics of the family `name` whose labels are exactly
    /// `labels`; with no labels, like [`family`](Matcher::family), every
    /// metric.
    pub fn family_with<I, K, V>(mut self, name: impl Into<Str>, labels: I) -> Matcher
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Str>,
        V: Into<Str>,
    {
        let mut set: Vec<(Str, Str)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let selection = self.families.entry(name.into()).or_default();
        if set.is_empty() {
            selection.all = true;
        } else {
            set.sort_by(|a, b| a.0.cmp(&b.0));
            if !selection.label_sets.contains(&set) {
                selection.label_sets.push(set);
            }
        }
        self
    }

    /// True if no family has been added: the matcher keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Whether `metric`, of the family named `family`, is kept.
    pub fn matches_metric(&self, family: &str, metric: &Metric) -> bool {
        self.families
            .get(family)
            .is_some_and(|selection| selection.matches(metric))
    }

    /// The matching families and metrics of `families`, copied, sorted by
    /// family name (InfluxDB telemetry's `Matcher.Match`). Help, type and unit are
    /// kept; families left without metrics are dropped.
    pub fn matches(&self, families: &[MetricFamily]) -> Vec<MetricFamily> {
        let mut kept: Vec<MetricFamily> = families
            .iter()
            .filter_map(|mf| {
                let selection = self.families.get(mf.name())?;
                let metric: Vec<Metric> = mf
                    .metric
                    .iter()
                    .filter(|m| selection.matches(m))
                    .cloned()
                    .collect();
                (!metric.is_empty()).then(|| MetricFamily {
                    name: mf.name.clone(),
                    help: mf.help.clone(),
                    r#type: mf.r#type,
                    metric,
                    unit: mf.unit.clone(),
                })
            })
            .collect();
        sort_by_name(&mut kept);
        kept
    }

    /// Like [`matches`](Matcher::matches), in place: drops what does not
    /// match from `families` and sorts the rest by name.
    pub fn retain(&self, families: &mut Vec<MetricFamily>) {
        families.retain_mut(|mf| match self.families.get(mf.name()) {
            None => false,
            Some(selection) => {
                if !selection.all {
                    mf.metric.retain(|m| selection.matches(m));
                }
                !mf.metric.is_empty()
            }
        });
        sort_by_name(families);
    }
}

/// Sorts families by name, keeping the order of equal names.
pub(crate) fn sort_by_name(families: &mut [MetricFamily]) {
    families.sort_by(|a, b| a.name().cmp(b.name()));
}

/// A gatherer whose output passes through a [`Matcher`], as InfluxDB
/// telemetry's `NewPusher` uses `prometheus.Filter` to push a chosen subset
/// of families.
///
/// With the `push` feature a filter is itself a `push::Gatherer`: it gathers
/// from the inner gatherer, whose errors pass through unchanged, then keeps
/// what [`Matcher::retain`] keeps: the matching families, sorted by name,
/// without those left with no metrics. The `push::Gatherer` docs show one in
/// use.
///
/// ```
/// use pushgate::matcher::{Filter, Matcher};
///
/// let filter = Filter::new(|| Vec::<pushgate::model::MetricFamily>::new(), Matcher::new().family("up"));
/// assert!(!filter.matcher().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Filter<G> {
    gatherer: G,
    matcher: Matcher,
}

impl<G> Filter<G> {
    /// Filters what `gatherer` returns through `matcher`.
    pub fn new(gatherer: G, matcher: Matcher) -> Filter<G> {
        Filter { gatherer, matcher }
    }

    /// The gatherer.
    pub fn gatherer(&self) -> &G {
        &self.gatherer
    }

    /// The matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Gives up the gatherer and the matcher.
    pub fn into_parts(self) -> (G, Matcher) {
        (self.gatherer, self.matcher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counter, MetricType};

    /// The Go tests' `NewCounter`: one counter metric with these labels.
    fn counter(name: &str, v: f64, labels: &[(&str, &str)]) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            r#type: Some(MetricType::Counter as i32),
            metric: vec![metric(v, labels)],
            ..Default::default()
        }
    }

    fn metric(v: f64, labels: &[(&str, &str)]) -> Metric {
        Metric {
            label: labels.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
            counter: Some(Counter {
                value: Some(v),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    type Gathered = Result<Vec<MetricFamily>, String>;

    /// What a [`Filter`] over a gatherer that returns `gathered` returns.
    /// (Its `Gatherer` impl, errors and all, is tested with the gatherers.)
    async fn gather(gathered: Gathered, matcher: Matcher) -> Gathered {
        gathered.map(|mut families| {
            matcher.retain(&mut families);
            families
        })
    }

    fn api_matcher() -> Matcher {
        Matcher::new().family_with(
            "http_api_requests_total",
            [
                ("handler", "platform"),
                ("method", "GET"),
                ("path", "/api/v2"),
                ("status", "2XX"),
            ],
        )
    }

    // The cases of InfluxDB telemetry's TestFilter_Gather.

    #[tokio::test]
    async fn no_metrics_returns_none() {
        assert_eq!(gather(Ok(vec![]), api_matcher()).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn no_matches_returns_no_families() {
        let mf = MetricFamily {
            name: Some("n1".into()),
            help: Some("h1".into()),
            ..Default::default()
        };
        assert_eq!(gather(Ok(vec![mf]), api_matcher()).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn matching_family_without_metric_matches_nothing() {
        let mf = MetricFamily {
            name: Some("go_memstats_frees_total".into()),
            ..Default::default()
        };
        let m = Matcher::new().family("go_memstats_frees_total");
        assert_eq!(gather(Ok(vec![mf]), m).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn matching_family_with_no_labels_matches() {
        let mfs = vec![counter("go_memstats_frees_total", 1.0, &[])];
        let m = Matcher::new().family("go_memstats_frees_total");
        assert_eq!(gather(Ok(mfs.clone()), m).await, Ok(mfs));
    }

    #[tokio::test]
    async fn matching_with_labels_a_family_with_labels_matches() {
        let mfs = vec![counter("go_memstats_frees_total", 1.0, &[("n1", "v1")])];
        let m = Matcher::new().family_with("go_memstats_frees_total", [("n1", "v1")]);
        assert_eq!(gather(Ok(mfs.clone()), m).await, Ok(mfs));
    }

    #[tokio::test]
    async fn matching_without_labels_a_family_with_labels_matches() {
        let mfs = vec![counter("go_memstats_frees_total", 1.0, &[("n1", "v1")])];
        let m = Matcher::new().family("go_memstats_frees_total");
        assert_eq!(gather(Ok(mfs.clone()), m).await, Ok(mfs));
    }

    // Beyond the Go tests.

    #[test]
    fn label_sets_must_match_exactly() {
        let mut mf = counter("f", 1.0, &[("a", "1")]);
        mf.metric.push(metric(2.0, &[("a", "1"), ("b", "2")])); // extra label
        mf.metric.push(metric(3.0, &[])); // missing label
        mf.metric.push(metric(4.0, &[("a", "2")])); // other value
        mf.metric.push(metric(5.0, &[("b", "2"), ("a", "1")])); // unsorted
        let m = Matcher::new().family_with("f", [("a", "1")]);
        let kept = m.matches(&[mf.clone()]);
        assert_eq!(kept[0].metric, vec![mf.metric[0].clone()]);

        let m = m.family_with("f", [("b", "2"), ("a", "1")]);
        let kept = m.matches(&[mf.clone()]);
        let values: Vec<_> = kept[0]
            .metric
            .iter()
            .map(|m| m.counter.as_ref().unwrap().value.unwrap())
            .collect();
        assert_eq!(values, [1.0, 2.0, 5.0]);

        // Whole-family and label-set selections combine into "all".
        let m = m.family("f");
        let families = vec![mf];
        assert_eq!(m.matches(&families), families);
    }

    #[test]
    fn empty_label_set_selects_the_whole_family() {
        let mf = counter("f", 1.0, &[("a", "1")]);
        let none: [(&str, &str); 0] = [];
        let m = Matcher::new().family_with("f", none);
        assert_eq!(m, Matcher::new().family("f"));
        let families = vec![mf];
        assert_eq!(m.matches(&families), families);
    }

    #[test]
    fn result_is_sorted_and_keeps_family_metadata() {
        let mut b = counter("b", 1.0, &[]);
        b.help = Some("help".into());
        b.unit = Some("seconds".into());
        let mfs = vec![b.clone(), counter("c", 1.0, &[]), counter("a", 1.0, &[])];
        let m = Matcher::new().family("a").family("b");
        let kept = m.matches(&mfs);
        assert_eq!(kept, vec![counter("a", 1.0, &[]), b]);

        let mut in_place = mfs;
        m.retain(&mut in_place);
        assert_eq!(in_place, kept);
    }

    #[test]
    fn matches_metric_and_is_empty() {
        let m = Matcher::new();
        assert!(m.is_empty());
        assert!(m.matches(&[counter("a", 1.0, &[])]).is_empty());
        let m = m.family_with("a", [("k", "v")]);
        assert!(!m.is_empty());
        assert!(m.matches_metric("a", &metric(1.0, &[("k", "v")])));
        assert!(!m.matches_metric("a", &metric(1.0, &[("k", "w")])));
        assert!(!m.matches_metric("b", &metric(1.0, &[("k", "v")])));
    }

    #[test]
    fn absent_label_parts_compare_as_empty() {
        let mut m = metric(1.0, &[]);
        m.label.push(LabelPair {
            name: Some("k".into()),
            value: None,
        });
        assert!(Matcher::new()
            .family_with("f", [("k", "")])
            .matches_metric("f", &m));
    }
}
