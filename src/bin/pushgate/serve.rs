//! `pushgate serve`: the push gateway as a standalone server.

use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use clap::Args;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use pushgate::gateway::metrics::RegistryService;
use pushgate::gateway::{GatewayBody, PushGateway};
use pushgate::matcher::Matcher;
use pushgate::server::{Server, Shutdown};
use pushgate::store::{BoxStore, Encoder, StoreService, SyncPolicy};
use pushgate::Format;
use tower::Service;

mod pushgateway;

use crate::common::{init_logging, parse_duration, parse_size};
use crate::stores::{parse_sync, FileOptions, RemoteArgs, StoreKind, Stores};

/// Options of `pushgate serve`. Each can also be set through the
/// environment variable named in its help.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct ServeArgs {
    /// Address to listen on, as HOST:PORT.
    ///
    /// Port 0 takes any free port; the address taken is logged. HTTP/1.1
    /// and HTTP/2 (prior knowledge) are both served there.
    #[arg(
        long,
        env = "PUSHGATE_LISTEN",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9091"
    )]
    listen: String,

    /// Where accepted pushes go (repeatable) [default: file:./pushgate-data].
    ///
    /// `file:DIR` appends each push to a durable log in DIR (created if
    /// missing; synced before the 202 as --sync says; read it with
    /// `pushgate dump DIR`), encoded as --format says, delimited protobuf
    /// unless --format names another. `log` logs each push at info level
    /// (target pushgate::store, to stderr), encoded as --format says;
    /// `memory` keeps every push in memory, decoded (it grows without
    /// bound: for benchmarks), `memory:N` only the last N.
    ///
    /// `remote-write:URL` sends each push to a Prometheus remote write
    /// receiver (Prometheus with --web.enable-remote-write-receiver at
    /// /api/v1/write, VictoriaMetrics, Mimir, Thanos Receive), one request
    /// at a time in batches; the 202 comes once the remote accepted it
    /// (--remote-write-bearer-token, --remote-write-basic-auth,
    /// --remote-write-header).
    ///
    /// `influxdb:URL?db=DB[&rp=RP]` writes each push to InfluxDB 1.x's
    /// /write (--influx-username, --influx-password), and
    /// `influxdb:URL?org=ORG&bucket=BUCKET` to InfluxDB 2.x's /api/v2/write
    /// (--influx-token), in line protocol; the 202 comes once InfluxDB has
    /// the points.
    ///
    /// Given more than once, each push goes to every store and gets its
    /// 202 only when all have it (a store that refuses makes the push
    /// fail, though the others keep it). With --wal, pushes are
    /// acknowledged once in the log and forwarded to these stores instead.
    /// The environment variable gives one store.
    #[arg(long = "store", env = "PUSHGATE_STORE", value_name = "STORE")]
    stores: Vec<StoreKind>,

    /// Acknowledge pushes once they are in a file store in DIR, and
    /// forward them from there to each --store in the background.
    ///
    /// A write-ahead log in front of remote stores: the 202 comes at the
    /// speed of the disk, and a store that is down gets everything once it
    /// is back, across restarts. Each store's position is kept in
    /// DIR/forward-<store>.position; a new store starts at the end of the
    /// log. Retention never deletes what a store has not got yet.
    #[arg(long, env = "PUSHGATE_WAL", value_name = "DIR")]
    wal: Option<PathBuf>,

    /// When the file stores sync to disk: always, never or an interval.
    ///
    /// always (the default) syncs before each 202, one sync per batch of
    /// concurrent pushes. An interval such as 100ms acknowledges once
    /// written and syncs at most that long after; a power loss loses up to
    /// that much. never leaves syncing to the OS (segments are still synced
    /// when closed); a power loss loses what the OS had not written.
    #[arg(long, env = "PUSHGATE_SYNC", value_name = "POLICY", default_value = "always", value_parser = parse_sync)]
    sync: SyncPolicy,

    /// Size at which file stores start a new segment file, as in 64MiB.
    #[arg(long, env = "PUSHGATE_SEGMENT_SIZE", value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    segment_size: u64,

    /// Delete the oldest segments of file stores while they hold more than
    /// this, as in 10GiB [default: keep everything].
    ///
    /// Whole segments go, never the one being written, and never records a
    /// --wal store has not got yet.
    #[arg(long, env = "PUSHGATE_RETENTION_SIZE", value_name = "SIZE", value_parser = parse_size)]
    retention_size: Option<u64>,

    /// Delete segments of file stores older than this, as in 7d [default:
    /// keep everything].
    #[arg(long, env = "PUSHGATE_RETENTION_AGE", value_name = "DURATION", value_parser = parse_duration)]
    retention_age: Option<Duration>,

    /// Format the log and file stores write pushes in: text, protobuf,
    /// openmetrics, json, line or inbound [default: text for log, protobuf
    /// for file].
    ///
    /// text is Prometheus text 0.0.4, protobuf length-delimited
    /// io.prometheus.client.MetricFamily messages, line InfluxDB line
    /// protocol, and inbound the format each push arrived in. The memory
    /// store keeps pushes decoded and ignores it.
    #[arg(long, env = "PUSHGATE_FORMAT", value_name = "FORMAT", value_parser = parse_encoder)]
    format: Option<Encoder>,

    /// Largest request body accepted, in bytes.
    ///
    /// Applies to the body as sent and after decompression; a larger push
    /// gets 413.
    #[arg(long, env = "PUSHGATE_MAX_BYTES", value_name = "N", default_value_t = pushgate::DEFAULT_MAX_BYTES)]
    max_bytes: usize,

    /// How long a push may take, as a number and a unit: 500ms, 10s, 2m, 1h.
    ///
    /// From the request to the store's answer: a body not in by then gets
    /// 408, a store too slow 504. On shutdown, pushes in flight get this and
    /// one second more to finish.
    #[arg(long, env = "PUSHGATE_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,

    /// Keep only this metric family of each push (repeatable).
    ///
    /// Families not named are dropped. Repeat the option for more; in the
    /// environment, separate names with commas. Default: keep every family.
    /// Either way each metric is stamped with the time it was received.
    #[arg(long = "family", env = "PUSHGATE_FAMILIES", value_name = "NAME", value_delimiter = ',', value_parser = parse_family)]
    families: Vec<String>,

    /// URL that GET and HEAD requests to push paths are redirected to (303).
    ///
    /// For a page that says what is collected. Default: none; such requests
    /// get 405.
    #[arg(long, env = "PUSHGATE_INFO_URL", value_name = "URL")]
    info_url: Option<Uri>,

    /// Threads of the Tokio runtime [default: the number of cores].
    ///
    /// 1 runs everything, accepting included, on one thread.
    #[arg(long, env = "PUSHGATE_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<NonZeroUsize>,

    #[command(flatten)]
    remote: RemoteArgs,

    #[command(flatten)]
    groups: GroupArgs,
}

