//! [`Reporter`]: a [`Pusher`] run on a schedule until a shutdown signal.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tokio::task::JoinHandle;
use tower::Service;

use super::error::PushError;
use super::pusher::{Pushed, Pusher};
use super::Gatherer;
use crate::client::HttpClient;
use crate::grouping::PushMethod;
use crate::BoxError;

/// InfluxDB telemetry's reporting interval: once a day.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Pushes a [`Pusher`]'s families once at start, then every interval, until
/// a shutdown signal (InfluxDB telemetry's `Reporter`).
///
/// Built with [`Reporter::new`] and the setters below, then run with
/// [`run`](Reporter::run) (or [`spawn`](Reporter::spawn)), which takes the
/// shutdown signal: any `Future<Output = ()>`, such as a
/// `tokio_util::sync::CancellationToken`'s `cancelled_owned()` or
/// `async { tokio::signal::ctrl_c().await.ok(); }`.
///
/// # Schedule
///
/// The first push starts at once. Each next one starts a *wait* after the
/// previous one **ended**: the [interval](Reporter::interval) (24 hours by
/// default, as in InfluxDB telemetry), give or take the [jitter](Reporter::jitter). So
/// pushes never overlap, and a push slower than the interval is still
/// followed by a full wait, not by the catch-up push a fixed-rate ticker
/// would fire: the schedule slips by the time pushes take (seconds a day,
/// at most the pusher's [timeout](super::PusherBuilder::timeout) each,
/// which bounds every push, retries included).
///
/// # Failures
///
/// A failed push (gathering, the gateway's refusal, no connection, a
/// timeout) is logged at warn level with its error, and the schedule goes
/// on: the next push is one wait later, as after a success. A success is
/// logged at info level with its families and bytes; each wait at debug
/// (target `pushgate::push::reporter`).
///
/// # Shutdown
///
/// When the signal fires during a wait, the wait ends at once. When it
/// fires during a push, that push is finished or dropped as
/// [`on_shutdown`](Reporter::on_shutdown) says ([`InFlight::Finish`] by
/// default). Then, with [`push_on_shutdown`](Reporter::push_on_shutdown),
/// one last push is made (bounded by the pusher's timeout) so that the
/// gateway has the final values, and `run` returns a [`Reported`] count of
/// what was done. No push starts after that.
///
/// ```
/// use std::time::Duration;
/// use pushgate::gateway::PushGateway;
/// use pushgate::matcher::{Filter, Matcher};
/// use pushgate::push::{Pusher, Reporter};
/// use pushgate::store::MemoryStore;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = MemoryStore::new();
/// # let gateway = PushGateway::builder(store.clone()).build()?;
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}", listener.local_addr()?);
/// # tokio::spawn(pushgate::server::serve(listener, gateway, std::future::pending()));
/// let registry = prometheus::Registry::new();
/// let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.")?;
/// registry.register(Box::new(jobs.clone()))?;
/// jobs.inc();
///
/// let gatherer = Filter::new(registry, Matcher::new().family("jobs_total"));
/// let pusher = Pusher::builder(url, gatherer).job("batch").build()?;
/// let token = CancellationToken::new();
/// let reporter = Reporter::new(pusher)
///     .interval(Duration::from_secs(60))
///     .jitter(0.1)
///     .push_on_shutdown(true)
///     .spawn(token.clone().cancelled_owned());
///
/// // ... the app runs; at its end:
/// # tokio::task::yield_now().await;
/// token.cancel();
/// let reported = reporter.await?;
/// assert_eq!(reported.failed, 0);
/// // Each push stored: the one at start (unless the cancel came first) and the final one.
/// assert_eq!(store.len() as u64, reported.succeeded);
/// assert!(reported.succeeded >= 1);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct Reporter<G, C = HttpClient> {
    pusher: Pusher<G, C>,
    interval: Duration,
    jitter: f64,
    in_flight: InFlight,
    push_on_shutdown: bool,
    method: PushMethod,
}

