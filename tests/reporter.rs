//! The reporter end to end: its default client pushing over TCP to
//! pushgate's gateway on loopback, every 50 ms of the real clock, until
//! its cancellation token is cancelled.

mod support {
    pub mod inproc;
}

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pushgate::grouping::PushMethod;
use pushgate::model::{Counter, Metric, MetricFamily, MetricType};
use pushgate::push::{Pusher, Reporter};
use pushgate::server::Shutdown;
use tokio_util::sync::CancellationToken;

use support::inproc::Gateway;

/// A counter of how many times it was gathered, so that each stored push
/// says which gathering it carries.
fn counting_gatherer(
    gathers: Arc<AtomicU64>,
) -> impl Fn() -> Result<Vec<MetricFamily>, std::io::Error> + Send + Sync + 'static {
    move || {
        let n = gathers.fetch_add(1, Ordering::SeqCst) + 1;
        let mut family = MetricFamily {
            name: Some("reports_total".into()),
            help: Some("Times gathered.".into()),
            ..Default::default()
        };
        family.set_metric_type(MetricType::Counter);
        family.metric.push(Metric {
            counter: Some(Counter {
                value: Some(n as f64),
                ..Default::default()
            }),
            ..Default::default()
        });
        Ok(vec![family])
    }
}

#[tokio::test]
async fn reports_to_the_gateway_until_cancelled() {
    let gateway = Gateway::start();
    let gathers = Arc::new(AtomicU64::new(0));
    let pusher = Pusher::builder(gateway.url(), counting_gatherer(gathers.clone()))
        .job("reporter")
        .grouping("instance", "e2e")
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let reporter = Reporter::new(pusher)
        .interval(Duration::from_millis(50))
        .jitter(0.2)
        .push_on_shutdown(true)
        .spawn(token.clone().cancelled_owned());

    // A few scheduled pushes; the limit only keeps a broken reporter from
    // hanging the test.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while gateway.store.len() < 3 {
        assert!(
            tokio::time::Instant::now() < give_up,
            "only {} pushes stored",
            gateway.store.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    token.cancel();
    let reported = reporter.await.unwrap();

    // Every push succeeded, the final one included (the push in flight,
    // if any, was finished), and each was stored once.
    assert_eq!(reported.failed, 0, "{reported:?}");
    assert!(!reported.abandoned);
    assert_eq!(reported.succeeded, reported.pushes);
    assert!(reported.pushes >= 4, "{reported:?}");
    let messages = gateway.store.pushes();
    assert_eq!(messages.len() as u64, reported.succeeded);

    // In order, each a fresh gathering, the last one the final push's.
    let values: Vec<f64> = messages
        .iter()
        .map(|message| {
            assert_eq!(message.method, PushMethod::Post);
            let key: Vec<(&str, &str)> = message
                .grouping
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            assert_eq!(key, [("job", "reporter"), ("instance", "e2e")]);
            let families = message.families.clone();
            assert_eq!(families.len(), 1);
            assert_eq!(families[0].name(), "reports_total");
            families[0].metric[0].counter.as_ref().unwrap().value()
        })
        .collect();
    let expected: Vec<f64> = (1..=values.len()).map(|n| n as f64).collect();
    assert_eq!(values, expected);
    assert_eq!(gathers.load(Ordering::SeqCst), reported.pushes);

    // Nothing pushes after the reporter stopped, and the gateway drains:
    // no request was left open.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gateway.store.len() as u64, reported.succeeded);
    assert_eq!(gateway.stop(), Shutdown::Drained);
}
