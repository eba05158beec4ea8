//! End-to-end push load: pushgate, the Prometheus Pushgateway and a bare
//! HTTP server side by side, same payloads, same load, each server pinned
//! to one core. `BENCHMARKS.md` shows a run and how to read it.
//!
//! Run: `cargo bench --bench e2e` (builds the `pushgate` binary too; a plain
//! `target/release/pushgate` from `cargo build --release` is used as well).
//! Scenarios can be filtered by substring of
//! `server/size/format/conns/groups[/storedN]`, e.g. `cargo bench --bench e2e
//! -- pushgateway/medium/text` or `-- stored`.
//!
//! Five servers:
//! - `pushgateway`: Debian's Prometheus Pushgateway;
//! - `pushgate`: `pushgate serve` in gateway mode handing each push to a
//!   memory store (`$E2E_PUSHGATE_STORE`, `memory:1`: it keeps only the
//!   last push, so that its rows are the gateway's own cost, not a store's
//!   memory);
//! - `pushgate-file`: `pushgate serve --store file:DIR --sync always`, the
//!   durable log, synced before each 202, in a fresh directory under
//!   `target/` per scenario (on the crate's disk, not a tmpfs), removed after;
//! - `pushgate-pgw`: `pushgate serve --mode pushgateway --persistence-file
//!   ""`, the drop-in Pushgateway without persistence;
//! - `ceiling` (`support/ceiling.rs`): a bare hyper HTTP/1.1 server that
//!   reads each body to its end and answers 202, parsing nothing: the most
//!   any server can do with this load here. It is this bench binary again,
//!   started with `E2E_CEILING_SERVE=ADDR`, so that it is a process of its
//!   own, pinned and measured like the others.
//!
//! For each payload size, format (protobuf, text) and connection count (1,
//! 32), each server is started fresh on a free loopback port, pinned with
//! `taskset -c $E2E_SERVER_CPU` (default 1) — the Pushgateway with
//! `GOMAXPROCS=1`, pushgate with one worker thread (`PUSHGATE_WORKER_THREADS=1`,
//! `--worker-threads` from the environment), the ceiling on one
//! current-thread runtime — and stopped (killed) afterwards, its peak RSS
//! (`VmHWM`) read just before. The load generator (`support/load.rs`) pins
//! itself to `$E2E_CLIENT_CPU` (default 0) on a single-threaded tokio
//! runtime. Each connection POSTs the payload back to back, to its own group
//! `/metrics/job/bench/conn/c<k>` (32 groups, as 32 independent pushers), then
//! again with all connections on one group `/metrics/job/bench`: the
//! Pushgateway's cost per push grows with what it already holds, so the two
//! differ by an order of magnitude for it.
//!
//! The same again "with 1,000 groups already stored" (`storedN` in the
//! name), for the two servers that keep groups (`pushgateway`,
//! `pushgate-pgw`): before the load, N small groups (`support/payload.rs`'s
//! `group`: three families, 10 series) are PUT to
//! `/metrics/job/preload/instance/i<k>` by a few connections, each answer
//! checked for 2xx, and the load then runs as above. Side by side with the
//! empty run it shows whether push/s falls with what is stored: the
//! Pushgateway checks every push against a gathering of everything it
//! holds; pushgate's check is incremental, so it should not. The other
//! kinds have no groups to preload and skip these.
//!
//! After the first `storedN` run of each server, size, connection count and
//! grouping (the push format does not change what is stored), the store —
//! the N groups and the load's — is scraped: `GET /metrics` as text (no
//! `Accept`) and as delimited protobuf (`Accept` as Prometheus sends it),
//! `$E2E_SCRAPES` times each, one after another on one connection,
//! reporting p50/p99 and the body's size. Twice: back to back (`cached`:
//! pushgate serves an unchanged store from its cached exposition, after
//! one untimed scrape to fill it), and each right after a small PUT to
//! group `i0` (`after push`: the store changed, only the scrape is timed).
//! The Pushgateway has no such cache and gathers on every scrape.
//!
//! The summary has a row per server and scenario: push/s, p99, wait, peak
//! RSS, and push/s over the Pushgateway's and over the ceiling's (same
//! size, format, conns and groups; the ceiling's empty run for `storedN`),
//! the file store's over the memory store's, p99 and push per server
//! CPU-second over the Pushgateway's. Then stored/empty and the scrapes.
//!
//! Environment:
//! - `E2E_SECS` (10) measured seconds, `E2E_WARMUP_SECS` (1) before them
//! - `E2E_CONNS` (`1,32`), `E2E_FORMATS` (`protobuf,text`)
//! - `E2E_SIZE` (`medium`): a list of `small`, `medium`, `large`
//! - `E2E_GROUPS` (`conn,shared`): `conn` gives connection k its own group
//!   `/metrics/job/bench/conn/c<k>`; `shared` sends every push to the one
//!   group `/metrics/job/bench` (skipped at 1 connection, the same as `conn`)
//! - `E2E_PRELOAD_GROUPS` (1000) groups stored before the `storedN` runs; 0
//!   for none (no `storedN` runs, no scrapes)
//! - `E2E_STORED_SIZES` (every size of `E2E_SIZE`): the sizes that also run
//!   `storedN`, e.g. `medium` to keep a many-size run short
//! - `E2E_SCRAPES` (20) scrapes per format and state; 0 for none
//! - `E2E_SERVERS` (`pushgateway,pushgate,pushgate-file,pushgate-pgw,ceiling`)
//! - `E2E_PUSHGATEWAY` (`/usr/bin/prometheus-pushgateway`)
//! - `E2E_PUSHGATE` (the `pushgate` built beside this bench),
//!   `E2E_PUSHGATE_STORE` (`memory:1`, the `pushgate` kind's store),
//!   `E2E_PUSHGATE_ARGS` (extra arguments to `pushgate serve`, all three
//!   pushgate kinds, split on whitespace)
//! - `E2E_SERVER_CPU` (1), `E2E_CLIENT_CPU` (0); `none` to leave unpinned
//! - `E2E_WRITE` (unset): a path prefix; the bench then writes
//!   `PREFIX.md`, a Markdown fragment (date, machine, command, the results
//!   table with ratios and peak RSS, the stored and scrape tables), and
//!   `PREFIX.svg`, a chart of push/s per scenario and server (log scale).
//!   `BENCHMARKS.md` is made of them.
//! - `E2E_CEILING_SERVE` (internal): set by the bench on the ceiling's
//!   process, which then serves on that address and does nothing else
//!
//! This is a benchmark: it reports, it asserts nothing about time. A run with
//! failed pushes (load, preload or the PUTs between scrapes) or failed
//! scrapes says so and its numbers are marked.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use pushgate::{codec, Format};

#[path = "support/ceiling.rs"]
mod ceiling;
#[path = "support/load.rs"]
mod load;
#[path = "support/page.rs"]
mod page;
#[path = "support/payload.rs"]
mod payload;

const PUSHGATE_READY: Duration = Duration::from_secs(5);
const PUSHGATEWAY_READY: Duration = Duration::from_secs(15);
/// Bound on one push, of the load or not.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one scrape: the Pushgateway gathers tens of MB for one.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections that PUT the preload groups: enough to keep a one-core
/// server busy between answers, few enough not to be a load of their own.
const PRELOAD_CONNS: usize = 4;
/// The `Accept` of a Prometheus that wants delimited protobuf.
const PROTOBUF_ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pushgateway,
    /// `pushgate serve --store memory:1` (or `$E2E_PUSHGATE_STORE`).
    Pushgate,
    /// `pushgate serve --store file:DIR --sync always`.
    PushgateFile,
    /// `pushgate serve --mode pushgateway`.
    PushgatePgw,
    /// `support/ceiling.rs`: reads the body, answers 202, nothing else.
    Ceiling,
}

