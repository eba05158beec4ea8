//! An app that reports a chosen subset of its `prometheus` metrics to a
//! push gateway every few seconds, and once more when stopped with Ctrl-C.
//!
//! ```sh
//! cargo run --example hyper &     # a gateway on 127.0.0.1:9091 that logs each push
//! cargo run --example reporter    # pushes to http://127.0.0.1:9091
//! cargo run --example reporter -- http://gateway:9091   # or PUSHGATE_URL=http://gateway:9091
//! ```
//!
//! It pushes every 5 s (`REPORTER_INTERVAL_MS` sets another interval),
//! ± 10% jitter, as job `reporter_example`, instance `demo`. Of its four
//! metric families, `app_cache_entries` stays out of the pushes: a
//! [`Filter`] keeps the three job metrics.

use std::error::Error;
use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};
use pushgate::matcher::{Filter, Matcher};
use pushgate::push::{Pusher, Reporter};
use tokio_util::sync::CancellationToken;

/// The app's metrics.
#[derive(Clone)]
struct Metrics {
    jobs: IntCounter,
    queue: IntGauge,
    job_seconds: Histogram,
    cache_entries: IntGauge,
}

impl Metrics {
    fn register(registry: &Registry) -> prometheus::Result<Metrics> {
        let metrics = Metrics {
            jobs: IntCounter::new("app_jobs_total", "Jobs done.")?,
            queue: IntGauge::new("app_queue_length", "Jobs waiting.")?,
            job_seconds: Histogram::with_opts(
                HistogramOpts::new("app_job_seconds", "How long jobs take.")
                    .buckets(vec![0.005, 0.01, 0.025, 0.05]),
            )?,
            cache_entries: IntGauge::new(
                "app_cache_entries",
                "Entries in the app's cache: for its own dashboards, not pushed.",
            )?,
        };
        registry.register(Box::new(metrics.jobs.clone()))?;
        registry.register(Box::new(metrics.queue.clone()))?;
        registry.register(Box::new(metrics.job_seconds.clone()))?;
        registry.register(Box::new(metrics.cache_entries.clone()))?;
        Ok(metrics)
    }
}

/// A fake workload: a job every 20 ms or so, until cancelled.
async fn work(metrics: Metrics, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let took = Duration::from_millis(fastrand::u64(1..40));
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(took) => {}
        }
        metrics.jobs.inc();
        metrics.job_seconds.observe(took.as_secs_f64());
        metrics.queue.set(fastrand::i64(0..10));
        metrics.cache_entries.set(fastrand::i64(100..200));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The reporter's pushes are logged at info (failures at warn) unless
    // RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PUSHGATE_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:9091".to_owned());
    let interval = match std::env::var("REPORTER_INTERVAL_MS") {
        Ok(ms) => Duration::from_millis(ms.parse()?),
        Err(_) => Duration::from_secs(5),
    };

    let registry = Registry::new();
    let metrics = Metrics::register(&registry)?;

    // Ctrl-C stops the workload and the reporter.
    let stop = CancellationToken::new();
    tokio::spawn(work(metrics, stop.clone()));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("Ctrl-C: stopping after a final push"),
                // No signal handling: stop now rather than never.
                Err(error) => tracing::error!(%error, "cannot listen for Ctrl-C"),
            }
            stop.cancel();
        }
    });

    // Push the job metrics only; the registry itself keeps all four (an
    // app's own /metrics page would serve it).
    let jobs_only = Matcher::new()
        .family("app_jobs_total")
        .family("app_queue_length")
        .family("app_job_seconds");
    let pusher = Pusher::builder(url, Filter::new(registry.clone(), jobs_only))
        .job("reporter_example")
        .grouping("instance", "demo")
        .build()?;
    tracing::info!(url = %pusher.url(), ?interval, "reporting");

    let reported = Reporter::new(pusher)
        .interval(interval)
        .jitter(0.1)
        .push_on_shutdown(true)
        .run(stop.cancelled_owned())
        .await;
    println!(
        "reporter stopped: {} pushes, {} succeeded, {} failed",
        reported.pushes, reported.succeeded, reported.failed
    );
    Ok(())
}
