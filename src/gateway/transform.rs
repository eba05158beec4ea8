//! Layer: set the grouping labels on every metric, then run the configured
//! [`Transformer`]s in order.
//!
//! Grouping labels overwrite pushed labels of the same name, as the
//! Pushgateway documents ("will be overwritten to match the labels defined
//! by the URL path"); a label that is not there yet is inserted before the
//! first label whose name sorts after it, so sorted labels stay sorted.
//! Unlike the Pushgateway's storage, no empty `instance` label is added.
//!
//! Which transformers run is exactly what the layer is given:
//! [`TransformLayer::new`] runs the list given, nothing more;
//! [`TransformLayer::default`] runs [`AddTimestamps`] alone, InfluxDB
//! telemetry's default. The gateway's builder follows the same rule: its
//! transformers, then [`AddTimestamps`] unless
//! [`receive_timestamps(false)`](super::Builder::receive_timestamps) turned
//! it off.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::future::StageFuture;
use super::GatewayError;
use crate::model::{LabelPair, MetricFamily};
use crate::store::Push;
use crate::transform::{AddTimestamps, Transformer};

/// The transformers of a gateway, shared between requests.
pub type Transformers = Arc<[Box<dyn Transformer>]>;

/// Applies the grouping key and the transformers to every push.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::{Arc, Mutex};
/// use pushgate::gateway::transform::TransformLayer;
/// use pushgate::gateway::GatewayError;
/// use pushgate::store::Push;
/// use pushgate::model::LabelPair;
/// use pushgate::transform::{AddLabels, Transformer};
/// use pushgate::{codec, Format};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let seen = Arc::new(Mutex::new(None));
/// let keep = seen.clone();
/// let sink = service_fn(move |push: Push| {
///     *keep.lock().unwrap() = Some(push.families);
///     async { Ok::<_, GatewayError>(()) }
/// });
/// let layer = TransformLayer::new([Box::new(AddLabels::new([("env", "prod")])) as Box<dyn Transformer>]);
/// let families = codec::decode(Format::Text, "up{job=\"x\"} 1\n".into(), &Default::default()).unwrap();
/// let push = Push::new(families, Format::Text).with_grouping(vec![LabelPair::new("job", "batch")]);
/// layer.layer(sink).oneshot(push).await.unwrap();
///
/// let families = seen.lock().unwrap().take().unwrap();
/// assert_eq!(families[0].metric[0].label, [LabelPair::new("env", "prod"), LabelPair::new("job", "batch")]);
/// # });
/// ```
#[derive(Clone)]
#[must_use]
pub struct TransformLayer {
    transformers: Transformers,
}

impl TransformLayer {
    /// Runs exactly `transformers`, in order; none at all if it is empty
    /// (then only the grouping key is applied).
    pub fn new<I>(transformers: I) -> TransformLayer
    where
        I: IntoIterator<Item = Box<dyn Transformer>>,
    {
        TransformLayer::shared(transformers.into_iter().collect())
    }

    /// Runs exactly `transformers`, shared with whoever else holds them.
    pub fn shared(transformers: Transformers) -> TransformLayer {
        TransformLayer { transformers }
    }
}

impl Default for TransformLayer {
    /// [`AddTimestamps`] only: InfluxDB telemetry's default.
    fn default() -> TransformLayer {
        TransformLayer::new([Box::new(AddTimestamps::new()) as Box<dyn Transformer>])
    }
}

impl fmt::Debug for TransformLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransformLayer")
            .field("transformers", &self.transformers.len())
            .finish()
    }
}

impl<S> Layer<S> for TransformLayer {
    type Service = Transform<S>;
    fn layer(&self, inner: S) -> Transform<S> {
        Transform {
            inner,
            transformers: self.transformers.clone(),
        }
    }
}

/// The service of [`TransformLayer`].
#[derive(Clone)]
pub struct Transform<S> {
    inner: S,
    transformers: Transformers,
}

impl<S> Transform<S> {
    /// A layer running exactly `transformers`.
    pub fn layer<I>(transformers: I) -> TransformLayer
    where
        I: IntoIterator<Item = Box<dyn Transformer>>,
    {
        TransformLayer::new(transformers)
    }

    inner_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for Transform<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transform")
            .field("inner", &self.inner)
            .field("transformers", &self.transformers.len())
            .finish()
    }
}

impl<S> Service<Push> for Transform<S>
where
    S: Service<Push, Error = GatewayError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = StageFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut push: Push) -> Self::Future {
        apply_grouping(&mut push.families, &push.grouping);
        self.transformers.transform(&mut push.families);
        StageFuture::inner(self.inner.call(push))
    }
}

/// Sets each grouping label on every metric of `families`, overwriting a
/// label of the same name.
pub fn apply_grouping(families: &mut [MetricFamily], grouping: &[LabelPair]) {
    if grouping.is_empty() {
        return;
    }
    for m in families.iter_mut().flat_map(|mf| &mut mf.metric) {
        for g in grouping {
            if let Some(l) = m.label.iter_mut().find(|l| l.name() == g.name()) {
                l.value.clone_from(&g.value);
            } else {
                let at = m
                    .label
                    .iter()
                    .position(|l| l.name() > g.name())
                    .unwrap_or(m.label.len());
                m.label.insert(at, g.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Metric;

    fn family(labels: &[&[(&str, &str)]]) -> MetricFamily {
        MetricFamily {
            name: Some("m".into()),
            metric: labels
                .iter()
                .map(|ls| Metric {
                    label: ls.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn grouping_overwrites_and_inserts_in_order() {
        let mut families = vec![family(&[&[("a", "1"), ("job", "pushed"), ("z", "9")], &[]])];
        let grouping = [
            LabelPair::new("job", "batch"),
            LabelPair::new("instance", "h"),
        ];
        apply_grouping(&mut families, &grouping);
        let want = family(&[
            &[("a", "1"), ("instance", "h"), ("job", "batch"), ("z", "9")],
            &[("instance", "h"), ("job", "batch")],
        ]);
        assert_eq!(families, vec![want]);
    }

    #[test]
    fn no_grouping_changes_nothing() {
        let mut families = vec![family(&[&[("b", "1"), ("a", "2")]])];
        apply_grouping(&mut families, &[]);
        assert_eq!(families, vec![family(&[&[("b", "1"), ("a", "2")]])]);
    }

    #[test]
    fn default_is_add_timestamps_and_new_runs_exactly_what_it_is_given() {
        assert_eq!(TransformLayer::default().transformers.len(), 1);
        assert_eq!(TransformLayer::new([]).transformers.len(), 0);
        assert_eq!(TransformLayer::shared(Arc::new([])).transformers.len(), 0);
    }
}
