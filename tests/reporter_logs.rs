//! The reporter logs each failure and each success, and keeps its schedule
//! after a failure. A binary of its own with one test and a global
//! `tracing` subscriber: a per-thread subscriber misses events now and then
//! when other tests register the same callsites at the same moment.

mod support {
    pub mod inproc;
    pub mod logs;
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pushgate::model::{Gauge, Metric, MetricFamily, MetricType};
use pushgate::push::{Pusher, Reporter};

use support::inproc::Gateway;
use support::logs::Captured;

fn families(timestamp: bool) -> Vec<MetricFamily> {
    let mut family = MetricFamily {
        name: Some("up".into()),
        ..Default::default()
    };
    family.set_metric_type(MetricType::Gauge);
    family.metric.push(Metric {
        gauge: Some(Gauge { value: Some(1.0) }),
        timestamp_ms: timestamp.then_some(1),
        ..Default::default()
    });
    vec![family]
}

#[tokio::test]
async fn failures_are_logged_and_the_schedule_goes_on() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish(),
    )
    .unwrap();

    let gateway = Gateway::start();
    // The first push is refused (a timestamp: 400), the second gathering
    // fails, the third push is stored.
    let gathers = Arc::new(AtomicUsize::new(0));
    let counted = gathers.clone();
    let gatherer = move || match counted.fetch_add(1, Ordering::SeqCst) {
        0 => Ok(families(true)),
        1 => Err(std::io::Error::other("registry broken")),
        _ => Ok(families(false)),
    };
    let pusher = Pusher::builder(gateway.url(), gatherer)
        .job("app")
        .build()
        .unwrap();
    let store = gateway.store.clone();
    let stored = async move {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        while store.is_empty() {
            assert!(tokio::time::Instant::now() < give_up, "nothing stored");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let done = Reporter::new(pusher)
        .interval(Duration::from_millis(50))
        .run(stored)
        .await;
    assert_eq!(
        (done.pushes, done.succeeded, done.failed),
        (3, 1, 2),
        "{done:?}"
    );

    let text = captured.text();
    let reporter: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("pushgate::push::reporter:"))
        .collect();
    let warns: Vec<&&str> = reporter.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warns.len(), 2, "{text}");
    assert!(warns[0].contains("reporting metrics failed"), "{text}");
    assert!(
        warns[0].contains("answered 400 Bad Request: pushed metrics must not have timestamp"),
        "{text}"
    );
    assert!(
        warns[1].contains("error=gathering metrics failed: registry broken"),
        "{text}"
    );
    let info = reporter
        .iter()
        .find(|l| l.contains(" INFO ") && l.contains("reported metrics"))
        .unwrap_or_else(|| panic!("no success logged:\n{text}"));
    assert!(info.contains("families=1"), "{info}");
    assert!(info.contains("bytes="), "{info}");
    assert!(
        reporter.iter().any(|l| l.contains("next push after")),
        "{text}"
    );
}
