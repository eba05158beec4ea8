//! The reporter against a scripted tower client, on tokio's paused clock:
//! every push's start and end is an exact instant, so the schedule, the
//! jitter's bounds and what shutdown does are asserted exactly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http::Method;
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::model::{Gauge, Metric, MetricFamily, MetricType};
use crate::push::{GatherError, Retry};

/// What the scripted client does with one request.
#[derive(Clone, Copy, Debug)]
enum Reply {
    /// Answers this status at once.
    Status(u16),
    /// Answers 202 after this long.
    Slow(Duration),
}

/// One request the client received, in seconds since the test started.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: Method,
    /// When it arrived.
    at: f64,
    /// When it was answered; `None` if never (dropped first).
    done: Option<f64>,
}

#[derive(Clone)]
struct Log {
    start: Instant,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Log {
    fn new() -> Log {
        Log {
            start: Instant::now(),
            seen: Arc::default(),
        }
    }

    fn now(&self) -> f64 {
        (Instant::now() - self.start).as_secs_f64()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// When each request arrived.
    fn starts(&self) -> Vec<f64> {
        self.seen().iter().map(|s| s.at).collect()
    }
}

/// What [`scripted`] returns: a client service, as a pusher takes it, and
/// whose futures can be spawned.
trait Scripted:
    Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = std::io::Error,
        Future: Send,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Scripted for T where
    T: Service<
            Request<Full<Bytes>>,
            Response = Response<Full<Bytes>>,
            Error = std::io::Error,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A client that plays `script` (its last reply again once it runs out)
/// and logs each request's arrival and answer.
fn scripted(log: &Log, script: Vec<Reply>) -> impl Scripted {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = log.clone();
    tower::service_fn(move |request: Request<Full<Bytes>>| {
        let (log, script) = (log.clone(), script.clone());
        async move {
            let index = {
                let mut seen = log.seen.lock().unwrap();
                seen.push(Seen {
                    method: request.method().clone(),
                    at: log.now(),
                    done: None,
                });
                seen.len() - 1
            };
            let reply = {
                let mut script = script.lock().unwrap();
                if script.len() > 1 {
                    script.pop_front().unwrap()
                } else {
                    *script.front().expect("an empty script")
                }
            };
            let status = match reply {
                Reply::Status(status) => status,
                Reply::Slow(delay) => {
                    sleep(delay).await;
                    202
                }
            };
            log.seen.lock().unwrap()[index].done = Some(log.now());
            Ok(Response::builder()
                .status(status)
                .body(Full::new(Bytes::new()))
                .unwrap())
        }
    })
}

fn families() -> Vec<MetricFamily> {
    let mut up = MetricFamily {
        name: Some("up".into()),
        help: Some("Up.".into()),
        ..Default::default()
    };
    up.set_metric_type(MetricType::Gauge);
    up.metric.push(Metric {
        gauge: Some(Gauge { value: Some(1.0) }),
        ..Default::default()
    });
    vec![up]
}

fn gatherer() -> impl Fn() -> Result<Vec<MetricFamily>, std::io::Error> + Send + Sync {
    || Ok(families())
}

/// A reporter to a scripted client, every 10 s, sending once per push
/// (no retries), with a generous timeout.
fn reporter<G: Gatherer>(log: &Log, gatherer: G, script: Vec<Reply>) -> Reporter<G, impl Scripted> {
    let pusher = Pusher::builder("http://gw:9091", gatherer)
        .job("app")
        .retry(Retry::never())
        .timeout(Duration::from_secs(60))
        .client(scripted(log, script))
        .build()
        .unwrap();
    Reporter::new(pusher).interval(Duration::from_secs(10))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn reported(pushes: u64, succeeded: u64, failed: u64, abandoned: bool) -> Reported {
    Reported {
        pushes,
        succeeded,
        failed,
        abandoned,
    }
}

#[tokio::test(start_paused = true)]
async fn pushes_at_start_then_every_interval() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .run(sleep(secs(35)))
        .await;
    assert_eq!(log.starts(), [0.0, 10.0, 20.0, 30.0]);
    assert!(log.seen().iter().all(|s| s.method == Method::POST));
    assert_eq!(done, reported(4, 4, 0, false));
    // It returned when the signal fired, mid-wait.
    assert_eq!(log.now(), 35.0);
}

#[tokio::test(start_paused = true)]
async fn the_default_interval_is_a_day() {
    let log = Log::new();
    let pusher = Pusher::builder("http://gw:9091", gatherer())
        .job("app")
        .client(scripted(&log, vec![Reply::Status(202)]))
        .build()
        .unwrap();
    let done = Reporter::new(pusher).run(sleep(secs(49 * 3600))).await;
    assert_eq!(log.starts(), [0.0, 86400.0, 172800.0]);
    assert_eq!(done.pushes, 3);
}

#[tokio::test(start_paused = true)]
async fn a_push_slower_than_the_interval_delays_the_next_wait() {
    let log = Log::new();
    // Each push takes 15 s; the next wait starts when it ends: no
    // catch-up push, no overlap.
    let done = reporter(&log, gatherer(), vec![Reply::Slow(secs(15))])
        .run(sleep(secs(60)))
        .await;
    let seen = log.seen();
    let spans: Vec<(f64, Option<f64>)> = seen.iter().map(|s| (s.at, s.done)).collect();
    assert_eq!(
        spans,
        [(0.0, Some(15.0)), (25.0, Some(40.0)), (50.0, Some(65.0))]
    );
    // The third push was in flight at 60 s, and finished (the default).
    assert_eq!(done, reported(3, 3, 0, false));
    assert_eq!(log.now(), 65.0);
}

#[tokio::test(start_paused = true)]
async fn jitter_keeps_each_wait_within_its_bounds() {
    // The reporter runs on this thread, so this seeds its draws: the
    // test is the same every run.
    fastrand::seed(7);
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .jitter(0.25)
        .run(sleep(secs(400)))
        .await;
    let starts = log.starts();
    assert_eq!(starts[0], 0.0, "the first push is not delayed");
    // In whole milliseconds: tokio's timer rounds each deadline up to
    // one, so a wait drawn just under 12.5 s is seen as 12.5 s.
    let waits: Vec<u64> = starts
        .windows(2)
        .map(|w| ((w[1] - w[0]) * 1000.0).round() as u64)
        .collect();
    assert!(waits.len() >= 30, "{waits:?}");
    for wait in &waits {
        assert!(
            (7500..=12_500).contains(wait),
            "{wait} ms out of 10 s ± 25%"
        );
    }
    // Spread on both sides of the interval, not one fixed offset.
    assert!(waits.iter().any(|w| *w < 9000), "{waits:?}");
    assert!(waits.iter().any(|w| *w > 11_000), "{waits:?}");
    assert_eq!(done.pushes as usize, starts.len());
}

#[test]
fn jittered_waits_are_uniform_around_the_interval() {
    let ten = secs(10);
    assert_eq!(jittered(ten, 0.0, 0.9), ten);
    assert_eq!(jittered(ten, 0.25, 0.0), Duration::from_millis(7500));
    assert_eq!(jittered(ten, 0.25, 0.5), ten);
    let top = jittered(ten, 0.25, 0.999_999);
    assert!(top < Duration::from_millis(12_500) && top > Duration::from_millis(12_499));
    // Full jitter reaches down to no wait, never below.
    assert_eq!(jittered(ten, 1.0, 0.0), Duration::ZERO);
    // No overflow at the top.
    assert_eq!(jittered(Duration::MAX, 0.5, 0.99), Duration::MAX);
    // Settings are clamped as documented.
    let r = |j: f64| reporter_settings(j).jitter;
    assert_eq!((r(-1.0), r(2.0), r(f64::NAN), r(0.1)), (0.0, 1.0, 0.0, 0.1));
}

fn reporter_settings(jitter: f64) -> Reporter<impl Gatherer> {
    let pusher = Pusher::builder("http://gw", gatherer()).build().unwrap();
    Reporter::new(pusher).jitter(jitter)
}

#[test]
#[should_panic(expected = "interval must not be zero")]
fn a_zero_interval_is_refused() {
    let _ = reporter_settings(0.0).interval(Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_signal_already_fired_means_no_push() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .run(std::future::ready(()))
        .await;
    assert_eq!(done, Reported::default());
    assert_eq!(log.now(), 0.0);
    // With a final push: that one only.
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .push_on_shutdown(true)
        .run(std::future::ready(()))
        .await;
    assert_eq!(done, reported(1, 1, 0, false));
    assert_eq!(log.starts(), [0.0]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_a_wait_stops_at_once() {
    let log = Log::new();
    let token = CancellationToken::new();
    let handle =
        reporter(&log, gatherer(), vec![Reply::Status(202)]).spawn(token.clone().cancelled_owned());
    sleep(secs(15)).await;
    token.cancel();
    let done = handle.await.unwrap();
    assert_eq!(done, reported(2, 2, 0, false));
    assert_eq!(log.now(), 15.0, "no wait for the next tick");
    // Nothing pushes afterwards.
    sleep(secs(100)).await;
    assert_eq!(log.starts(), [0.0, 10.0]);
}

#[tokio::test(start_paused = true)]
async fn finish_lets_the_push_in_flight_complete() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Slow(secs(5))])
        .on_shutdown(InFlight::Finish)
        .run(sleep(secs(2)))
        .await;
    assert_eq!(done, reported(1, 1, 0, false));
    assert_eq!(log.now(), 5.0, "returned when the push was answered");
    assert_eq!(log.seen()[0].done, Some(5.0));
}

#[tokio::test(start_paused = true)]
async fn abandon_drops_the_push_in_flight() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Slow(secs(5))])
        .on_shutdown(InFlight::Abandon)
        .run(sleep(secs(2)))
        .await;
    assert_eq!(done, reported(1, 0, 0, true));
    assert_eq!(log.now(), 2.0, "returned at the signal");
    // The request was dropped: it is never answered.
    sleep(secs(60)).await;
    let seen = log.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].at, seen[0].done), (0.0, None));
}

