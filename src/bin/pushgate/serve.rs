//! `pushgate serve`: the push gateway as a standalone server.

use std::convert::Infallible;
use std::fmt;
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
use pushgate::store::{BoxStore, Encoded, Encoder, FileStore, LogStore, MemoryStore, StoreService};
use pushgate::Format;
use tower::Service;

use crate::common::{init_logging, parse_duration};

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

    /// Where accepted pushes go: file:DIR, log, memory or memory:N.
    ///
    /// `file:DIR` appends each push to a durable log in DIR (created if
    /// missing; fsynced before the 202; read it with `pushgate dump DIR`),
    /// encoded as --format says, delimited protobuf unless --format names
    /// another. `log` logs each push at info level (target pushgate::store, to
    /// stderr), encoded as --format says; `memory` keeps every push in
    /// memory, decoded (it grows without bound: for benchmarks), `memory:N`
    /// only the last N.
    #[arg(
        long,
        env = "PUSHGATE_STORE",
        value_name = "STORE",
        default_value = "file:./pushgate-data"
    )]
    store: StoreKind,

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
}

const AFTER_HELP: &str = "\
Endpoints:
  POST|PUT /metrics/job/<job>{/<label>/<value>}  push (202 once stored)
  GET /metrics                                    the gateway's own metrics
  GET /healthz                                    200 ok

Logging: RUST_LOG (default: info), to stderr. SIGINT or SIGTERM stops
accepting, lets pushes in flight finish and exits 0; a second signal, or
pushes still running after the timeout and one second more, exit at once
with a non-zero status.";

/// The store named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
enum StoreKind {
    Log,
    Memory(Option<usize>),
    File(PathBuf),
}

impl FromStr for StoreKind {
    type Err = String;

    fn from_str(s: &str) -> Result<StoreKind, String> {
        match s {
            "log" => Ok(StoreKind::Log),
            "memory" => Ok(StoreKind::Memory(None)),
            _ => {
                if let Some(n) = s.strip_prefix("memory:") {
                    n.parse().map(|n| StoreKind::Memory(Some(n))).map_err(|_| {
                        format!("memory:N needs a number of pushes to keep, not {n:?}")
                    })
                } else if let Some(dir) = s.strip_prefix("file:") {
                    if dir.is_empty() {
                        Err("file:DIR needs a directory".into())
                    } else {
                        Ok(StoreKind::File(dir.into()))
                    }
                } else {
                    Err(format!(
                        "expected log, memory, memory:N or file:DIR, not {s:?}"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreKind::Log => f.write_str("log"),
            StoreKind::Memory(None) => f.write_str("memory"),
            StoreKind::Memory(Some(n)) => write!(f, "memory:{n}"),
            StoreKind::File(dir) => write!(f, "file:{}", dir.display()),
        }
    }
}

impl StoreKind {
    /// The store; `format` is the encoder given on the command line, if any.
    fn open(&self, format: Option<Encoder>) -> Result<BoxStore, String> {
        Ok(match self {
            StoreKind::Log => {
                BoxStore::new(Encoded::new(LogStore::new(), format.unwrap_or_default()))
            }
            StoreKind::File(dir) => {
                let mut builder = FileStore::builder(dir.clone());
                if let Some(encoder) = format {
                    builder = builder.encoder(encoder);
                }
                let store = builder
                    .open()
                    .map_err(|e| format!("cannot open the file store in {}: {e}", dir.display()))?;
                BoxStore::new(store)
            }
            StoreKind::Memory(None) => BoxStore::new(MemoryStore::new()),
            StoreKind::Memory(Some(n)) => BoxStore::new(MemoryStore::with_capacity_limit(*n)),
        })
    }
}

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

fn gateway(args: &ServeArgs) -> Result<Gateway, String> {
    let mut builder = PushGateway::builder(args.store.open(args.format)?)
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
    Ok(builder
        .build()
        .expect("a gateway's own registry takes its metrics"))
}

async fn run(args: ServeArgs, threads: usize) -> ExitCode {
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("pushgate serve: cannot listen for signals: {error}");
            return ExitCode::FAILURE;
        }
    };
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
    let gateway = match gateway(&args) {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("pushgate serve: {error}");
            return ExitCode::FAILURE;
        }
    };
    let families = if args.families.is_empty() {
        "all".to_owned()
    } else {
        args.families.join(",")
    };
    tracing::info!(
        target: "pushgate::serve",
        "listening on http://{addr} (store {}, families {families}, \
         max {} bytes, timeout {:?}, {threads} worker thread{})",
        match args.store {
            StoreKind::Log => format!("log as {}", args.format.unwrap_or_default()),
            memory => memory.to_string(),
        },
        args.max_bytes,
        args.timeout,
        if threads == 1 { "" } else { "s" },
    );
    let drain = args.timeout + Duration::from_secs(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let routes = Routes {
        metrics: gateway.registry_service(),
        gateway,
    };
    let server = Server::new(listener, routes).drain_timeout(drain);
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
            Shutdown::Drained => {
                tracing::info!(target: "pushgate::serve", "stopped");
                ExitCode::SUCCESS
            }
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
struct Signals {
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
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> &'static str {
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

fn text(status: StatusCode, body: String) -> Response<GatewayBody> {
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
    fn stores() {
        assert_eq!("log".parse(), Ok(StoreKind::Log));
        assert_eq!("memory".parse(), Ok(StoreKind::Memory(None)));
        assert_eq!("memory:5".parse(), Ok(StoreKind::Memory(Some(5))));
        assert!("memory:x".parse::<StoreKind>().is_err());
        assert!("disk".parse::<StoreKind>().is_err());
        assert_eq!("file:./data".parse(), Ok(StoreKind::File("./data".into())));
        assert!("file:".parse::<StoreKind>().is_err());
        assert_eq!(StoreKind::File("d".into()).to_string(), "file:d");
        assert_eq!(StoreKind::Memory(Some(5)).to_string(), "memory:5");
    }

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