/// Every kind, in the order the tables and the chart show them: the
/// Pushgateway first, the ceiling last, pushgate's between.
const KINDS: [Kind; 5] = [
    Kind::Pushgateway,
    Kind::Pushgate,
    Kind::PushgateFile,
    Kind::PushgatePgw,
    Kind::Ceiling,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pushgateway => "pushgateway",
            Kind::Pushgate => "pushgate",
            Kind::PushgateFile => "pushgate-file",
            Kind::PushgatePgw => "pushgate-pgw",
            Kind::Ceiling => "ceiling",
        }
    }

    fn parse(name: &str) -> Option<Kind> {
        KINDS.into_iter().find(|k| k.name() == name)
    }

    fn health_path(self) -> &'static str {
        match self {
            Kind::Pushgateway | Kind::PushgatePgw => "/-/healthy",
            Kind::Pushgate | Kind::PushgateFile => "/healthz",
            Kind::Ceiling => "/",
        }
    }

    /// Whether it keeps the last push of each group, so that groups can be
    /// stored before the load and scraped after it.
    fn keeps_groups(self) -> bool {
        matches!(self, Kind::Pushgateway | Kind::PushgatePgw)
    }

    fn ready_within(self) -> Duration {
        match self {
            Kind::Pushgateway => PUSHGATEWAY_READY,
            _ => PUSHGATE_READY,
        }
    }

    /// The bar colour in the chart: pushgate's kinds in blues and purple,
    /// the Pushgateway in orange, the ceiling in grey.
    fn color(self) -> &'static str {
        match self {
            Kind::Pushgateway => "#e8710a",
            Kind::Pushgate => "#1a73e8",
            Kind::PushgateFile => "#12a4af",
            Kind::PushgatePgw => "#7b3fc4",
            Kind::Ceiling => "#9aa0a6",
        }
    }
}

struct Config {
    secs: Duration,
    warmup: Duration,
    conns: Vec<usize>,
    groups: Vec<Groups>,
    formats: Vec<Format>,
    sizes: Vec<payload::Size>,
    /// The sizes that also run `storedN` (names).
    stored_sizes: Vec<String>,
    servers: Vec<Kind>,
    preload_groups: usize,
    scrapes: usize,
    pushgateway: PathBuf,
    pushgate: PathBuf,
    pushgate_store: String,
    pushgate_args: Vec<String>,
    /// This bench binary, run again as the ceiling server.
    ceiling: PathBuf,
    server_cpu: Option<String>,
    client_cpu: Option<String>,
    filters: Vec<String>,
    /// `target/`: the logs and the file stores' directories go under it,
    /// on the disk the crate is on (not a tmpfs `/tmp`, whose fsync is free).
    scratch: PathBuf,
    logs: PathBuf,
    /// `$E2E_WRITE`: where the page's `.md` fragment and `.svg` chart go.
    write: Option<PathBuf>,
    /// Read before the bench pins itself to one core.
    machine: page::Machine,
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn secs(key: &str, default: &str) -> Duration {
    let v = env_or(key, default);
    Duration::from_secs_f64(
        v.parse()
            .unwrap_or_else(|_| panic!("{key}={v:?}: expected seconds")),
    )
}

fn count(key: &str, default: &str) -> usize {
    let v = env_or(key, default);
    v.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key}={v:?}: expected a whole number"))
}

/// `key` as a list of payload sizes by name.
fn sizes(key: &str, default: &str) -> Vec<payload::Size> {
    env_or(key, default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            payload::SIZES
                .into_iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{key}: unknown size {name:?}: small, medium or large"))
        })
        .collect()
}

fn cpu(key: &str, default: &str) -> Option<String> {
    Some(env_or(key, default)).filter(|v| v != "none" && !v.is_empty())
}

/// `target/<profile>/`, from this bench's `target/<profile>/deps/e2e-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("bench runs from target/<profile>/deps")
        .to_owned()
}