/// What `pushgate serve` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Receive pushes and hand each to the stores (--store).
    Gateway,
    /// A drop-in Prometheus Pushgateway: keep the last push of each group
    /// for Prometheus to scrape at /metrics.
    Pushgateway,
}

/// Options of `--mode pushgateway`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Pushgateway mode (--mode pushgateway)")]
pub struct GroupArgs {
    /// gateway hands each push to the stores; pushgateway keeps the last
    /// push of each group and serves them as the Prometheus Pushgateway
    /// does (/metrics, /api/v1, /-/healthy, a status page at /).
    #[arg(long, env = "PUSHGATE_MODE", value_enum, default_value = "gateway")]
    mode: Mode,

    /// File the groups are saved to and loaded from on start ("" for none).
    ///
    /// Written atomically every --persistence-interval when something
    /// changed, and on shutdown; a crash loses at most the changes of one
    /// interval.
    #[arg(
        long,
        env = "PUSHGATE_PERSISTENCE_FILE",
        value_name = "FILE",
        default_value = "pushgate-data/groups.snapshot",
        // clap's PathBuf parser refuses "", which means none here.
        value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from)
    )]
    persistence_file: PathBuf,

    /// How often the groups are saved when they changed.
    #[arg(long, env = "PUSHGATE_PERSISTENCE_INTERVAL", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    persistence_interval: Duration,

    /// Drop a group this long after its last push, as in 1h [default:
    /// never]. A push's Pushgate-TTL header sets its own.
    #[arg(long, env = "PUSHGATE_GROUP_TTL", value_name = "DURATION", value_parser = parse_duration)]
    group_ttl: Option<Duration>,

    /// Refuse pushes (413) that would make more groups than this.
    #[arg(long, env = "PUSHGATE_MAX_GROUPS", value_name = "N")]
    max_groups: Option<usize>,

    /// Refuse pushes (413) that would make more series than this, over all
    /// groups.
    #[arg(long, env = "PUSHGATE_MAX_SERIES", value_name = "N")]
    max_series: Option<usize>,

    /// Add up pushes to the groups under this path, as
    /// /metrics/job/frontend (repeatable): counters, histograms and
    /// summaries' counts and sums are summed, gauges keep the last value.
    #[arg(long = "aggregate", env = "PUSHGATE_AGGREGATE", value_name = "PATH", value_delimiter = ',', value_parser = parse_prefix)]
    aggregate: Vec<Vec<pushgate::model::LabelPair>>,

    /// Answer PUT /api/v1/admin/wipe, which deletes every group.
    #[arg(long, env = "PUSHGATE_ENABLE_ADMIN_API")]
    enable_admin_api: bool,

    /// Answer DELETE /api/v1/groups?LABEL=VALUE&..., which deletes every
    /// group whose grouping key has those labels.
    #[arg(long, env = "PUSHGATE_ENABLE_PARTIAL_DELETE")]
    enable_partial_delete: bool,
}

