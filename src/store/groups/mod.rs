//! [`GroupStore`]: the last push of each group, as the Prometheus
//! Pushgateway keeps it, for a scrape to expose.

mod aggregate;
mod snapshot;

pub use self::snapshot::SnapshotError;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Push, Store, StoreError};
use crate::grouping::PushMethod;
use crate::model::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// The gateway's own family: when each group last changed.
pub const PUSH_TIME: &str = "push_time_seconds";
/// The gateway's own family: when a push to each group last failed.
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";

// The Pushgateway's own words, for a drop-in exposition.
const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// A group's key: its grouping labels, sorted by name.
type GroupKey = Vec<(String, String)>;
/// A series' identity as one byte string: the family name, then each
/// label's name and value (sorted by name), each field ended by 0xff, a
/// byte UTF-8 never holds. One allocation per series, cheap to hash and
/// compare; built by [`series_key`].
type SeriesKey = Box<[u8]>;
/// A group's number: in the series index, cheaper to keep per series than
/// its grouping key; for caches of its encoding, never used twice in a
/// process (not after a wipe or a restore either).
pub(crate) type GroupId = u64;

static NEXT_GROUP_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The index's hasher: foldhash, randomly seeded per map (SipHash was a
/// tenth of a push's CPU).
type Hasher = foldhash::fast::RandomState;

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
///   ([`StoreError::Invalid`], a `400`) and changes no family: a family whose
///   type differs from the same family in another group, a series that
///   another group has, or one of the gateway's own family names
///   ([`reserve`](GroupStoreBuilder::reserve) adds more). The check costs in
///   proportion to the push, not to what is stored.
/// * Each group carries `push_time_seconds` (its last change) and
///   `push_failure_time_seconds` (its last refused push, 0 if none). A
///   refused push to a group that does not exist creates it without
///   families and with a push time of 0, as the Pushgateway does, so that
///   the failure shows (unless the store is at its group limit).
///
/// Beyond the Pushgateway, all opt-in through [`GroupStore::builder`]:
/// groups that expire ([`ttl`](GroupStoreBuilder::ttl), or
/// [`Push::ttl`] per push), limits on groups and series
/// ([`StoreError::LimitExceeded`], a `413`), groups whose counters and
/// histograms add up across pushes
/// ([`aggregate`](GroupStoreBuilder::aggregate)), deleting every group
/// that matches some labels ([`delete_matching`](GroupStore::delete_matching)),
/// and [snapshots](GroupStore::save) to survive restarts.
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
    config: Arc<Config>,
}

