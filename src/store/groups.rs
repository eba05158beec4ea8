//! [`GroupStore`]: the last push of each group, as the Prometheus
//! Pushgateway keeps it, for a scrape to expose.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Push, Store, StoreError};
use crate::grouping::PushMethod;
use crate::model::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// The gateway's own family: when each group last changed.
pub const PUSH_TIME: &str = "push_time_seconds";
/// The gateway's own family: when a push to each group last failed.
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";

/// A group's key: its grouping labels, sorted by name.
type GroupKey = Vec<(String, String)>;
/// A series' identity: family name and every label, sorted by name.
type SeriesKey = (String, Vec<(String, String)>);

/// Keeps the last push of each group (grouping key), as the Prometheus
/// Pushgateway does, and answers with all of them as one consistent set of
/// families for a scrape ([`families`](GroupStore::families)).
///
/// * `PUT` replaces the whole group (an empty one leaves the group with
///   only its push time); `POST` replaces the families of the same names;
///   `DELETE` removes the group.
/// * A metric without an `instance` label gets `instance=""`, as in the
///   Pushgateway, and labels are kept sorted by name. (The gateway has
///   already set the grouping labels.)
/// * A push that would make the whole inconsistent is refused
///   ([`StoreError::Invalid`], a `400`) and changes nothing: a family whose
///   type differs from the same family in another group, a series that
///   another group has, or one of the gateway's own family names. The
///   check costs in proportion to the push, not to what is stored.
/// * Each group carries `push_time_seconds` (its last change) and
///   `push_failure_time_seconds` (its last refused push, 0 if none; a
///   refused push to a group that does not exist creates none).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::grouping::PushMethod;
/// use pushgate::model::LabelPair;
/// use pushgate::store::{GroupStore, Push, Store};
/// use pushgate::{codec, Format};
///
/// let store = GroupStore::new();
/// let families = codec::decode(Format::Text, "# TYPE up gauge\nup{job=\"a\"} 1\n".into(), &Default::default()).unwrap();
/// let push = Push::new(families, Format::Text)
///     .with_grouping(vec![LabelPair::new("job", "a")])
///     .with_method(PushMethod::Put);
/// store.write(push).await.unwrap();
/// let names: Vec<String> = store.families().iter().map(|f| f.name().to_owned()).collect();
/// assert_eq!(names, ["push_failure_time_seconds", "push_time_seconds", "up"]);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct GroupStore {
    state: Arc<RwLock<State>>,
}

impl fmt::Debug for GroupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupStore")
            .field("groups", &self.len())
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    groups: BTreeMap<GroupKey, Group>,
    /// Family name → its type and how many groups have it.
    types: HashMap<String, (MetricType, usize)>,
    /// Every series stored → the group that has it.
    series: HashMap<SeriesKey, GroupKey>,
}

struct Group {
    labels: Vec<LabelPair>,
    families: BTreeMap<String, MetricFamily>,
    pushed: Option<SystemTime>,
    failed: Option<SystemTime>,
}