fn parse_prefix(s: &str) -> Result<Vec<pushgate::model::LabelPair>, String> {
    match pushgate::grouping::parse(s.trim()) {
        Ok(Some(labels)) => Ok(labels),
        Ok(None) => Err(format!(
            "{s:?} is not a push path such as /metrics/job/frontend"
        )),
        Err(e) => Err(e.to_string()),
    }
}

const AFTER_HELP: &str = "\
Endpoints:
  POST|PUT /metrics/job/<job>{/<label>/<value>}  push (202 once stored)
  DELETE /metrics/job/<job>{/<label>/<value>}    delete (a group, in pushgateway mode)
  GET /metrics                                    the gateway's own metrics; in
                                                  pushgateway mode every group too
  GET /healthz                                    200 ok
In --mode pushgateway also, as the Prometheus Pushgateway:
  GET /                                           status page, with delete buttons
  GET /api/v1/metrics, /api/v1/status             JSON
  GET /-/healthy, /-/ready                        200 OK
  PUT /api/v1/admin/wipe                          delete every group (--enable-admin-api)
  DELETE /api/v1/groups?LABEL=VALUE&...           delete matching groups (--enable-partial-delete)
A push may carry Pushgate-TTL: 10m (pushgateway mode: drop the group if not
pushed again by then).

Logging: RUST_LOG (default: info), to stderr. SIGINT or SIGTERM stops
accepting, lets pushes in flight finish and exits 0; a second signal, or
pushes still running after the timeout and one second more, exit at once
with a non-zero status.";

fn parse_encoder(s: &str) -> Result<Encoder, String> {
    if s.eq_ignore_ascii_case("inbound") {
        return Ok(Encoder::Inbound);
    }
    Format::from_str(s).map(Encoder::Format).map_err(|_| {
        format!("expected text, protobuf, openmetrics, json, line or inbound, not {s:?}")
    })
}