#[tokio::test(start_paused = true)]
async fn push_on_shutdown_sends_exactly_one_more() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .push_on_shutdown(true)
        .run(sleep(secs(15)))
        .await;
    assert_eq!(done, reported(3, 3, 0, false));
    sleep(secs(100)).await;
    assert_eq!(log.starts(), [0.0, 10.0, 15.0]);
}

#[tokio::test(start_paused = true)]
async fn the_final_push_follows_the_push_in_flight() {
    // Pushes take 5 s: at 0 and 15; the signal comes at 17, mid-push.
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Slow(secs(5))])
        .push_on_shutdown(true)
        .run(sleep(secs(17)))
        .await;
    let spans: Vec<(f64, Option<f64>)> = log.seen().iter().map(|s| (s.at, s.done)).collect();
    assert_eq!(
        spans,
        [(0.0, Some(5.0)), (15.0, Some(20.0)), (20.0, Some(25.0))]
    );
    assert_eq!(done, reported(3, 3, 0, false));

    // Abandoned, the final push starts at the signal instead.
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Slow(secs(5))])
        .push_on_shutdown(true)
        .on_shutdown(InFlight::Abandon)
        .run(sleep(secs(17)))
        .await;
    let spans: Vec<(f64, Option<f64>)> = log.seen().iter().map(|s| (s.at, s.done)).collect();
    assert_eq!(spans, [(0.0, Some(5.0)), (15.0, None), (17.0, Some(22.0))]);
    assert_eq!(done, reported(3, 2, 0, true));
}