impl GroupStore {
    /// An empty store.
    pub fn new() -> GroupStore {
        GroupStore::default()
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.read().groups.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Every change is checked before it is applied: a panic cannot
        // leave a half-made state.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every family of every group, merged by name and sorted (families by
    /// name, metrics by labels), with `push_time_seconds` and
    /// `push_failure_time_seconds` per group: what a scrape exposes.
    pub fn families(&self) -> Vec<MetricFamily> {
        let state = self.read();
        let mut merged: BTreeMap<&str, MetricFamily> = BTreeMap::new();
        let mut push_time = gauge_family(
            PUSH_TIME,
            "Last Unix time of a successful change to this group.",
        );
        let mut failure_time = gauge_family(
            PUSH_FAILURE_TIME,
            "Last Unix time of a refused push to this group (0 if none).",
        );
        for group in state.groups.values() {
            for (name, family) in &group.families {
                let entry = merged.entry(name).or_insert_with(|| MetricFamily {
                    metric: Vec::new(),
                    ..family.clone()
                });
                entry.metric.extend(family.metric.iter().cloned());
            }
            push_time.metric.push(gauge(&group.labels, group.pushed));
            failure_time.metric.push(gauge(&group.labels, group.failed));
        }
        let mut out: Vec<MetricFamily> = merged.into_values().collect();
        if !state.groups.is_empty() {
            out.push(push_time);
            out.push(failure_time);
        }
        for family in &mut out {
            family
                .metric
                .sort_by_cached_key(|m| sorted_labels(&m.label));
        }
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    fn apply(&self, push: Push) -> Result<(), StoreError> {
        let key = sorted_labels(&push.grouping);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if push.method == PushMethod::Delete {
            if let Some(group) = state.groups.remove(&key) {
                state.forget(&key, group.families.values());
            }
            return Ok(());
        }
        let mut incoming = BTreeMap::new();
        for mut family in push.families {
            if family.name() == PUSH_TIME || family.name() == PUSH_FAILURE_TIME {
                return Err(state.refuse(
                    &key,
                    format!(
                        "{} is the gateway's own family and cannot be pushed",
                        family.name()
                    ),
                ));
            }
            for metric in &mut family.metric {
                if !metric.label.iter().any(|l| l.name() == "instance") {
                    metric.label.push(LabelPair::new("instance", ""));
                }
                // Exposed sorted by name, as Prometheus' registry does.
                metric.label.sort_by(|a, b| a.name().cmp(b.name()));
            }
            incoming.insert(family.name().to_owned(), family);
        }
        let old = state.groups.get(&key);
        // The families this push takes out of the group.
        let replaced: Vec<String> = match (push.method, old) {
            (_, None) => Vec::new(),
            (PushMethod::Put, Some(group)) => group.families.keys().cloned().collect(),
            (_, Some(group)) => group
                .families
                .keys()
                .filter(|name| incoming.contains_key(*name))
                .cloned()
                .collect(),
        };
        if let Err(why) = state.check(&key, &replaced, &incoming) {
            return Err(state.refuse(&key, why));
        }
        // Checked: apply.
        let group = state.groups.entry(key.clone()).or_insert_with(|| Group {
            labels: push.grouping.clone(),
            families: BTreeMap::new(),
            pushed: None,
            failed: None,
        });
        let removed: Vec<MetricFamily> = replaced
            .iter()
            .filter_map(|name| group.families.remove(name))
            .collect();
        group
            .families
            .extend(incoming.iter().map(|(n, f)| (n.clone(), f.clone())));
        group.pushed = Some(push.received);
        state.forget(&key, removed.iter());
        state.remember(&key, incoming.values());
        Ok(())
    }
}

impl State {
    /// Whether `incoming` may take the place of the `replaced` families of
    /// group `key`; why not.
    fn check(
        &self,
        key: &GroupKey,
        replaced: &[String],
        incoming: &BTreeMap<String, MetricFamily>,
    ) -> Result<(), String> {
        for (name, family) in incoming {
            let own = self
                .groups
                .get(key)
                .is_some_and(|g| g.families.contains_key(name) && replaced.contains(name));
            if let Some(&(kind, count)) = self.types.get(name) {
                let others = count - usize::from(own);
                if others > 0 && kind != family.metric_type() {
                    return Err(format!(
                        "family {name} is pushed as {} but other groups have it as {}",
                        type_name(family.metric_type()),
                        type_name(kind)
                    ));
                }
            }
            for metric in &family.metric {
                let series = (name.clone(), sorted_labels(&metric.label));
                if let Some(owner) = self.series.get(&series) {
                    if owner != key {
                        return Err(format!(
                            "series {name}{{{}}} is already pushed in group {{{}}}",
                            render(&series.1),
                            render(owner)
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn remember<'a>(&mut self, key: &GroupKey, families: impl Iterator<Item = &'a MetricFamily>) {
        for family in families {
            let entry = self
                .types
                .entry(family.name().to_owned())
                .or_insert((family.metric_type(), 0));
            entry.1 += 1;
            for metric in &family.metric {
                self.series.insert(
                    (family.name().to_owned(), sorted_labels(&metric.label)),
                    key.clone(),
                );
            }
        }
    }

    fn forget<'a>(&mut self, key: &GroupKey, families: impl Iterator<Item = &'a MetricFamily>) {
        for family in families {
            if let Some(entry) = self.types.get_mut(family.name()) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    self.types.remove(family.name());
                }
            }
            for metric in &family.metric {
                let series = (family.name().to_owned(), sorted_labels(&metric.label));
                if self.series.get(&series) == Some(key) {
                    self.series.remove(&series);
                }
            }
        }
    }

    /// Notes a refused push on its group, if it exists, and says why.
    fn refuse(&mut self, key: &GroupKey, why: String) -> StoreError {
        if let Some(group) = self.groups.get_mut(key) {
            group.failed = Some(SystemTime::now());
        }
        StoreError::invalid(why)
    }
}

impl Store for GroupStore {
    /// Applies the push to its group; [`StoreError::Invalid`] if it would
    /// make the exposition inconsistent (nothing changed then).
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        self.apply(push)
    }
}

fn sorted_labels(labels: &[LabelPair]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = labels
        .iter()
        .map(|l| (l.name().to_owned(), l.value().to_owned()))
        .collect();
    out.sort();
    out
}

fn render(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn type_name(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Summary => "summary",
        MetricType::Untyped => "untyped",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
    }
}

fn gauge_family(name: &str, help: &str) -> MetricFamily {
    let mut family = MetricFamily {
        name: Some(name.into()),
        help: Some(help.into()),
        ..Default::default()
    };
    family.set_metric_type(MetricType::Gauge);
    family
}

fn gauge(labels: &[LabelPair], at: Option<SystemTime>) -> Metric {
    let seconds = at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    let mut label = labels.to_vec();
    if !label.iter().any(|l| l.name() == "instance") {
        label.push(LabelPair::new("instance", ""));
    }
    label.sort_by(|a, b| a.name().cmp(b.name()));
    Metric {
        label,
        gauge: Some(Gauge {
            value: Some(seconds),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec, Format};

    fn push(method: PushMethod, job: &str, text: &str) -> Push {
        let grouping = vec![LabelPair::new("job", job)];
        let mut families =
            codec::decode(Format::Text, text.to_owned().into(), &Default::default()).unwrap();
        // As the gateway's transform stage sets them.
        for family in &mut families {
            for metric in &mut family.metric {
                metric.label.retain(|l| l.name() != "job");
                metric.label.push(LabelPair::new("job", job));
            }
        }
        Push::new(families, Format::Text)
            .with_grouping(grouping)
            .with_method(method)
    }

    fn exposed(store: &GroupStore) -> String {
        let mut families = store.families();
        // Times change from run to run.
        families.retain(|f| f.name() != PUSH_TIME && f.name() != PUSH_FAILURE_TIME);
        let mut out = Vec::new();
        codec::encode(Format::Text, &families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn put_replaces_post_merges_delete_removes() {
        let store = GroupStore::new();
        store
            .write(push(
                PushMethod::Put,
                "a",
                "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 2\n",
            ))
            .await
            .unwrap();
        store
            .write(push(PushMethod::Post, "a", "# TYPE x gauge\nx 3\n"))
            .await
            .unwrap();
        assert_eq!(
            exposed(&store),
            "# TYPE x gauge\nx{instance=\"\",job=\"a\"} 3\n# TYPE y gauge\ny{instance=\"\",job=\"a\"} 2\n"
        );
        store
            .write(push(PushMethod::Put, "a", "# TYPE y gauge\ny 4\n"))
            .await
            .unwrap();
        assert_eq!(
            exposed(&store),
            "# TYPE y gauge\ny{instance=\"\",job=\"a\"} 4\n"
        );
        // An empty PUT leaves the group with its push time only.
        store.write(push(PushMethod::Put, "a", "")).await.unwrap();
        assert_eq!(exposed(&store), "");
        assert_eq!(store.len(), 1);
        let times = store.families();
        assert_eq!(times[1].name(), PUSH_TIME);
        assert!(times[1].metric[0].gauge.as_ref().unwrap().value.unwrap() > 1.7e9);
        store
            .write(Push::delete(vec![LabelPair::new("job", "a")]))
            .await
            .unwrap();
        assert!(store.is_empty());
        assert!(store.families().is_empty());
    }

    #[tokio::test]
    async fn families_merge_across_groups() {
        let store = GroupStore::new();
        for job in ["b", "a"] {
            store
                .write(push(
                    PushMethod::Put,
                    job,
                    "# TYPE x counter\nx{q=\"1\"} 1\n",
                ))
                .await
                .unwrap();
        }
        assert_eq!(
            exposed(&store),
            "# TYPE x counter\nx{instance=\"\",job=\"a\",q=\"1\"} 1\nx{instance=\"\",job=\"b\",q=\"1\"} 1\n"
        );
    }

    #[tokio::test]
    async fn inconsistent_pushes_are_refused_and_change_nothing() {
        let store = GroupStore::new();
        store
            .write(push(PushMethod::Put, "a", "# TYPE x counter\nx 1\n"))
            .await
            .unwrap();
        let before = exposed(&store);
        let err = store
            .write(push(PushMethod::Put, "b", "# TYPE x gauge\nx 1\n"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pushed metrics cannot be stored: family x is pushed as gauge but other groups have it as counter"
        );
        let err = store
            .write(push(
                PushMethod::Put,
                "b",
                "# TYPE push_time_seconds gauge\npush_time_seconds 1\n",
            ))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("the gateway's own family"),
            "{err}"
        );
        assert_eq!(exposed(&store), before);
        assert_eq!(store.len(), 1);
        // Its own group may change the type: no other group has it.
        store
            .write(push(PushMethod::Put, "a", "# TYPE x gauge\nx 2\n"))
            .await
            .unwrap();
        assert_eq!(
            exposed(&store),
            "# TYPE x gauge\nx{instance=\"\",job=\"a\"} 2\n"
        );
    }

    #[tokio::test]
    async fn a_series_of_another_group_is_refused_and_the_failure_noted() {
        let store = GroupStore::new();
        // The body's instance label makes both series the same.
        store
            .write(
                push(
                    PushMethod::Put,
                    "a",
                    "# TYPE x gauge\nx{instance=\"h\"} 1\n",
                )
                .with_grouping(vec![
                    LabelPair::new("job", "a"),
                    LabelPair::new("instance", "h"),
                ]),
            )
            .await
            .unwrap();
        store
            .write(push(PushMethod::Put, "a", "# TYPE y gauge\ny 1\n"))
            .await
            .unwrap();
        let err = store
            .write(push(
                PushMethod::Post,
                "a",
                "# TYPE x gauge\nx{instance=\"h\"} 2\n",
            ))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "pushed metrics cannot be stored: series x{instance=\"h\",job=\"a\"} is already pushed in group {instance=\"h\",job=\"a\"}"
        );
        // The failure is on the group pushed to; the other is untouched.
        let failures = store
            .families()
            .into_iter()
            .find(|f| f.name() == PUSH_FAILURE_TIME)
            .unwrap();
        let failed: Vec<f64> = failures
            .metric
            .iter()
            .map(|m| m.gauge.as_ref().unwrap().value.unwrap())
            .collect();
        assert_eq!(failed.iter().filter(|&&t| t > 0.0).count(), 1, "{failed:?}");
        // Deleting the owner frees the series.
        store
            .write(Push::delete(vec![
                LabelPair::new("job", "a"),
                LabelPair::new("instance", "h"),
            ]))
            .await
            .unwrap();
        store
            .write(push(
                PushMethod::Post,
                "a",
                "# TYPE x gauge\nx{instance=\"h\"} 2\n",
            ))
            .await
            .unwrap();
    }
}