impl Config {
    fn from_env() -> Config {
        let list = |key: &str, default: &str| -> Vec<String> {
            env_or(key, default)
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let sizes = sizes("E2E_SIZE", "medium");
        let all: Vec<&str> = sizes.iter().map(|s| s.name).collect();
        let stored_sizes = list("E2E_STORED_SIZES", &all.join(","));
        // Cargo sets CARGO_BIN_EXE_<name> for benches as for integration tests
        // (and builds the binary first); fall back on the profile directory.
        let pushgate = std::env::var_os("E2E_PUSHGATE")
            .map(PathBuf::from)
            .or_else(|| option_env!("CARGO_BIN_EXE_pushgate").map(PathBuf::from))
            .unwrap_or_else(|| profile_dir().join("pushgate"));
        let scratch = profile_dir()
            .parent()
            .map_or_else(std::env::temp_dir, Path::to_owned);
        Config {
            secs: secs("E2E_SECS", "10"),
            warmup: secs("E2E_WARMUP_SECS", "1"),
            conns: list("E2E_CONNS", "1,32")
                .iter()
                .map(|c| c.parse().expect("E2E_CONNS: numbers"))
                .collect(),
            groups: list("E2E_GROUPS", "conn,shared")
                .iter()
                .map(|g| match g.as_str() {
                    "conn" => Groups::PerConnection,
                    "shared" => Groups::Shared,
                    other => panic!("E2E_GROUPS: unknown {other:?}: conn or shared"),
                })
                .collect(),
            formats: list("E2E_FORMATS", "protobuf,text")
                .iter()
                .map(|f| f.parse().expect("E2E_FORMATS: format names"))
                .collect(),
            sizes,
            stored_sizes,
            servers: list("E2E_SERVERS", &KINDS.map(Kind::name).join(","))
                .iter()
                .map(|s| {
                    Kind::parse(s).unwrap_or_else(|| {
                        panic!(
                            "E2E_SERVERS: unknown server {s:?}: {}",
                            KINDS.map(Kind::name).join(", ")
                        )
                    })
                })
                .collect(),
            preload_groups: count("E2E_PRELOAD_GROUPS", "1000"),
            scrapes: count("E2E_SCRAPES", "20"),
            pushgateway: env_or("E2E_PUSHGATEWAY", "/usr/bin/prometheus-pushgateway").into(),
            pushgate,
            pushgate_store: env_or("E2E_PUSHGATE_STORE", "memory:1"),
            pushgate_args: env_or("E2E_PUSHGATE_ARGS", "")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            ceiling: std::env::current_exe().expect("current exe"),
            server_cpu: cpu("E2E_SERVER_CPU", "1"),
            client_cpu: cpu("E2E_CLIENT_CPU", "0"),
            // `cargo bench` passes `--bench`; other arguments filter scenarios.
            filters: std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect(),
            logs: scratch.join("e2e-logs"),
            scratch,
            write: std::env::var_os("E2E_WRITE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            machine: page::Machine::detect(),
        }
    }

    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// The preloads the cases of payload `size` run with: empty, then
    /// stored unless there are no groups to store or not for this size.
    fn preloads(&self, size: &str) -> Vec<usize> {
        if self.preload_groups == 0 || !self.stored_sizes.iter().any(|s| s == size) {
            vec![0]
        } else {
            vec![0, self.preload_groups]
        }
    }
}

/// A free loopback port (bound and released; the server binds it next).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
}

/// `program args`, with empty arguments shown as `""`.
fn command_line(program: &Path, args: &[String]) -> String {
    let mut line = program.display().to_string();
    for arg in args {
        line.push(' ');
        line.push_str(if arg.is_empty() { "\"\"" } else { arg });
    }
    line
}

/// A running server; killed and reaped on drop.
struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    /// The file store's directory, removed on drop after the server is
    /// killed (fields drop after `Drop::drop`).
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n    ")
    }

    /// Why the server is no longer running, if it is not.
    fn exited(&mut self, when: &str) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!(
                "{} exited {when} ({status}):\n    {}",
                self.kind.name(),
                self.log_tail()
            )),
            _ => Ok(()),
        }
    }

    /// The program, arguments and environment that run `kind` on `addr`
    /// (`dir`: the file store's directory, for `pushgate-file`).
    fn command<'c>(
        kind: Kind,
        cfg: &'c Config,
        addr: SocketAddr,
        dir: Option<&Path>,
    ) -> (&'c Path, Vec<String>, [(&'static str, String); 1]) {
        let serve = |store: &[String]| {
            let mut args = vec!["serve".into(), "--listen".into(), addr.to_string()];
            args.extend(store.iter().cloned());
            args.extend(cfg.pushgate_args.iter().cloned());
            // `serve` sizes its runtime itself (the cores it may use, or
            // --worker-threads): TOKIO_WORKER_THREADS would be ignored.
            // The environment form lets E2E_PUSHGATE_ARGS override it.
            (
                cfg.pushgate.as_path(),
                args,
                [("PUSHGATE_WORKER_THREADS", "1".to_owned())],
            )
        };
        match kind {
            Kind::Pushgateway => (
                &cfg.pushgateway,
                vec![
                    format!("--web.listen-address={addr}"),
                    // Without it the Debian build loads and saves /var/lib state.
                    "--persistence.file=".into(),
                ],
                [("GOMAXPROCS", "1".to_owned())],
            ),
            Kind::Pushgate => serve(&["--store".into(), cfg.pushgate_store.clone()]),
            Kind::PushgateFile => serve(&[
                "--store".into(),
                format!("file:{}", dir.unwrap_or(Path::new(".")).display()),
                "--sync".into(),
                "always".into(),
            ]),
            // No snapshot file: nothing loaded, nothing saved.
            Kind::PushgatePgw => {
                serve(&["--mode", "pushgateway", "--persistence-file", ""].map(String::from))
            }
            Kind::Ceiling => (
                &cfg.ceiling,
                Vec::new(),
                [(ceiling::SERVE_ENV, addr.to_string())],
            ),
        }
    }

    /// A fresh directory for the file store under `target/`, or `None` for
    /// the other kinds.
    fn store_dir(kind: Kind, cfg: &Config) -> Result<Option<tempfile::TempDir>, String> {
        if kind != Kind::PushgateFile {
            return Ok(None);
        }
        tempfile::Builder::new()
            .prefix("e2e-file-store-")
            .tempdir_in(&cfg.scratch)
            .map(Some)
            .map_err(|e| format!("a directory in {}: {e}", cfg.scratch.display()))
    }

    /// Starts `kind` pinned to the server core and waits until it is healthy.
    async fn start(kind: Kind, cfg: &Config) -> Result<Server, String> {
        let addr = free_addr();
        let dir = Server::store_dir(kind, cfg)?;
        let (program, args, env) =
            Server::command(kind, cfg, addr, dir.as_ref().map(tempfile::TempDir::path));
        if !program.exists() {
            return Err(format!("{} not found", program.display()));
        }
        std::fs::create_dir_all(&cfg.logs).map_err(|e| format!("{}: {e}", cfg.logs.display()))?;
        let log = cfg
            .logs
            .join(format!("{}-{}.log", kind.name(), addr.port()));
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = match &cfg.server_cpu {
            // taskset execs the server: the child's pid is the server's.
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu).arg(program);
                c
            }
            None => Command::new(program),
        };
        command
            .args(&args)
            .envs(env)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", program.display()))?;
        let mut server = Server {
            kind,
            child,
            addr,
            log,
            _dir: dir,
        };
        let limit = kind.ready_within();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "`{}` exited ({status}):\n    {}",
                    command_line(program, &args),
                    server.log_tail()
                ));
            }
            let last =
                match load::get_status(addr, kind.health_path(), Duration::from_secs(1)).await {
                    Ok(200) => return Ok(server),
                    Ok(status) => format!("GET {} answered {status}", kind.health_path()),
                    Err(e) => e,
                };
            if Instant::now() >= deadline {
                return Err(format!(
                    "`{}` not healthy within {limit:?} ({last}):\n    {}",
                    command_line(program, &args),
                    server.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// CPU time of a process (exited threads included) and run-queue wait of its
/// live threads.
#[derive(Clone, Copy, Default)]
struct Sched {
    cpu_ns: u64,
    wait_ns: u64,
}

/// `USER_HZ`, the unit of `/proc/<pid>/stat` times: 100 on every Linux ABI
/// this runs on.
const TICK_NS: u64 = 10_000_000;

fn sched(pid: &str) -> Sched {
    let mut total = Sched::default();
    // utime and stime, fields 14 and 15, count the threads that have exited.
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            total.cpu_ns = fields.iter().sum::<u64>() * TICK_NS;
        }
    }
    // Time runnable but not running: another process had the core.
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
            let wait = text.split_whitespace().nth(1).and_then(|f| f.parse().ok());
            total.wait_ns += wait.unwrap_or(0);
        }
    }
    total
}

/// Server and generator CPU over the window, as fractions of one core.
#[derive(Clone, Copy, Default)]
struct Usage {
    server_cpu: f64,
    server_wait: f64,
    client_cpu: f64,
}

async fn probe(pid: u32, from: Instant, until: Instant) -> Usage {
    let pid = pid.to_string();
    tokio::time::sleep_until(from.into()).await;
    let (s0, c0) = (sched(&pid), sched("self"));
    tokio::time::sleep_until(until.into()).await;
    let (s1, c1) = (sched(&pid), sched("self"));
    let window = (until - from).as_nanos() as f64;
    Usage {
        server_cpu: s1.cpu_ns.saturating_sub(s0.cpu_ns) as f64 / window,
        server_wait: s1.wait_ns.saturating_sub(s0.wait_ns) as f64 / window,
        client_cpu: c1.cpu_ns.saturating_sub(c0.cpu_ns) as f64 / window,
    }
}

/// Peak resident set size (`VmHWM`) of a live process, in bytes: read
/// before the server is killed, as it goes with the process.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

struct Outcome {
    report: load::Report,
    usage: Usage,
    /// The server's peak RSS over the whole scenario (start, preload, load
    /// and scrapes), in bytes.
    peak_rss: Option<u64>,
    /// The groups stored before the load, in a `storedN` case.
    preload: Option<Preload>,
    /// The scrapes after the load, when this run took them.
    scrapes: Vec<ScrapeRun>,
}

impl Outcome {
    /// Pushes per second of server CPU: less sensitive than push/s to other
    /// processes taking the server's core.
    fn per_cpu_sec(&self) -> f64 {
        self.report.pushes_per_sec() / self.usage.server_cpu.max(1e-9)
    }

    fn push_rate(&self) -> Option<f64> {
        Some(self.report.pushes_per_sec())
    }

    fn cpu_rate(&self) -> Option<f64> {
        Some(self.per_cpu_sec())
    }

    /// p99 push latency, in seconds.
    fn p99(&self) -> Option<f64> {
        self.report.percentile(0.99).map(|d| d.as_secs_f64())
    }

    /// Peak RSS in MB (10^6 bytes), `-` when `/proc` did not say.
    fn peak_mb(&self) -> String {
        self.peak_rss
            .map_or("-".into(), |b| format!("{:.1}", b as f64 / 1e6))
    }

    /// Failed pushes, of the load or of the preload before it: either
    /// makes the numbers not what they claim.
    fn failures(&self) -> u64 {
        self.report.failures + self.preload.as_ref().map_or(0, |p| p.failures)
    }
}