impl fmt::Debug for GroupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupStore")
            .field("groups", &self.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Config {
    ttl: Option<Duration>,
    max_groups: Option<usize>,
    max_series: Option<usize>,
    reserved: HashSet<String>,
    aggregate: Vec<Vec<(String, String)>>,
}

impl Config {
    /// Whether pushes to the group `grouping` add up rather than replace.
    fn aggregates(&self, grouping: &[LabelPair]) -> bool {
        self.aggregate.iter().any(|prefix| {
            prefix.len() <= grouping.len()
                && prefix
                    .iter()
                    .zip(grouping)
                    .all(|((n, v), l)| n == l.name() && v == l.value())
        })
    }
}

/// Configures a [`GroupStore`]; from [`GroupStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use pushgate::model::LabelPair;
/// use pushgate::store::GroupStore;
///
/// let store = GroupStore::builder()
///     .ttl(Duration::from_secs(3600))
///     .max_groups(10_000)
///     .max_series(1_000_000)
///     .aggregate([LabelPair::new("job", "frontend")])
///     .build();
/// assert!(store.is_empty());
/// ```
#[must_use]
#[derive(Debug, Default)]
pub struct GroupStoreBuilder {
    config: Config,
}

impl GroupStoreBuilder {
    /// Drops each group from the store this long after its last change,
    /// unless a push says otherwise ([`Push::ttl`]). Default: never.
    pub fn ttl(mut self, ttl: Duration) -> GroupStoreBuilder {
        self.config.ttl = Some(ttl);
        self
    }

    /// Refuses a push that would make more groups than this
    /// ([`StoreError::LimitExceeded`]). Default: no limit.
    pub fn max_groups(mut self, max: usize) -> GroupStoreBuilder {
        self.config.max_groups = Some(max);
        self
    }

    /// Refuses a push that would make more series, over all groups, than
    /// this ([`StoreError::LimitExceeded`]). Default: no limit.
    pub fn max_series(mut self, max: usize) -> GroupStoreBuilder {
        self.config.max_series = Some(max);
        self
    }

    /// Refuses pushes of a family of this name: one the scrape exposes
    /// beside the groups, such as the gateway's own metrics.
    pub fn reserve(mut self, name: impl Into<String>) -> GroupStoreBuilder {
        self.config.reserved.insert(name.into());
        self
    }

    /// Makes pushes to every group whose grouping key starts with these
    /// labels (in path order, `job` first) add up: counters, histograms
    /// and summaries' counts and sums are summed with what the group has,
    /// series by series; gauges, untyped metrics and summaries' quantiles
    /// take the last push's value. `PUT` and `POST` both merge into the
    /// families they name; `DELETE` removes the group. Repeatable.
    ///
    /// For many short-lived processes that count into one series, as
    /// prom-aggregation-gateway does, but without summing gauges.
    pub fn aggregate(mut self, prefix: impl IntoIterator<Item = LabelPair>) -> GroupStoreBuilder {
        self.config.aggregate.push(
            prefix
                .into_iter()
                .map(|l| (l.name().to_owned(), l.value().to_owned()))
                .collect(),
        );
        self
    }

    /// The store, empty.
    pub fn build(self) -> GroupStore {
        GroupStore {
            state: Arc::default(),
            config: Arc::new(self.config),
        }
    }
}

#[derive(Default)]
struct State {
    groups: BTreeMap<GroupKey, Group>,
    /// Family name → its type and how many groups have it.
    types: HashMap<String, (MetricType, usize)>,
    /// Every series stored → the group that has it, and the push that
    /// last stamped it (see [`index`]).
    series: HashMap<SeriesKey, (GroupId, u64), Hasher>,
    /// The last push's stamp.
    stamp: u64,
    /// When each group that expires does.
    expiries: BTreeSet<(SystemTime, GroupKey)>,
    /// Changes with every change to what a scrape sees.
    generation: u64,
}

#[derive(Clone)]
struct Group {
    /// Its number in the series index.
    id: GroupId,
    /// Changes with its families.
    version: u64,
    /// The grouping labels in path order.
    labels: Vec<LabelPair>,
    families: BTreeMap<String, StoredFamily>,
    pushed: Option<SystemTime>,
    failed: Option<SystemTime>,
    expires: Option<SystemTime>,
}

/// One group as [`GroupStore::visit`] lends it.
pub(crate) struct GroupView<'a> {
    /// Never the same for two groups.
    pub(crate) id: GroupId,
    /// Changes with its families.
    pub(crate) version: u64,
    pub(crate) families: &'a BTreeMap<String, StoredFamily>,
}

/// One group as stored; from [`GroupStore::groups`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The grouping labels, in path order (`job` first).
    pub labels: Vec<LabelPair>,
    /// When the group last changed (`push_time_seconds`).
    pub pushed: Option<SystemTime>,
    /// When a push to the group was last refused
    /// (`push_failure_time_seconds`).
    pub failed: Option<SystemTime>,
    /// When the group will be dropped, if it expires.
    pub expires: Option<SystemTime>,
    /// Its families, by name.
    pub families: Vec<StoredFamily>,
}

/// A family of a group, with the time of the push that set it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredFamily {
    /// The family: labels sorted by name, `instance` always there.
    pub family: MetricFamily,
    /// When it was pushed.
    pub pushed: SystemTime,
}

impl GroupStore {
    /// An empty store, with no limits, no expiry and no aggregation.
    pub fn new() -> GroupStore {
        GroupStore::default()
    }

    /// A builder of a store with limits, expiry or aggregation.
    pub fn builder() -> GroupStoreBuilder {
        GroupStoreBuilder::default()
    }