/// A gatherer that never returns.
struct Stuck;

impl Gatherer for Stuck {
    async fn gather(&self) -> Result<Vec<MetricFamily>, GatherError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn the_final_push_is_bounded_by_the_pushers_timeout() {
    let log = Log::new();
    let pusher = Pusher::builder("http://gw:9091", Stuck)
        .job("app")
        .timeout(secs(3))
        .client(scripted(&log, vec![Reply::Status(202)]))
        .build()
        .unwrap();
    let done = Reporter::new(pusher)
        .push_on_shutdown(true)
        .on_shutdown(InFlight::Abandon)
        .run(sleep(secs(1)))
        .await;
    // The scheduled push abandoned at 1 s, the final one timed out at 4 s.
    assert_eq!(done, reported(2, 0, 1, true));
    assert_eq!(log.now(), 4.0);
    assert!(log.seen().is_empty());
}

#[tokio::test(start_paused = true)]
async fn method_put_replaces_the_group() {
    let log = Log::new();
    let done = reporter(&log, gatherer(), vec![Reply::Status(202)])
        .method(PushMethod::Put)
        .push_on_shutdown(true)
        .run(sleep(secs(5)))
        .await;
    assert_eq!(done.succeeded, 2);
    let methods: Vec<Method> = log.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, [Method::PUT, Method::PUT]);
}

#[tokio::test(start_paused = true)]
async fn no_families_is_a_success_that_sends_nothing() {
    let log = Log::new();
    let empty = || Ok::<_, std::io::Error>(Vec::new());
    let done = reporter(&log, empty, vec![Reply::Status(202)])
        .run(sleep(secs(15)))
        .await;
    assert_eq!(done, reported(2, 2, 0, false));
    assert!(log.seen().is_empty());
}

#[tokio::test]
async fn spawns_with_the_default_client() {
    // The default client's futures are Send, so its reporter can be
    // spawned (nothing is sent: the signal has fired already).
    let pusher = Pusher::builder("http://127.0.0.1:9", gatherer())
        .job("app")
        .build()
        .unwrap();
    let done = Reporter::new(pusher)
        .spawn(std::future::ready(()))
        .await
        .unwrap();
    assert_eq!(done, Reported::default());
}