/// Filling a server with groups before the load.
#[derive(Default)]
struct Preload {
    groups: usize,
    failures: u64,
    first_failure: Option<String>,
    elapsed: Duration,
}

impl Preload {
    fn record(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.failures += 1;
            self.first_failure.get_or_insert(e);
        }
    }

    fn merge(&mut self, other: Preload) {
        self.failures += other.failures;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// The path of preload group `k`.
fn group_path(k: usize) -> String {
    format!("/metrics/job/preload/instance/i{k}")
}

/// PUTs group `k` with `stamp` as its gauges; an answer other than 2xx is
/// an `Err` saying what it was.
async fn put_group(
    conn: &mut load::Conn,
    format: Format,
    k: usize,
    stamp: f64,
) -> Result<(), String> {
    let mut body = Vec::new();
    codec::encode(format, &payload::group(k, stamp), &mut body)
        .map_err(|e| format!("encode group {k}: {e}"))?;
    let path = group_path(k);
    let headers = [("content-type", format.content_type())];
    let answer = conn
        .send(Method::PUT, &path, &headers, body.into(), PUSH_TIMEOUT)
        .await?;
    if answer.status.is_success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.head[..answer.head.len().min(300)]);
    Err(format!(
        "PUT {path}: HTTP {}: {}",
        answer.status,
        text.trim()
    ))
}

/// Stores `groups` groups, PUT in `format` by [`PRELOAD_CONNS`] connections.
async fn preload(addr: SocketAddr, format: Format, groups: usize) -> Preload {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..PRELOAD_CONNS.min(groups) {
        tasks.spawn(async move {
            let mut conn = load::Conn::new(addr);
            let mut part = Preload::default();
            for k in (c..groups).step_by(PRELOAD_CONNS) {
                part.record(put_group(&mut conn, format, k, 0.0).await);
            }
            part
        });
    }
    let mut total = Preload {
        groups,
        ..Preload::default()
    };
    while let Some(part) = tasks.join_next().await {
        match part {
            Ok(part) => total.merge(part),
            Err(e) => total.record(Err(format!("preload task: {e}"))),
        }
    }
    total.elapsed = start.elapsed();
    total
}

/// One series of scrapes of a stored server.
struct ScrapeRun {
    accept: Format,
    /// Each scrape came right after a PUT changed the store, so pushgate
    /// could not serve it from its cached exposition.
    after_push: bool,
    /// Of the successful scrapes, sorted.
    latencies: Vec<Duration>,
    /// The last body's size (uncompressed: no `Accept-Encoding` is sent).
    bytes: usize,
    failures: u64,
    first_failure: Option<String>,
}

impl ScrapeRun {
    fn state(&self) -> &'static str {
        if self.after_push {
            "after push"
        } else {
            "cached"
        }
    }

    fn fail(&mut self, e: String) {
        self.failures += 1;
        self.first_failure.get_or_insert(e);
    }
}

/// One timed `GET /metrics` asking for `accept`: the time and body size, or
/// why it failed (a status other than 200, or another format than asked).
async fn scrape(conn: &mut load::Conn, accept: Format) -> Result<(Duration, usize), String> {
    let (headers, expect): (&[(&str, &str)], &str) = match accept {
        Format::Protobuf => (
            &[("accept", PROTOBUF_ACCEPT)],
            "application/vnd.google.protobuf",
        ),
        _ => (&[], "text/plain"),
    };
    let answer = conn
        .send(
            Method::GET,
            "/metrics",
            headers,
            Bytes::new(),
            SCRAPE_TIMEOUT,
        )
        .await?;
    if !answer.status.is_success() {
        let text = String::from_utf8_lossy(&answer.head[..answer.head.len().min(300)]);
        return Err(format!(
            "GET /metrics: HTTP {}: {}",
            answer.status,
            text.trim()
        ));
    }
    let content_type = answer.content_type.unwrap_or_default();
    if !content_type.starts_with(expect) {
        return Err(format!(
            "GET /metrics for {accept} answered Content-Type {content_type:?}"
        ));
    }
    Ok((answer.elapsed, answer.len))
}

/// Scrapes `n` times per format and state on one connection; between the
/// `after push` ones, PUTs group 0 (in `format`) with a new stamp.
async fn scrapes(addr: SocketAddr, format: Format, n: usize) -> Vec<ScrapeRun> {
    let mut conn = load::Conn::new(addr);
    let mut stamp = 0.0;
    let mut runs = Vec::new();
    for accept in [Format::Text, Format::Protobuf] {
        // Untimed: the first timed `cached` scrape then finds it cached.
        let _ = scrape(&mut conn, accept).await;
        for after_push in [false, true] {
            let mut run = ScrapeRun {
                accept,
                after_push,
                latencies: Vec::with_capacity(n),
                bytes: 0,
                failures: 0,
                first_failure: None,
            };
            for _ in 0..n {
                if after_push {
                    stamp += 1.0;
                    if let Err(e) = put_group(&mut conn, format, 0, stamp).await {
                        run.fail(format!("the PUT before: {e}"));
                        continue;
                    }
                }
                match scrape(&mut conn, accept).await {
                    Ok((elapsed, bytes)) => {
                        run.latencies.push(elapsed);
                        run.bytes = bytes;
                    }
                    Err(e) => run.fail(e),
                }
            }
            run.latencies.sort_unstable();
            runs.push(run);
        }
    }
    runs
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}ms", d.as_secs_f64() * 1e3))
}

fn print_outcome(name: &str, o: &Outcome) {
    let r = &o.report;
    println!(
        "{name:<48} {:>9.1} push/s  p50 {:>10}  p99 {:>10}  {:>7.1} MB/s  n={:<6} \
         srv cpu {:>3.0}% wait {:>3.0}% {:>8.1} push/cpu-s  peak {:>6} MB  gen cpu {:>3.0}%",
        r.pushes_per_sec(),
        ms(r.percentile(0.50)),
        ms(r.percentile(0.99)),
        r.bytes_per_sec() / 1e6,
        r.latencies.len(),
        o.usage.server_cpu * 100.0,
        o.usage.server_wait * 100.0,
        o.per_cpu_sec(),
        o.peak_mb(),
        o.usage.client_cpu * 100.0,
    );
    if let Some(p) = &o.preload {
        println!(
            "  preloaded {} groups in {:.2}s ({:.0} PUT/s, {PRELOAD_CONNS} connections)",
            p.groups,
            p.elapsed.as_secs_f64(),
            p.groups as f64 / p.elapsed.as_secs_f64().max(1e-9)
        );
        if p.failures > 0 {
            println!(
                "  !!! {name}: {} of {} PRELOAD PUTS FAILED — these numbers are not valid\n  !!! first: {}",
                p.failures,
                p.groups,
                p.first_failure.as_deref().unwrap_or("?")
            );
        }
    }
    if r.failures > 0 {
        println!(
            "  !!! {name}: {} FAILED PUSHES {:?} — these numbers are not valid\n  !!! first: {}",
            r.failures,
            r.failure_kinds,
            r.first_failure.as_deref().unwrap_or("?")
        );
    }
    if o.usage.client_cpu > 0.9 {
        println!(
            "  !!! {name}: the load generator used {:.0}% of its core: it may be the bottleneck",
            o.usage.client_cpu * 100.0
        );
    }
    for run in &o.scrapes {
        print_scrapes(name, run);
    }
}

fn print_scrapes(name: &str, run: &ScrapeRun) {
    println!(
        "  scrape {:<8} {:<10} p50 {:>10}  p99 {:>10}  {:>7.2} MB  n={}",
        run.accept.name(),
        run.state(),
        ms(load::percentile(&run.latencies, 0.50)),
        ms(load::percentile(&run.latencies, 0.99)),
        run.bytes as f64 / 1e6,
        run.latencies.len()
    );
    if run.failures > 0 {
        println!(
            "  !!! {name}: {} FAILED SCRAPES ({} {}) — these numbers are not valid\n  !!! first: {}",
            run.failures,
            run.accept.name(),
            run.state(),
            run.first_failure.as_deref().unwrap_or("?")
        );
    }
}