    /// How many groups there are.
    pub fn len(&self) -> usize {
        self.view().groups.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many series there are, over all groups.
    pub fn series(&self) -> usize {
        self.view().series.len()
    }

    /// A number that changes whenever what [`families`](Self::families)
    /// and [`groups`](Self::groups) answer does: what a scrape's cache is
    /// keyed by.
    pub fn generation(&self) -> u64 {
        self.view().generation
    }

    /// The state, with expired groups dropped first.
    fn view(&self) -> RwLockReadGuard<'_, State> {
        let now = SystemTime::now();
        {
            // Every change is checked before it is applied: a panic cannot
            // leave a half-made state.
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if !state.has_expired(now) {
                return state;
            }
        }
        self.lock().purge(now);
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` with every group, in grouping-key order, under the read
    /// lock, and returns `push_time_seconds` and `push_failure_time_seconds`
    /// of them all (none without groups): the parts of [`families`]
    /// (GroupStore::families) for an exposition that encodes each group
    /// once per change.
    pub(crate) fn visit(&self, mut f: impl FnMut(GroupView<'_>)) -> Vec<MetricFamily> {
        let state = self.view();
        let mut push_time = gauge_family(PUSH_TIME, PUSH_TIME_HELP);
        let mut failure_time = gauge_family(PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP);
        for group in state.groups.values() {
            f(GroupView {
                id: group.id,
                version: group.version,
                families: &group.families,
            });
            push_time.metric.push(gauge(&group.labels, group.pushed));
            failure_time.metric.push(gauge(&group.labels, group.failed));
        }
        if state.groups.is_empty() {
            Vec::new()
        } else {
            vec![push_time, failure_time]
        }
    }

    /// Every family of every group, merged by name and sorted (families by
    /// name, metrics by labels), with `push_time_seconds` and
    /// `push_failure_time_seconds` per group: what a scrape exposes.
    pub fn families(&self) -> Vec<MetricFamily> {
        let state = self.view();
        let mut merged: BTreeMap<&str, MetricFamily> = BTreeMap::new();
        let mut push_time = gauge_family(PUSH_TIME, PUSH_TIME_HELP);
        let mut failure_time = gauge_family(PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP);
        for group in state.groups.values() {
            for (name, stored) in &group.families {
                let family = &stored.family;
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

    /// `push_time_seconds` and `push_failure_time_seconds` of one group,
    /// as [`families`](Self::families) has them.
    pub(crate) fn time_families(group: &GroupInfo) -> [MetricFamily; 2] {
        let mut push_time = gauge_family(PUSH_TIME, PUSH_TIME_HELP);
        let mut failure_time = gauge_family(PUSH_FAILURE_TIME, PUSH_FAILURE_TIME_HELP);
        push_time.metric.push(gauge(&group.labels, group.pushed));
        failure_time.metric.push(gauge(&group.labels, group.failed));
        [push_time, failure_time]
    }

    /// Every group, sorted by grouping key: what the Pushgateway's
    /// `/api/v1/metrics` and status page show.
    pub fn groups(&self) -> Vec<GroupInfo> {
        self.view()
            .groups
            .values()
            .map(|g| GroupInfo {
                labels: g.labels.clone(),
                pushed: g.pushed,
                failed: g.failed,
                expires: g.expires,
                families: g.families.values().cloned().collect(),
            })
            .collect()
    }

    /// Notes on the group of `push` that a push to it was refused before
    /// it reached the store (by the gateway's
    /// [validation](crate::validate), say: the Pushgateway counts pushed
    /// timestamps and inconsistent metrics as failed pushes of the group):
    /// its `push_failure_time_seconds` becomes now. A group that does not
    /// exist is created as a refused [`write`](Store::write) creates it.
    ///
    /// ```
    /// use pushgate::model::LabelPair;
    /// use pushgate::store::{GroupStore, Push};
    /// use pushgate::Format;
    ///
    /// let store = GroupStore::new();
    /// let push = Push::new(Vec::new(), Format::Text).with_grouping(vec![LabelPair::new("job", "backup")]);
    /// store.note_refusal(&push);
    /// let group = &store.groups()[0];
    /// assert!(group.failed.is_some() && group.pushed.is_none());
    /// ```
    pub fn note_refusal(&self, push: &Push) {
        let key = sorted_labels(&push.grouping);
        let mut state = self.lock();
        state.purge(SystemTime::now());
        state.note_failure(&self.config, &push.grouping, push.ttl, &key);
    }

    /// Removes every group whose grouping key has all of `labels` (each
    /// name with that value); answers how many went. With no labels, every
    /// group goes.
    pub fn delete_matching(&self, labels: &[LabelPair]) -> usize {
        let mut state = self.lock();
        let doomed: Vec<GroupKey> = state
            .groups
            .iter()
            .filter(|(_, g)| {
                labels.iter().all(|want| {
                    g.labels
                        .iter()
                        .any(|l| l.name() == want.name() && l.value() == want.value())
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in &doomed {
            state.remove(key);
        }
        if !doomed.is_empty() {
            state.generation += 1;
        }
        doomed.len()
    }

    /// Removes every group (the Pushgateway's `PUT /api/v1/admin/wipe`).
    pub fn wipe(&self) {
        let mut state = self.lock();
        let generation = state.generation + 1;
        *state = State {
            generation,
            ..State::default()
        };
    }

    fn apply(&self, push: Push) -> Result<(), StoreError> {
        let key = sorted_labels(&push.grouping);
        let now = SystemTime::now();
        let mut state = self.lock();
        state.purge(now);
        if push.method == PushMethod::Delete {
            if state.remove(&key) {
                state.generation += 1;
            }
            return Ok(());
        }
        let mut incoming: BTreeMap<String, MetricFamily> = BTreeMap::new();
        for mut family in push.families {
            let name = family.name();
            if name == PUSH_TIME || name == PUSH_FAILURE_TIME || self.config.reserved.contains(name)
            {
                let why = format!("{name} is the gateway's own family and cannot be pushed");
                state.note_failure(&self.config, &push.grouping, push.ttl, &key);
                return Err(StoreError::invalid(why));
            }
            for metric in &mut family.metric {
                if !metric.label.iter().any(|l| l.name() == "instance") {
                    metric.label.push(LabelPair::new("instance", ""));
                }
                // Exposed sorted by name, as Prometheus' registry does.
                metric.label.sort_by(|a, b| a.name().cmp(b.name()));
            }
            match incoming.entry(family.name().to_owned()) {
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(family);
                }
                // Validation refuses a family twice in a push; should one
                // come from elsewhere, its metrics join the first.
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut().metric.append(&mut family.metric);
                }
            }
        }
        let aggregating = self.config.aggregates(&push.grouping);
        let old = state.groups.get(&key);
        if aggregating {
            if let Some(group) = old {
                aggregate::merge(&group.families, &mut incoming);
            }
        }
        // The families this push takes out of the group.
        let replaced: Vec<String> = match (push.method, old) {
            (_, None) => Vec::new(),
            (PushMethod::Put, Some(group)) if !aggregating => {
                group.families.keys().cloned().collect()
            }
            (_, Some(group)) => group
                .families
                .keys()
                .filter(|name| incoming.contains_key(*name))
                .cloned()
                .collect(),
        };
        let series: usize = incoming.values().map(|f| f.metric.len()).sum();
        if let Err(why) = state.check(&key, &replaced, &incoming) {
            state.note_failure(&self.config, &push.grouping, push.ttl, &key);
            return Err(StoreError::invalid(why));
        }
        if let Err(why) = state.within_limits(&self.config, &key, &replaced, series) {
            state.note_failure(&self.config, &push.grouping, push.ttl, &key);
            return Err(StoreError::limit_exceeded(why));
        }
        // Checked: apply.
        let expires = push.ttl.or(self.config.ttl).map(|ttl| now + ttl);
        if !state.groups.contains_key(&key) {
            let group = state.new_group(push.grouping.clone());
            state.groups.insert(key.clone(), group);
        }
        let group = state.groups.get_mut(&key).expect("inserted above");
        let id = group.id;
        let removed: Vec<MetricFamily> = replaced
            .iter()
            .filter_map(|name| group.families.remove(name))
            .map(|stored| stored.family)
            .collect();
        let pushed: Vec<String> = incoming.keys().cloned().collect();
        group
            .families
            .extend(incoming.into_iter().map(|(name, family)| {
                (
                    name,
                    StoredFamily {
                        family,
                        pushed: push.received,
                    },
                )
            }));
        group.pushed = Some(push.received);
        group.version += 1;
        let old_expiry = std::mem::replace(&mut group.expires, expires);
        if let Some(at) = old_expiry {
            state.expiries.remove(&(at, key.clone()));
        }
        if let Some(at) = expires {
            state.expiries.insert((at, key.clone()));
        }
        // The pushed series, stamped, then the replaced ones this push did
        // not stamp: a series pushed again keeps its entry, and a push of
        // the same series as before allocates nothing in the index.
        state.stamp += 1;
        let stamp = state.stamp;
        let State {
            groups,
            series,
            types,
            ..
        } = &mut *state;
        let group = &groups[&key];
        let families = || pushed.iter().map(|name| &group.families[name].family);
        // Types out, then in: a family may change its type in its group.
        uncount_types(types, removed.iter());
        count_types(types, families());
        let kept = index(series, id, stamp, families());
        // Every replaced series pushed again (a job pushing what it pushed
        // last time): none to take out. (A series found is this group's
        // and of a family pushed, so of one replaced.)
        let old: usize = removed.iter().map(|f| f.metric.len()).sum();
        if kept < old {
            unindex(series, id, Some(stamp), removed.iter());
        }
        state.generation += 1;
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
        }
        let own_id = self.groups.get(key).map(|g| g.id);
        let mut buf = Vec::new();
        for (name, family) in incoming {
            for metric in &family.metric {
                let one = series_key(&mut buf, name, &metric.label);
                let Some(&(owner, _)) = self.series.get(one) else {
                    continue;
                };
                if Some(owner) != own_id {
                    let owner = self.groups.values().find(|g| g.id == owner);
                    return Err(format!(
                        "series {} is already pushed in group {{{}}}",
                        describe_series(one),
                        owner.map_or(String::new(), |g| render(&sorted_labels(&g.labels)))
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the store stays within its limits with the push applied;
    /// why not.
    fn within_limits(
        &self,
        config: &Config,
        key: &GroupKey,
        replaced: &[String],
        incoming_series: usize,
    ) -> Result<(), String> {
        let group = self.groups.get(key);
        if let Some(max) = config.max_groups {
            if group.is_none() && self.groups.len() >= max {
                return Err(format!(
                    "the store holds {} groups, its limit; delete some or raise the limit",
                    self.groups.len()
                ));
            }
        }
        if let Some(max) = config.max_series {
            let leaving: usize = group.map_or(0, |g| {
                replaced
                    .iter()
                    .filter_map(|name| g.families.get(name))
                    .map(|f| f.family.metric.len())
                    .sum()
            });
            let after = self.series.len() - leaving + incoming_series;
            if after > max {
                return Err(format!(
                    "the push would make {after} series, over the store's limit of {max}"
                ));
            }
        }
        Ok(())
    }

    /// A new, empty group with the next id.
    fn new_group(&mut self, labels: Vec<LabelPair>) -> Group {
        Group {
            id: NEXT_GROUP_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            version: 0,
            labels,
            families: BTreeMap::new(),
            pushed: None,
            failed: None,
            expires: None,
        }
    }

    /// Removes a group; whether there was one.
    fn remove(&mut self, key: &GroupKey) -> bool {
        let Some(group) = self.groups.remove(key) else {
            return false;
        };
        if let Some(at) = group.expires {
            self.expiries.remove(&(at, key.clone()));
        }
        let families = || group.families.values().map(|f| &f.family);
        uncount_types(&mut self.types, families());
        unindex(&mut self.series, group.id, None, families());
        true
    }

    fn has_expired(&self, now: SystemTime) -> bool {
        self.expiries.first().is_some_and(|(at, _)| *at <= now)
    }

    /// Drops the groups that have expired by `now`.
    fn purge(&mut self, now: SystemTime) {
        let mut dropped = false;
        while let Some((at, key)) = self.expiries.first().cloned() {
            if at > now {
                break;
            }
            self.remove(&key);
            tracing::debug!(target: "pushgate::store", group = %render(&key), "group expired");
            dropped = true;
        }
        if dropped {
            self.generation += 1;
        }
    }

    /// Notes a refused push on its group. A group
    /// that did not exist is created empty, with only its failure time, as
    /// the Pushgateway does, so that the failure shows; unless the store is
    /// at its group limit.
    fn note_failure(
        &mut self,
        config: &Config,
        grouping: &[LabelPair],
        ttl: Option<Duration>,
        key: &GroupKey,
    ) {
        let now = SystemTime::now();
        if !self.groups.contains_key(key) {
            if config
                .max_groups
                .is_some_and(|max| self.groups.len() >= max)
            {
                return;
            }
            let expires = ttl.or(config.ttl).map(|ttl| now + ttl);
            if let Some(at) = expires {
                self.expiries.insert((at, key.clone()));
            }
            let mut group = self.new_group(grouping.to_vec());
            group.expires = expires;
            self.groups.insert(key.clone(), group);
        }
        if let Some(group) = self.groups.get_mut(key) {
            group.failed = Some(now);
            self.generation += 1;
        }
    }
}

impl Store for GroupStore {
    /// Applies the push to its group; [`StoreError::Invalid`] if it would
    /// make the exposition inconsistent, [`StoreError::LimitExceeded`] if
    /// it would pass a limit (nothing changed then).
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

/// Counts `families`, just stored in a group, in the type index.
fn count_types<'a>(
    types: &mut HashMap<String, (MetricType, usize)>,
    families: impl Iterator<Item = &'a MetricFamily>,
) {
    for family in families {
        let kind = family.metric_type();
        types.entry(family.name().to_owned()).or_insert((kind, 0)).1 += 1;
    }
}

/// Takes `families`, which a group no longer holds, out of the type index.
fn uncount_types<'a>(
    types: &mut HashMap<String, (MetricType, usize)>,
    families: impl Iterator<Item = &'a MetricFamily>,
) {
    for family in families {
        if let Some(entry) = types.get_mut(family.name()) {
            entry.1 -= 1;
            if entry.1 == 0 {
                types.remove(family.name());
            }
        }
    }
}

/// Adds the series of `families`, just stored in group `id`, to the
/// series index, stamping each with `stamp`; a series the index has
/// already (the group had it before) only gets the stamp. Returns how
/// many it had.
fn index<'a>(
    series: &mut HashMap<SeriesKey, (GroupId, u64), Hasher>,
    id: GroupId,
    stamp: u64,
    families: impl Iterator<Item = &'a MetricFamily>,
) -> usize {
    let mut buf = Vec::new();
    let mut kept = 0;
    for family in families {
        series.reserve(family.metric.len());
        for metric in &family.metric {
            let one = series_key(&mut buf, family.name(), &metric.label);
            match series.get_mut(one) {
                Some(entry) => {
                    *entry = (id, stamp);
                    kept += 1;
                }
                None => {
                    series.insert(one.into(), (id, stamp));
                }
            }
        }
    }
    kept
}

/// Takes the series of `families`, which group `id` no longer holds, out
/// of the series index: each one `id` owns, unless its stamp is `keep` (a
/// series the same push stored again).
fn unindex<'a>(
    series: &mut HashMap<SeriesKey, (GroupId, u64), Hasher>,
    id: GroupId,
    keep: Option<u64>,
    families: impl Iterator<Item = &'a MetricFamily>,
) {
    let mut buf = Vec::new();
    for family in families {
        for metric in &family.metric {
            let one = series_key(&mut buf, family.name(), &metric.label);
            if series
                .get(one)
                .is_some_and(|&(owner, stamp)| owner == id && Some(stamp) != keep)
            {
                series.remove(one);
            }
        }
    }
}

/// Writes the [`SeriesKey`] of family `name`'s metric with `labels` (sorted
/// by name, as stored) into `buf`, and returns it.
fn series_key<'a>(buf: &'a mut Vec<u8>, name: &str, labels: &[LabelPair]) -> &'a [u8] {
    debug_assert!(labels.windows(2).all(|w| w[0].name() <= w[1].name()));
    buf.clear();
    buf.extend_from_slice(name.as_bytes());
    buf.push(0xff);
    for label in labels {
        buf.extend_from_slice(label.name().as_bytes());
        buf.push(0xff);
        buf.extend_from_slice(label.value().as_bytes());
        buf.push(0xff);
    }
    buf
}

/// A [`SeriesKey`] as `name{label="value",...}`, for messages.
fn describe_series(key: &[u8]) -> String {
    let mut fields = key
        .split(|&b| b == 0xff)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let name = fields.next().unwrap_or_default();
    let mut labels = Vec::new();
    while let (Some(n), Some(v)) = (fields.next(), fields.next()) {
        labels.push((n, v));
    }
    format!("{name}{{{}}}", render(&labels))
}

fn render(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A type as the text format names it.
pub(crate) fn type_name(t: MetricType) -> &'static str {
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
        // Group b exists now, as in the Pushgateway, only to show its
        // failure: no families, never pushed.
        assert_eq!(store.len(), 2);
        let b = &store.groups()[1];
        assert_eq!(b.labels, [LabelPair::new("job", "b")]);
        assert!(b.families.is_empty() && b.pushed.is_none() && b.failed.is_some());
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
    async fn a_push_keeps_the_series_it_pushes_again_and_frees_the_rest() {
        let store = GroupStore::new();
        // Group a owns m{instance="h",job="b"} and n{...}, through its
        // body's labels (job overridden by the grouping, instance not).
        let both = "m{instance=\"h\"} 1\nn{instance=\"h\"} 1\n";
        store.write(push(PushMethod::Put, "a", both)).await.unwrap();
        assert_eq!(store.series(), 2);
        // Pushed again: m stays, n goes.
        let again = "m{instance=\"h\"} 2\n";
        store
            .write(push(PushMethod::Put, "a", again))
            .await
            .unwrap();
        assert_eq!(store.series(), 1);
        store
            .write(push(PushMethod::Post, "a", again))
            .await
            .unwrap();
        assert_eq!(store.series(), 1);
        // Another group b makes the same series when it sets job=a in
        // its labels; the gateway would override it, here it is kept
        // to meet a's series: n is free, m still a's.
        let mut freed = push(PushMethod::Put, "b", "n{instance=\"h\"} 1\n");
        let mut taken = push(PushMethod::Put, "c", "m{instance=\"h\"} 1\n");
        for p in [&mut freed, &mut taken] {
            for metric in p.families.iter_mut().flat_map(|f| &mut f.metric) {
                for label in &mut metric.label {
                    if label.name() == "job" {
                        *label = LabelPair::new("job", "a");
                    }
                }
            }
        }
        store.write(freed).await.unwrap();
        let err = store.write(taken).await.unwrap_err();
        assert!(err.to_string().contains("is already pushed"), "{err}");
        assert_eq!(store.series(), 2);
        // Deleting a frees m.
        store
            .write(push(PushMethod::Delete, "a", ""))
            .await
            .unwrap();
        assert_eq!(store.series(), 1);
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

    #[tokio::test]
    async fn limits_refuse_with_413_and_change_nothing() {
        let store = GroupStore::builder().max_groups(2).max_series(3).build();
        store
            .write(push(
                PushMethod::Put,
                "a",
                "# TYPE x gauge\nx{q=\"1\"} 1\nx{q=\"2\"} 1\n",
            ))
            .await
            .unwrap();
        store
            .write(push(PushMethod::Put, "b", "# TYPE x gauge\nx 1\n"))
            .await
            .unwrap();
        let err = store
            .write(push(PushMethod::Put, "c", "# TYPE x gauge\nx 1\n"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LimitExceeded(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "store limit reached: the store holds 2 groups, its limit; delete some or raise the limit"
        );
        let err = store
            .write(push(PushMethod::Post, "b", "# TYPE y gauge\ny 1\n"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "store limit reached: the push would make 4 series, over the store's limit of 3"
        );
        // Replacing a group's series counts what leaves.
        store
            .write(push(
                PushMethod::Put,
                "a",
                "# TYPE y gauge\ny{q=\"1\"} 1\ny{q=\"2\"} 2\n",
            ))
            .await
            .unwrap();
        assert_eq!((store.len(), store.series()), (2, 3));
    }

    #[tokio::test]
    async fn groups_expire_after_their_ttl() {
        let store = GroupStore::builder()
            .ttl(Duration::from_millis(200))
            .build();
        store
            .write(push(PushMethod::Put, "a", "# TYPE x gauge\nx 1\n"))
            .await
            .unwrap();
        store
            .write(
                push(PushMethod::Put, "b", "# TYPE x gauge\nx 2\n")
                    .with_ttl(Some(Duration::from_secs(3600))),
            )
            .await
            .unwrap();
        let generation = store.generation();
        assert_eq!(store.len(), 2);
        assert!(store.groups()[0].expires.is_some());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            exposed(&store),
            "# TYPE x gauge\nx{instance=\"\",job=\"b\"} 2\n"
        );
        assert_eq!(store.len(), 1);
        assert!(store.generation() > generation);
        // Its series are free again.
        store
            .write(push(PushMethod::Put, "a", "# TYPE x gauge\nx 3\n"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn aggregating_groups_add_counters_and_histograms_and_keep_the_last_gauge() {
        let store = GroupStore::builder()
            .aggregate([LabelPair::new("job", "agg")])
            .build();
        let body = "# TYPE c counter\nc{path=\"/\"} 2\n# TYPE g gauge\ng 5\n\
                    # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n\
                    # TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 4\ns_count 2\n";
        store
            .write(push(PushMethod::Put, "agg", body))
            .await
            .unwrap();
        let body2 = body
            .replace("g 5", "g 7")
            .replace("s{quantile=\"0.5\"} 1", "s{quantile=\"0.5\"} 9");
        store
            .write(push(PushMethod::Put, "agg", &body2))
            .await
            .unwrap();
        store
            .write(push(
                PushMethod::Post,
                "agg",
                "# TYPE c counter\nc{path=\"/x\"} 1\n",
            ))
            .await
            .unwrap();
        assert_eq!(
            exposed(&store),
            "# TYPE c counter\nc{instance=\"\",job=\"agg\",path=\"/\"} 4\nc{instance=\"\",job=\"agg\",path=\"/x\"} 1\n\
             # TYPE g gauge\ng{instance=\"\",job=\"agg\"} 7\n\
             # TYPE h histogram\nh_bucket{instance=\"\",job=\"agg\",le=\"1\"} 2\nh_bucket{instance=\"\",job=\"agg\",le=\"+Inf\"} 4\n\
             h_sum{instance=\"\",job=\"agg\"} 6\nh_count{instance=\"\",job=\"agg\"} 4\n\
             # TYPE s summary\ns{instance=\"\",job=\"agg\",quantile=\"0.5\"} 9\ns_sum{instance=\"\",job=\"agg\"} 8\ns_count{instance=\"\",job=\"agg\"} 4\n"
        );
        // Other jobs replace as before.
        store
            .write(push(PushMethod::Put, "other", "# TYPE d counter\nd 1\n"))
            .await
            .unwrap();
        store
            .write(push(PushMethod::Put, "other", "# TYPE d counter\nd 1\n"))
            .await
            .unwrap();
        assert!(exposed(&store).contains("d{instance=\"\",job=\"other\"} 1\n"));
    }

    #[tokio::test]
    async fn delete_matching_and_wipe() {
        let store = GroupStore::new();
        for (job, instance) in [("a", "1"), ("a", "2"), ("b", "1")] {
            store
                .write(
                    push(
                        PushMethod::Put,
                        job,
                        &format!("# TYPE x gauge\nx{{i=\"{instance}\"}} 1\n"),
                    )
                    .with_grouping(vec![
                        LabelPair::new("job", job),
                        LabelPair::new("instance", instance),
                    ]),
                )
                .await
                .unwrap();
        }
        assert_eq!(store.delete_matching(&[LabelPair::new("instance", "1")]), 2);
        assert_eq!(store.delete_matching(&[LabelPair::new("job", "b")]), 0);
        assert_eq!(store.len(), 1);
        assert_eq!(store.groups()[0].labels[1].value(), "2");
        store.wipe();
        assert!(store.is_empty());
        assert_eq!(store.series(), 0);
    }

    #[tokio::test]
    async fn snapshots_restore_every_group_and_refuse_damage() {
        let store = GroupStore::new();
        store
            .write(push(
                PushMethod::Put,
                "a",
                "# HELP x An x.\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_bucket{le=\"+Inf\"} 1\nx_sum 0.5\nx_count 1\n",
            ))
            .await
            .unwrap();
        store
            .write(
                push(PushMethod::Put, "b/c", "# TYPE y counter\ny 2\n")
                    .with_ttl(Some(Duration::from_secs(60))),
            )
            .await
            .unwrap();
        let _ = store
            .write(push(PushMethod::Put, "b/c", "# TYPE x gauge\nx 2\n"))
            .await
            .unwrap_err();
        let bytes = store.snapshot();
        let dir = std::env::temp_dir().join(format!("pushgate-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("groups.snapshot");
        store.save(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), bytes);

        let copy = GroupStore::new();
        assert_eq!(copy.load(&dir.join("none")).unwrap(), None);
        assert_eq!(copy.load(&file).unwrap(), Some(2));
        assert_eq!(copy.groups(), store.groups());
        assert_eq!(copy.families(), store.families());
        assert_eq!(copy.series(), 2);
        // The indexes came back too: a clash is still a clash.
        let err = copy
            .write(push(PushMethod::Put, "a", "# TYPE y gauge\ny 1\n"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("other groups have it as counter"),
            "{err}"
        );

        for (i, cut) in [bytes.len() - 1, bytes.len() / 2, 3]
            .into_iter()
            .enumerate()
        {
            let mut damaged = bytes[..cut].to_vec();
            if i == 0 {
                damaged = bytes.clone();
                damaged[bytes.len() / 2] ^= 1;
            }
            let err = copy.restore(&damaged).unwrap_err();
            assert!(matches!(err, SnapshotError::Corrupt { .. }), "{err}");
        }
        assert_eq!(copy.len(), 2, "a damaged snapshot changes nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