/// What a [`Reporter`] does with a push in flight when its shutdown signal
/// fires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InFlight {
    /// Lets it finish (within the pusher's timeout), then stops.
    #[default]
    Finish,
    /// Drops it at once, as dropping any push does: the request may or may
    /// not have reached the gateway.
    Abandon,
}

/// What a [`Reporter`]'s [`run`](Reporter::run) did, returned when it
/// stops.
///
/// `pushes == succeeded + failed + abandoned as u64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reported {
    /// Pushes started, the final one included.
    pub pushes: u64,
    /// Pushes that succeeded (a push of no families included: it sends
    /// nothing, and succeeds).
    pub succeeded: u64,
    /// Pushes that failed (each logged).
    pub failed: u64,
    /// Whether a push in flight at shutdown was dropped
    /// ([`InFlight::Abandon`]).
    pub abandoned: bool,
}

impl<G, C: Clone> Clone for Reporter<G, C> {
    fn clone(&self) -> Reporter<G, C> {
        Reporter {
            pusher: self.pusher.clone(),
            ..*self
        }
    }
}

impl<G, C> fmt::Debug for Reporter<G, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reporter")
            .field("pusher", &self.pusher)
            .field("interval", &self.interval)
            .field("jitter", &self.jitter)
            .field("in_flight", &self.in_flight)
            .field("push_on_shutdown", &self.push_on_shutdown)
            .field("method", &self.method)
            .finish()
    }
}

impl<G, C> Reporter<G, C> {
    /// A reporter that pushes with `pusher` every 24 hours (InfluxDB telemetry's
    /// `NewReporter`), without jitter, finishing a push in flight at
    /// shutdown and making no final push; pushes are `POST`s
    /// ([`Pusher::push`]).
    pub fn new(pusher: Pusher<G, C>) -> Reporter<G, C> {
        Reporter {
            pusher,
            interval: DEFAULT_INTERVAL,
            jitter: 0.0,
            in_flight: InFlight::Finish,
            push_on_shutdown: false,
            method: PushMethod::Post,
        }
    }

    /// The wait between the end of one push and the start of the next,
    /// before jitter; [`DEFAULT_INTERVAL`] (24 h) by default.
    ///
    /// # Panics
    ///
    /// If `interval` is zero: the reporter would push without pause.
    pub fn interval(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "a reporter's interval must not be zero"
        );
        self.interval = interval;
        self
    }

    /// Spreads the waits so that a fleet started together does not push
    /// in step: `jitter` is a fraction of the interval, in `0.0..=1.0`
    /// (out-of-range values are clamped, NaN is `0.0`); `0.0`, the default,
    /// waits exactly the interval.
    ///
    /// Each wait is `interval · (1 + jitter · (2r − 1))`, for `r` drawn
    /// anew, uniform in `[0, 1)`: uniform in
    /// `[interval · (1 − jitter), interval · (1 + jitter))`, never
    /// negative, and the interval on average, so the push rate stays the
    /// same. The first push, at start, is not delayed.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// What to do with a push in flight when the shutdown signal fires:
    /// [`InFlight::Finish`] (the default) or [`InFlight::Abandon`].
    pub fn on_shutdown(mut self, in_flight: InFlight) -> Self {
        self.in_flight = in_flight;
        self
    }

    /// Whether to push once more after the shutdown signal (after the push
    /// in flight, if any, is finished or abandoned), so that the gateway
    /// keeps the values the app ended with; off by default, as in InfluxDB telemetry.
    pub fn push_on_shutdown(mut self, push: bool) -> Self {
        self.push_on_shutdown = push;
        self
    }

    /// How to push: [`PushMethod::Post`] ([`Pusher::push`], the default:
    /// replace the families pushed) or [`PushMethod::Put`]
    /// ([`Pusher::put`]: replace the whole group, so that families the app
    /// no longer has disappear from the gateway). A reporter only pushes:
    /// any other method pushes with `POST`.
    pub fn method(mut self, method: PushMethod) -> Self {
        self.method = method;
        self
    }

    /// The pusher.
    pub fn pusher(&self) -> &Pusher<G, C> {
        &self.pusher
    }

    /// The next wait, for a random `r` in `[0, 1)` (see
    /// [`jitter`](Reporter::jitter)).
    fn wait(&self, r: f64) -> Duration {
        jittered(self.interval, self.jitter, r)
    }
}