fn parse_family(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        Err("a family name must not be empty".into())
    } else {
        Ok(s.to_owned())
    }
}

/// Runs `pushgate serve` to the end.
pub fn main(args: ServeArgs) -> ExitCode {
    init_logging("info");
    let threads = args
        .worker_threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pushgate serve: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(args, threads));
    // Connections still open after a forced exit are dropped here.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

type Gateway = PushGateway<StoreService<BoxStore>>;

fn gateway(args: &ServeArgs, store: BoxStore) -> Gateway {
    let mut builder = PushGateway::builder(store)
        .max_bytes(args.max_bytes)
        .timeout(args.timeout);
    if !args.families.is_empty() {
        // Receive timestamps stay on: they are added after the matcher.
        let matcher = args
            .families
            .iter()
            .fold(Matcher::new(), |m, name| m.family(name.as_str()));
        builder = builder.transformer(matcher);
    }
    if let Some(url) = &args.info_url {
        builder = builder.info_url(url.clone());
    }
    builder
        .build()
        .expect("a gateway's own registry takes its metrics")
}

async fn run(args: ServeArgs, threads: usize) -> ExitCode {
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("pushgate serve: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = check_mode(&args) {
        eprintln!("pushgate serve: {error}");
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("pushgate serve: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("pushgate serve: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let threads = format!(
        "{threads} worker thread{}",
        if threads == 1 { "" } else { "s" }
    );
    match args.groups.mode {
        Mode::Gateway => run_gateway(args, listener, addr, threads, signals).await,
        Mode::Pushgateway => pushgateway::run(&args, listener, addr, threads, &mut signals).await,
    }
}

/// Refuses options that do not apply to the mode chosen.
fn check_mode(args: &ServeArgs) -> Result<(), String> {
    if args.groups.mode == Mode::Pushgateway {
        let unused = [
            ("--store", !args.stores.is_empty()),
            ("--wal", args.wal.is_some()),
            ("--format", args.format.is_some()),
            ("--info-url", args.info_url.is_some()),
        ];
        if let Some((flag, _)) = unused.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} does not apply in --mode pushgateway, which keeps the groups itself \
                 (see --persistence-file)"
            ));
        }
    }
    Ok(())
}

async fn run_gateway(
    args: ServeArgs,
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
    threads: String,
    mut signals: Signals,
) -> ExitCode {
    let files = FileOptions {
        sync: args.sync,
        segment_size: Some(args.segment_size),
        retention_size: args.retention_size,
        retention_age: args.retention_age,
    };
    let stores = match Stores::open(
        &args.stores,
        args.wal.as_ref(),
        args.format,
        files,
        &args.remote,
    ) {
        Ok(stores) => stores,
        Err(error) => {
            eprintln!("pushgate serve: {error}");
            return ExitCode::FAILURE;
        }
    };
    let gateway = gateway(&args, stores.store.clone());
    let families = if args.families.is_empty() {
        "all".to_owned()
    } else {
        args.families.join(",")
    };
    tracing::info!(
        target: "pushgate::serve",
        "listening on http://{addr} (store {}, families {families}, \
         max {} bytes, timeout {:?}, {threads})",
        stores.description,
        args.max_bytes,
        args.timeout,
    );
    let routes = Routes {
        metrics: gateway.registry_service(),
        gateway,
    };
    let code = serve(listener, routes, args.timeout, &mut signals).await;
    if code != ExitCode::SUCCESS {
        return code;
    }
    // Forwarders write their positions, file stores sync and close.
    tokio::select! {
        () = stores.shutdown() => {}
        signal = signals.recv() => {
            tracing::warn!(target: "pushgate::serve", "second {signal}: exiting now");
            return ExitCode::from(130);
        }
    }
    tracing::info!(target: "pushgate::serve", "stopped");
    code
}