/// How pushes map to groups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Groups {
    /// Connection k pushes to `/metrics/job/bench/conn/c<k>`.
    PerConnection,
    /// Every connection pushes to `/metrics/job/bench`.
    Shared,
}

impl Groups {
    fn name(self) -> &'static str {
        match self {
            Groups::PerConnection => "conn",
            Groups::Shared => "shared",
        }
    }

    fn path(self) -> Arc<dyn Fn(usize) -> String + Send + Sync> {
        match self {
            Groups::PerConnection => Arc::new(|k| format!("/metrics/job/bench/conn/c{k}")),
            Groups::Shared => Arc::new(|_| "/metrics/job/bench".to_owned()),
        }
    }
}

/// One load shape, run against each server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Case {
    /// The payload size's name (`support/payload.rs`).
    size: &'static str,
    format: Format,
    conns: usize,
    groups: Groups,
    /// Groups stored before the load (0: the server starts empty).
    preload: usize,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.size,
            self.format,
            self.conns,
            self.groups.name()
        )?;
        if self.preload > 0 {
            write!(f, "/stored{}", self.preload)?;
        }
        Ok(())
    }
}

/// Starts `kind`, preloads it as `case` says, runs the load and, if
/// `scrape`, times scrapes of what it then holds.
async fn scenario(
    cfg: &Config,
    kind: Kind,
    case: Case,
    body: &Bytes,
    scrape: bool,
) -> Result<Outcome, String> {
    let mut server = Server::start(kind, cfg).await?;
    let preload = match case.preload {
        0 => None,
        n => Some(preload(server.addr, case.format, n).await),
    };
    server.exited("while preloading")?;
    let load = load::Load {
        addr: server.addr,
        path: case.groups.path(),
        method: Method::POST,
        content_type: case.format.content_type(),
        body: body.clone(),
        connections: case.conns,
        warmup: cfg.warmup,
        duration: cfg.secs,
        request_timeout: PUSH_TIMEOUT,
    };
    let start = Instant::now();
    let from = start + cfg.warmup;
    let (report, usage) = tokio::join!(load.run(start), probe(server.pid(), from, from + cfg.secs));
    server.exited("during the run")?;
    let scrapes = if scrape {
        scrapes(server.addr, case.format, cfg.scrapes).await
    } else {
        Vec::new()
    };
    server.exited("while scraped")?;
    Ok(Outcome {
        report,
        usage,
        peak_rss: peak_rss(server.pid()),
        preload,
        scrapes,
    })
}

/// Pins this process (one thread so far) to `cpu`.
fn pin_self(cpu: &str) -> Result<(), String> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpu, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("taskset -p -c {cpu} failed: {status}"))
}

type Results = Vec<(Kind, Case, Option<Outcome>)>;

fn main() {
    // The bench binary run again as the ceiling server: nothing else.
    if let Ok(addr) = std::env::var(ceiling::SERVE_ENV) {
        if let Err(e) = ceiling::serve(&addr) {
            eprintln!("ceiling: {e}");
            std::process::exit(1);
        }
        return;
    }
    let cfg = Config::from_env();
    print_setup(&cfg);
    let bodies = encode_bodies(&cfg);
    print_method(&cfg);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (results, skipped) = runtime.block_on(run_all(&cfg, &bodies));
    println!("\n{}", table(&results));
    if let Some(table) = stored_table(&results) {
        println!("\n{table}");
    }
    if let Some(table) = scrape_table(&results) {
        println!("\n{table}");
    }
    print_failures(&results, &skipped);
    if let Some(prefix) = &cfg.write {
        match write_page(&cfg, prefix, &bodies, &results) {
            Ok(written) => println!("wrote {written}"),
            Err(e) => println!("!!! E2E_WRITE: {e}"),
        }
    }
}

/// Every size's payload in every format, said as it is encoded.
fn encode_bodies(cfg: &Config) -> Vec<Body> {
    let mut bodies = Vec::new();
    for &size in &cfg.sizes {
        let families = payload::families(size);
        let samples = payload::samples(&families);
        for &format in &cfg.formats {
            let mut out = Vec::new();
            codec::encode(format, &families, &mut out).expect("encode payload");
            println!(
                "payload {} {format}: {} bytes, {samples} samples",
                size.name,
                out.len()
            );
            bodies.push(Body {
                size: size.name,
                format,
                bytes: Bytes::from(out),
                samples,
            });
        }
    }
    bodies
}

/// The failed pushes and scrapes of the whole run and the servers that
/// never started: last, where they are not missed.
fn print_failures(results: &Results, skipped: &[(Kind, String)]) {
    let outcomes = || results.iter().filter_map(|(_, _, o)| o.as_ref());
    let failed: u64 = outcomes().map(Outcome::failures).sum();
    if failed > 0 {
        println!("!!! {failed} pushes FAILED across the run: see the lines marked !!! above");
    }
    let failed: u64 = outcomes()
        .flat_map(|o| &o.scrapes)
        .map(|r| r.failures)
        .sum();
    if failed > 0 {
        println!("!!! {failed} scrapes FAILED across the run: see the lines marked !!! above");
    }
    for (kind, why) in skipped {
        println!("skipped {}: {why}", kind.name());
    }
}

/// How the servers run, for the setup line and the page.
fn servers_setup(cfg: &Config) -> String {
    let how = "one core's worth each: Pushgateway GOMAXPROCS=1, pushgate \
               PUSHGATE_WORKER_THREADS=1, the ceiling one current-thread tokio runtime; \
               fresh for each scenario";
    match &cfg.server_cpu {
        Some(cpu) => format!("pinned to cpu {cpu} with taskset, {how}"),
        None => format!("unpinned, {how}"),
    }
}

/// Pins the generator and says where everything runs.
fn print_setup(cfg: &Config) {
    let cores = cfg.machine.cores;
    println!(
        "machine: {cores} cores, {}, Linux {}",
        cfg.machine.cpu, cfg.machine.kernel
    );
    match &cfg.client_cpu {
        Some(cpu) => match pin_self(cpu) {
            Ok(()) => println!("load generator: pinned to cpu {cpu}, one tokio thread"),
            Err(e) => println!("load generator: NOT pinned ({e}), one tokio thread"),
        },
        None => println!("load generator: unpinned, one tokio thread"),
    }
    println!("servers: {}", servers_setup(cfg));
    if cores < 2 {
        println!("!!! {cores} core(s) available: generator and server share a core");
    }
    println!("pushgate: {}", cfg.pushgate.display());
}

/// Says what the load and the stored scenarios do.
fn print_method(cfg: &Config) {
    println!(
        "load: N keep-alive HTTP/1.1 connections POSTing back to back, {:?} warm-up + {:?} measured",
        cfg.warmup, cfg.secs
    );
    println!(
        "groups: `conn` = connection k pushes to /metrics/job/bench/conn/c<k>, one group each, as \
         independent pushers do (not `instance`: the payload's series carry instance labels, \
         which a grouping label overwrites into duplicates the Pushgateway rejects); \
         `shared` = all to /metrics/job/bench, one group overwritten by every push"
    );
    println!(
        "ceiling: a bare hyper HTTP/1.1 server reading each body to its end and answering 202, \
         parsing nothing: the most a server can do over this loopback with this load"
    );
    if cfg.preload_groups > 0 {
        println!(
            "stored{n}: before the load, {n} groups of 10 series ({}) PUT to \
             /metrics/job/preload/instance/i<k>; only for the servers that keep groups \
             (pushgateway, pushgate-pgw: the memory and file stores of `pushgate` and \
             `pushgate-file` keep none to scrape, the ceiling nothing)",
            payload::samples(&payload::group(0, 0.0)),
            n = cfg.preload_groups
        );
        if cfg.scrapes > 0 {
            println!(
                "scrapes: after the first stored{} run per server, conns and groups: GET /metrics \
                 {} times each as text and as protobuf on one connection, `cached` back to back, \
                 `after push` each right after a PUT to group i0 (only the scrape timed)",
                cfg.preload_groups, cfg.scrapes
            );
        }
    }
    println!();
}