/// `interval · (1 + jitter · (2r − 1))`, saturating at `Duration::MAX`.
fn jittered(interval: Duration, jitter: f64, r: f64) -> Duration {
    if jitter == 0.0 {
        return interval;
    }
    let factor = 1.0 + jitter * (2.0 * r.clamp(0.0, 1.0) - 1.0);
    // Not `mul_f64`, which panics past `Duration::MAX`.
    Duration::try_from_secs_f64(interval.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

impl<G, C, B> Reporter<G, C>
where
    G: Gatherer,
    C: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    C::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Pushes at start and then on schedule until `shutdown` resolves; see
    /// [`Reporter`] for the schedule and what shutdown does. Returns what
    /// was done.
    ///
    /// A `shutdown` already resolved at start means no scheduled push (only
    /// the [final one](Reporter::push_on_shutdown), if asked for).
    /// Dropping the future stops the reporter at once, dropping any push in
    /// flight.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Reported {
        let mut shutdown = pin!(shutdown);
        let mut reported = Reported::default();
        let mut wait = Duration::ZERO;
        loop {
            // The shutdown is looked at first, so that a signal that has
            // fired is never raced by a wait that has ended too.
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
            reported.pushes += 1;
            let mut push = pin!(self.push_once());
            let outcome = tokio::select! {
                biased;
                () = &mut shutdown => match self.in_flight {
                    InFlight::Finish => {
                        tracing::debug!("shutting down once the push in flight is done");
                        Some(push.await)
                    }
                    InFlight::Abandon => None,
                },
                outcome = &mut push => {
                    self.record(outcome, &mut reported);
                    wait = self.wait(fastrand::f64());
                    tracing::debug!(?wait, "next push after");
                    continue;
                }
            };
            match outcome {
                Some(outcome) => self.record(outcome, &mut reported),
                None => {
                    tracing::info!("push in flight abandoned at shutdown");
                    reported.abandoned = true;
                }
            }
            break;
        }
        if self.push_on_shutdown {
            tracing::debug!("final push at shutdown");
            reported.pushes += 1;
            let outcome = self.push_once().await;
            self.record(outcome, &mut reported);
        }
        tracing::debug!(
            pushes = reported.pushes,
            succeeded = reported.succeeded,
            failed = reported.failed,
            "reporter stopped"
        );
        reported
    }

    async fn push_once(&self) -> Result<Pushed, PushError> {
        match self.method {
            PushMethod::Put => self.pusher.put().await,
            _ => self.pusher.push().await,
        }
    }

    fn record(&self, outcome: Result<Pushed, PushError>, reported: &mut Reported) {
        let url = self.pusher.url();
        match outcome {
            Ok(pushed) => {
                reported.succeeded += 1;
                if pushed.status.is_some() {
                    tracing::info!(
                        %url,
                        families = pushed.families,
                        bytes = pushed.bytes,
                        attempts = pushed.attempts,
                        "reported metrics"
                    );
                } else {
                    tracing::info!(%url, families = 0, "no metrics to report");
                }
            }
            Err(error) => {
                reported.failed += 1;
                tracing::warn!(%url, %error, "reporting metrics failed");
            }
        }
    }

    /// Runs the reporter on a task of its own (see [`run`](Reporter::run)),
    /// whose handle gives the [`Reported`] when it stops. Aborting the
    /// handle drops the reporter, and any push in flight.
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn<S>(self, shutdown: S) -> JoinHandle<Reported>
    where
        G: 'static,
        C: Send + Sync + 'static,
        C::Future: Send,
        B: Send + 'static,
        S: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(self.run(shutdown))
    }
}

#[cfg(test)]
mod tests;