/// Serves `service` until a signal, then drains: the pushes in flight get
/// `timeout` and one second more. `SUCCESS` when all finished.
pub(crate) async fn serve<S>(
    listener: tokio::net::TcpListener,
    service: S,
    timeout: Duration,
    signals: &mut Signals,
) -> ExitCode
where
    S: Service<Request<Incoming>, Response = Response<GatewayBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let drain = timeout + Duration::from_secs(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::new(listener, service).drain_timeout(drain);
    let mut server = pin!(server.run(async {
        let _ = stopped.await;
    }));
    let signal = tokio::select! {
        shutdown = &mut server => {
            // Only a shutdown signal ends the server; it cannot come first.
            tracing::error!(target: "pushgate::serve", ?shutdown, "server stopped unasked");
            return ExitCode::FAILURE;
        }
        signal = signals.recv() => signal,
    };
    tracing::info!(
        target: "pushgate::serve",
        "{signal}: no longer accepting; finishing pushes in flight (at most {drain:?}; \
         a second signal exits at once)"
    );
    let _ = stop.send(());
    tokio::select! {
        shutdown = &mut server => match shutdown {
            Shutdown::Drained => ExitCode::SUCCESS,
            Shutdown::TimedOut { open } => {
                tracing::warn!(
                    target: "pushgate::serve",
                    "{open} connection(s) still open after {drain:?}; exiting"
                );
                ExitCode::FAILURE
            }
            _ => ExitCode::FAILURE,
        },
        signal = signals.recv() => {
            tracing::warn!(target: "pushgate::serve", "second {signal}: exiting now");
            ExitCode::from(130)
        }
    }
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), registered once so that none is
/// missed between two waits.
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    /// The next signal's name.
    #[cfg(unix)]
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    pub(crate) async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// `GET /metrics` and `GET /healthz` here, everything else to the gateway.
#[derive(Clone)]
struct Routes {
    gateway: Gateway,
    metrics: RegistryService,
}

type GatewayFuture = <Gateway as Service<Request<Incoming>>>::Future;
type MetricsFuture = <RegistryService as Service<Request<Incoming>>>::Future;

impl Service<Request<Incoming>> for Routes {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The registry service is always ready; the gateway is as ready as
        // its store.
        Service::<Request<Incoming>>::poll_ready(&mut self.gateway, cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let read = req.method() == Method::GET || req.method() == Method::HEAD;
        match req.uri().path() {
            "/metrics" if read => RouteFuture::Metrics {
                future: self.metrics.call(req),
            },
            "/healthz" if read => RouteFuture::Here {
                response: Some(text(StatusCode::OK, "ok\n".into())),
            },
            _ => RouteFuture::Gateway {
                future: self.gateway.call(req),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Routes`]: made here, or the gateway's.
    #[project = RouteProj]
    enum RouteFuture {
        Here { response: Option<Response<GatewayBody>> },
        Metrics { #[pin] future: MetricsFuture },
        Gateway { #[pin] future: GatewayFuture },
    }
}

impl Future for RouteFuture {
    type Output = Result<Response<GatewayBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RouteProj::Here { response } => Poll::Ready(Ok(response
                .take()
                .expect("RouteFuture polled after completion"))),
            RouteProj::Metrics { future } => future.poll(cx),
            RouteProj::Gateway { future } => future.poll(cx),
        }
    }
}

pub(crate) fn text(status: StatusCode, body: String) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders() {
        assert_eq!(parse_encoder("inbound"), Ok(Encoder::Inbound));
        assert_eq!(
            parse_encoder("line"),
            Ok(Encoder::Format(Format::LineProtocol))
        );
        assert_eq!(
            parse_encoder("protobuf"),
            Ok(Encoder::Format(Format::Protobuf))
        );
        assert!(parse_encoder("xml").is_err());
        for name in ["text", "protobuf", "openmetrics", "json", "line", "inbound"] {
            assert_eq!(parse_encoder(name).unwrap().to_string(), name);
        }
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Cli::command().debug_assert();
    }
}