/// One encoded payload: a size in one format.
struct Body {
    size: &'static str,
    format: Format,
    bytes: Bytes,
    /// Samples in the payload, whatever the format.
    samples: usize,
}

/// The load shapes to run, in order: by grouping, size, format,
/// connections, then empty before stored.
fn all_cases(cfg: &Config, bodies: &[Body]) -> Vec<(Case, usize)> {
    let mut cases = Vec::new();
    for &groups in &cfg.groups {
        for (b, body) in bodies.iter().enumerate() {
            for &conns in &cfg.conns {
                if groups == Groups::Shared && conns == 1 && cfg.groups.len() > 1 {
                    continue; // one connection, one group: the `conn` case again
                }
                for preload in cfg.preloads(body.size) {
                    let case = Case {
                        size: body.size,
                        format: body.format,
                        conns,
                        groups,
                        preload,
                    };
                    cases.push((case, b));
                }
            }
        }
    }
    cases
}

/// Runs every selected case on every server: the results, and the servers
/// skipped with why.
async fn run_all(cfg: &Config, bodies: &[Body]) -> (Results, Vec<(Kind, String)>) {
    let mut results: Results = Vec::new();
    let mut skipped: Vec<(Kind, String)> = Vec::new();
    // Server, size, conns and groups already scraped: the push format does
    // not change what is stored.
    let mut scraped: Vec<(Kind, &str, usize, Groups)> = Vec::new();
    for (case, b) in all_cases(cfg, bodies) {
        for &kind in &cfg.servers {
            let name = format!("{}/{case}", kind.name());
            if (case.preload > 0 && !kind.keeps_groups()) || !cfg.selected(&name) {
                continue;
            }
            if skipped.iter().any(|(k, _)| *k == kind) {
                results.push((kind, case, None));
                continue;
            }
            let store = (kind, case.size, case.conns, case.groups);
            let scrape = case.preload > 0 && cfg.scrapes > 0 && !scraped.contains(&store);
            match scenario(cfg, kind, case, &bodies[b].bytes, scrape).await {
                Ok(outcome) => {
                    if scrape {
                        scraped.push(store);
                    }
                    print_outcome(&name, &outcome);
                    results.push((kind, case, Some(outcome)));
                }
                Err(why) => {
                    println!("SKIPPING {}: {why}", kind.name());
                    print_needs(kind, cfg);
                    skipped.push((kind, why));
                    results.push((kind, case, None));
                }
            }
        }
    }
    (results, skipped)
}

/// What a pushgate kind that did not start needs.
fn print_needs(kind: Kind, cfg: &Config) {
    let serve = match kind {
        Kind::Pushgateway | Kind::Ceiling => return,
        Kind::Pushgate => format!("--store {}", cfg.pushgate_store),
        Kind::PushgateFile => "--store file:DIR --sync always".to_owned(),
        Kind::PushgatePgw => "--mode pushgateway --persistence-file \"\"".to_owned(),
    };
    println!(
        "    (needs `pushgate serve --listen ADDR {serve}` answering GET {} with 200; \
         build it with `cargo build --release` or run via `cargo bench`)",
        kind.health_path()
    );
}

/// The outcome of `kind` in `case`, if it ran.
fn find(results: &[(Kind, Case, Option<Outcome>)], kind: Kind, case: Case) -> Option<&Outcome> {
    results
        .iter()
        .find(|(k, c, _)| *k == kind && *c == case)
        .and_then(|(_, _, o)| o.as_ref())
}

/// Whether `kind` was to run `case` (ran, or was skipped).
fn tried(results: &[(Kind, Case, Option<Outcome>)], kind: Kind, case: Case) -> bool {
    results.iter().any(|(k, c, _)| *k == kind && *c == case)
}

/// The cases of `results`, in the order they ran.
fn cases(results: &[(Kind, Case, Option<Outcome>)]) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (_, case, _) in results {
        if !cases.contains(case) {
            cases.push(*case);
        }
    }
    cases
}

/// `a / b` of two values that may be missing.
fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// `x` with `decimals`, or `-`.
fn fixed(x: Option<f64>, decimals: usize) -> String {
    x.map_or("-".into(), |x| format!("{x:.decimals$}"))
}

/// `a / b` of two values that may be missing, or `-`.
fn ratio(a: Option<f64>, b: Option<f64>, decimals: usize) -> String {
    fixed(div(a, b), decimals)
}

/// One server in one case, with its ratios to the others of the same
/// case: what the summary table and the page both show.
struct Row<'a> {
    case: Case,
    kind: Kind,
    outcome: Option<&'a Outcome>,
    /// push/s over the Pushgateway's (not on its own row).
    over_pushgateway: Option<f64>,
    /// push/s over the ceiling's, empty, same size, format, conns and
    /// groups: the ceiling stores nothing, so has no stored runs.
    over_ceiling: Option<f64>,
    /// `pushgate-file`'s push/s over the memory store's (`pushgate`).
    over_memory: Option<f64>,
    p99_over_pushgateway: Option<f64>,
    cpu_over_pushgateway: Option<f64>,
}

/// A row per server and case, in the order the cases ran and [`KINDS`]'s.
fn rows(results: &[(Kind, Case, Option<Outcome>)]) -> Vec<Row<'_>> {
    let mut rows = Vec::new();
    for case in cases(results) {
        let gateway = find(results, Kind::Pushgateway, case);
        let ceiling = find(results, Kind::Ceiling, Case { preload: 0, ..case });
        let memory = find(results, Kind::Pushgate, case);
        for kind in KINDS.into_iter().filter(|&k| tried(results, k, case)) {
            let o = find(results, kind, case);
            let over = |other: Kind, of: Option<&Outcome>, f: fn(&Outcome) -> Option<f64>| {
                div(o.and_then(f), of.and_then(f)).filter(|_| kind != other)
            };
            rows.push(Row {
                case,
                kind,
                outcome: o,
                over_pushgateway: over(Kind::Pushgateway, gateway, Outcome::push_rate),
                over_ceiling: over(Kind::Ceiling, ceiling, Outcome::push_rate),
                over_memory: over(Kind::Pushgate, memory, Outcome::push_rate)
                    .filter(|_| kind == Kind::PushgateFile),
                p99_over_pushgateway: over(Kind::Pushgateway, gateway, Outcome::p99),
                cpu_over_pushgateway: over(Kind::Pushgateway, gateway, Outcome::cpu_rate),
            });
        }
    }
    rows
}

/// `!` after the numbers of a run with failed pushes, else a space.
fn mark(o: Option<&Outcome>) -> &'static str {
    if o.is_some_and(|o| o.failures() > 0) {
        "!"
    } else {
        " "
    }
}

/// Push/s, p99, wait and peak RSS of every server in every case, with the
/// ratios to the Pushgateway, the ceiling and (the file store) the memory
/// store.
fn table(results: &[(Kind, Case, Option<Outcome>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:>5} {:>6} {:>6} | {:<13} {:>10} {:>10} {:>5} {:>7} | {:>7} {:>7} {:>7} | {:>7} {:>7}",
        "size", "format", "conns", "groups", "stored", "server", "push/s", "p99", "wait",
        "peak MB", "x pgw", "x ceil", "x mem", "x p99", "x cpu-s"
    );
    let _ = writeln!(out, "{}", "-".repeat(136));
    for row in rows(results) {
        let (c, o) = (row.case, row.outcome);
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:>5} {:>6} {:>6} | {:<13} {:>9}{} {:>10} {:>5} {:>7} | {:>7} {:>7} {:>7} | {:>7} {:>7}",
            c.size,
            c.format.name(),
            c.conns,
            c.groups.name(),
            c.preload,
            row.kind.name(),
            fixed(o.map(|o| o.report.pushes_per_sec()), 1),
            mark(o),
            o.map_or("-".into(), |o| ms(o.report.percentile(0.99))),
            o.map_or("-".into(), |o| format!("{:.0}%", o.usage.server_wait * 100.0)),
            o.map_or("-".into(), Outcome::peak_mb),
            fixed(row.over_pushgateway, 2),
            fixed(row.over_ceiling, 3),
            fixed(row.over_memory, 2),
            fixed(row.p99_over_pushgateway, 3),
            fixed(row.cpu_over_pushgateway, 2),
        );
    }
    let _ = write!(
        out,
        "x pgw / x ceil = push/s over the Pushgateway's / the ceiling's (same size, format, conns, \
         groups; the ceiling's empty run for stored ones), higher is better; x mem = the file \
         store's push/s over the memory store's (`pushgate`); x p99 (lower is better) and x cpu-s \
         (push per server CPU-second, higher is better) over the Pushgateway's; peak MB = the \
         server's VmHWM at the end of the scenario; stored = groups PUT before the load; ! = had \
         failed pushes; - = not run, skipped or the server itself\n\
         wait = time the server was runnable but another process had its core: high wait, noisy \
         numbers"
    );
    out
}

/// Push/s with groups stored over push/s empty, per server that keeps
/// groups: whether a push costs more the more is stored. Also per server
/// CPU-second, steadier when another process takes the server's core in
/// one of the two runs. `None` without stored cases.
fn stored_table(results: &[(Kind, Case, Option<Outcome>)]) -> Option<String> {
    let stored: Vec<Case> = cases(results)
        .into_iter()
        .filter(|c| c.preload > 0)
        .collect();
    let n = stored.first()?.preload;
    let kinds = [Kind::Pushgateway, Kind::PushgatePgw];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "with {n} groups stored / empty (1.00: a push costs the same whatever is stored)"
    );
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:>5} {:>6} | {:>21} | {:>21}",
        "size",
        "format",
        "conns",
        "groups",
        format!("{} push/s cpu-s", kinds[0].name()),
        format!("{} push/s cpu-s", kinds[1].name()),
    );
    let _ = writeln!(out, "{}", "-".repeat(78));
    for case in stored {
        let empty = Case { preload: 0, ..case };
        let cell = |kind| {
            let (s, e) = (find(results, kind, case), find(results, kind, empty));
            let failed = s.into_iter().chain(e).any(|o| o.failures() > 0);
            let of = |f: fn(&Outcome) -> f64| ratio(s.map(f), e.map(f), 2);
            format!(
                "{:>10} {:>10}{}",
                of(|o| o.report.pushes_per_sec()),
                of(Outcome::per_cpu_sec),
                if failed { "!" } else { " " }
            )
        };
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:>5} {:>6} | {} | {}",
            case.size,
            case.format.name(),
            case.conns,
            case.groups.name(),
            cell(kinds[0]),
            cell(kinds[1])
        );
    }
    let _ = write!(
        out,
        "cpu-s = push per server CPU-second; ! = either run had failed pushes; - = not run or \
         skipped"
    );
    Some(out)
}

/// What a stored server held when scraped: the payload size, the load's
/// connections and grouping, the groups preloaded.
type Store = (&'static str, usize, Groups, usize);

/// Scrape latency of the stored servers, pushgate-pgw beside the
/// Pushgateway. `None` without scrapes.
fn scrape_table(results: &[(Kind, Case, Option<Outcome>)]) -> Option<String> {
    // (size, conns, groups, stored) scraped, in the order they ran.
    let mut stores: Vec<Store> = Vec::new();
    for (_, case, o) in results {
        let key = (case.size, case.conns, case.groups, case.preload);
        if o.as_ref().is_some_and(|o| !o.scrapes.is_empty()) && !stores.contains(&key) {
            stores.push(key);
        }
    }
    if stores.is_empty() {
        return None;
    }
    let runs = |kind: Kind, store: Store| {
        results
            .iter()
            .filter(|(k, c, _)| *k == kind && (c.size, c.conns, c.groups, c.preload) == store)
            .filter_map(|(_, _, o)| o.as_ref())
            .find(|o| !o.scrapes.is_empty())
            .map(|o| o.scrapes.as_slice())
            .unwrap_or(&[])
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "GET /metrics of the stored servers after their load (the preload groups and the load's), \
         one connection"
    );
    let _ = writeln!(
        out,
        "{:<6} {:<5} {:>6} {:>6} {:<8} {:<10} | {:>31} | {:>31} | {:>7} {:>7}",
        "size",
        "conns",
        "groups",
        "stored",
        "accept",
        "state",
        "Pushgateway p50 p99 MB",
        "pushgate-pgw p50 p99 MB",
        "x p50",
        "x p99"
    );
    let _ = writeln!(out, "{}", "-".repeat(133));
    let cell = |r: Option<&ScrapeRun>| match r {
        Some(r) => format!(
            "{:>10} {:>10} {:>8.2}{}",
            ms(load::percentile(&r.latencies, 0.50)),
            ms(load::percentile(&r.latencies, 0.99)),
            r.bytes as f64 / 1e6,
            if r.failures > 0 { "!" } else { " " }
        ),
        None => format!("{:>31}", "-"),
    };
    let secs = |r: Option<&ScrapeRun>, q| {
        r.and_then(|r| load::percentile(&r.latencies, q))
            .map(|d| d.as_secs_f64())
    };
    for store in stores {
        let (g, p) = (
            runs(Kind::Pushgateway, store),
            runs(Kind::PushgatePgw, store),
        );
        for accept in [Format::Text, Format::Protobuf] {
            for after_push in [false, true] {
                let pick = |runs: &[ScrapeRun]| {
                    runs.iter()
                        .position(|r| r.accept == accept && r.after_push == after_push)
                };
                let (gr, pr) = (pick(g).map(|i| &g[i]), pick(p).map(|i| &p[i]));
                let _ = writeln!(
                    out,
                    "{:<6} {:<5} {:>6} {:>6} {:<8} {:<10} | {} | {} | {:>7} {:>7}",
                    store.0,
                    store.1,
                    store.2.name(),
                    store.3,
                    accept.name(),
                    if after_push { "after push" } else { "cached" },
                    cell(gr),
                    cell(pr),
                    ratio(secs(pr, 0.50), secs(gr, 0.50), 3),
                    ratio(secs(pr, 0.99), secs(gr, 0.99), 3),
                );
            }
        }
    }
    let _ = write!(
        out,
        "x = pushgate-pgw / Pushgateway, lower is better; cached = back to back, the store \
         unchanged; after push = each right after a PUT to one group; MB = body size, \
         uncompressed; ! = had failed scrapes; - = not run or skipped"
    );
    Some(out)
}

/// Writes `PREFIX.md` (the page's fragment) and `PREFIX.svg` (its chart);
/// says which.
fn write_page(
    cfg: &Config,
    prefix: &Path,
    bodies: &[Body],
    results: &Results,
) -> Result<String, String> {
    let md = PathBuf::from(format!("{}.md", prefix.display()));
    let svg = PathBuf::from(format!("{}.svg", prefix.display()));
    if let Some(dir) = md.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let date = page::utc_now();
    std::fs::write(&md, fragment(cfg, &date, bodies, results))
        .map_err(|e| format!("{}: {e}", md.display()))?;
    std::fs::write(&svg, page::svg(&chart(&date, results)))
        .map_err(|e| format!("{}: {e}", svg.display()))?;
    Ok(format!("{} and {}", md.display(), svg.display()))
}

/// The command that ran this bench, as it can be pasted back: every
/// `E2E_*` variable set, then the program and its arguments.
fn command_used() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("E2E_") && k != ceiling::SERVE_ENV)
        .collect();
    vars.sort();
    let mut words: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k}={}", page::shell_word(v)))
        .collect();
    words.extend(std::env::args().map(|a| page::shell_word(&a)));
    words.join(" ")
}

/// The first line `program --version` prints, or `None` if it does not
/// run: which Pushgateway and which pushgate the numbers are of.
fn version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    let text = String::from_utf8_lossy(&text);
    text.lines().next().map(|l| l.trim().to_owned())
}

/// The crate's commit, `-dirty` with uncommitted changes, if git says.
fn commit() -> Option<String> {
    let out = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Where the run was taken, how, and with what: the page's list above the
/// table.
fn fragment_setup(cfg: &Config, date: &str, bodies: &[Body]) -> String {
    let mut out = String::new();
    let m = &cfg.machine;
    let _ = writeln!(out, "- date: {date}");
    let _ = writeln!(
        out,
        "- machine: {} cores (`nproc`), {}, Linux {}",
        m.cores, m.cpu, m.kernel
    );
    let _ = writeln!(out, "- servers: {}", servers_setup(cfg));
    let client = cfg
        .client_cpu
        .as_deref()
        .map_or("unpinned".into(), |c| format!("pinned to cpu {c}"));
    let _ = writeln!(out, "- load generator: {client}, one tokio thread");
    if cfg.servers.contains(&Kind::Pushgateway) {
        let v = version(&cfg.pushgateway).unwrap_or_else(|| "version unknown".into());
        let _ = writeln!(out, "- Pushgateway: {v}");
    }
    let v = version(&cfg.pushgate).unwrap_or_else(|| "pushgate".into());
    let at = commit().map_or(String::new(), |c| format!(" at commit {c}"));
    let _ = writeln!(out, "- pushgate: {v}{at}");
    let _ = writeln!(
        out,
        "- load: N keep-alive HTTP/1.1 connections POSTing back to back, {:?} warm-up, {:?} measured",
        cfg.warmup, cfg.secs
    );
    let payloads: Vec<String> = bodies
        .iter()
        .map(|b| {
            format!(
                "{} {} {} bytes ({} samples)",
                b.size,
                b.format,
                b.bytes.len(),
                b.samples
            )
        })
        .collect();
    let _ = writeln!(out, "- payloads: {}", payloads.join(", "));
    let _ = writeln!(out, "- command: `{}`", command_used());
    out
}

/// The results as a Markdown table, a row per server and case.
fn markdown_results(results: &Results) -> String {
    let header = [
        "scenario",
        "server",
        "push/s",
        "p50 ms",
        "p99 ms",
        "server CPU %",
        "wait %",
        "push/CPU-s",
        "gen CPU %",
        "peak RSS MB",
        "÷ Pushgateway",
        "÷ ceiling",
        "÷ memory store",
    ];
    let ms = |d: Option<Duration>| fixed(d.map(|d| d.as_secs_f64() * 1e3), 2);
    let rows: Vec<Vec<String>> = rows(results)
        .iter()
        .map(|row| {
            let o = row.outcome;
            let of = |f: fn(&Outcome) -> f64, decimals| fixed(o.map(f), decimals);
            vec![
                row.case.to_string(),
                row.kind.name().to_owned(),
                format!("{}{}", of(|o| o.report.pushes_per_sec(), 1), mark(o).trim()),
                o.map_or("-".into(), |o| ms(o.report.percentile(0.50))),
                o.map_or("-".into(), |o| ms(o.report.percentile(0.99))),
                of(|o| o.usage.server_cpu * 100.0, 0),
                of(|o| o.usage.server_wait * 100.0, 0),
                of(Outcome::per_cpu_sec, 0),
                of(|o| o.usage.client_cpu * 100.0, 0),
                o.map_or("-".into(), Outcome::peak_mb),
                fixed(row.over_pushgateway, 2),
                fixed(row.over_ceiling, 3),
                fixed(row.over_memory, 2),
            ]
        })
        .collect();
    page::markdown_table(&header, 2, &rows)
}

/// `a, a, b` as `a 2, b 1`, in order of first appearance.
fn count_names(names: &[String]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for name in names {
        match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(n, c)| format!("{n} {c}")).collect();
    parts.join(", ")
}

/// The page's fragment: the setup, the table, how to read it, and the
/// stored and scrape tables as the bench prints them.
fn fragment(cfg: &Config, date: &str, bodies: &[Body], results: &Results) -> String {
    let mut out = fragment_setup(cfg, date, bodies);
    out.push('\n');
    out.push_str(&markdown_results(results));
    out.push_str(
        "\n÷ Pushgateway, ÷ ceiling: push/s over theirs in the same scenario (the ceiling's \
         empty run for stored ones); ÷ memory store: pushgate-file over pushgate; push/CPU-s: \
         pushes per second of server CPU; gen CPU: the load generator's share of its core (near \
         100%, it is the limit, not the server); peak RSS: the server's VmHWM at the end of the \
         scenario; ! = the run had failed pushes, its numbers are not valid; - = not run.\n",
    );
    let runs = || {
        results
            .iter()
            .filter_map(|(k, _, o)| Some((*k, o.as_ref()?)))
    };
    let noisy = runs().filter(|(_, o)| o.usage.server_wait > 0.10).count();
    if noisy > 0 {
        let _ = writeln!(
            out,
            "\n{noisy} runs had wait above 10% (the server runnable while another process had \
             its core): their numbers are noisy."
        );
    }
    let bound: Vec<String> = runs()
        .filter(|(_, o)| o.usage.client_cpu > 0.9)
        .map(|(k, _)| k.name().to_owned())
        .collect();
    if !bound.is_empty() {
        let _ = writeln!(
            out,
            "\n{} runs had the load generator above 90% of its core ({}): there the generator, \
             not the server, sets push/s, and a ratio to such a run is a bound, not a measure.",
            bound.len(),
            count_names(&bound)
        );
    }
    let extra: Vec<String> = [stored_table(results), scrape_table(results)]
        .into_iter()
        .flatten()
        .collect();
    for table in extra {
        let _ = write!(out, "\n```text\n{table}\n```\n");
    }
    out
}

/// The push/s chart: a group of bars per case, a bar per server.
fn chart(date: &str, results: &Results) -> page::Chart {
    let kinds: Vec<Kind> = KINDS
        .into_iter()
        .filter(|&k| results.iter().any(|(rk, _, _)| *rk == k))
        .collect();
    let groups = cases(results)
        .into_iter()
        .map(|case| page::Group {
            label: case.to_string(),
            values: kinds
                .iter()
                .map(|&k| {
                    find(results, k, case).map(|o| page::Bar {
                        value: o.report.pushes_per_sec(),
                        marked: o.failures() > 0,
                    })
                })
                .collect(),
        })
        .collect();
    page::Chart {
        title: format!("push/s, each server on one core (higher is better), {date}"),
        y_label: "push/s (log scale)".into(),
        x_label: "scenario: size/format/connections/groups[/stored groups]".into(),
        series: kinds
            .iter()
            .map(|k| page::Series {
                name: k.name(),
                color: k.color(),
            })
            .collect(),
        groups,
    }
}
