//! End-to-end push load: pushgate and the Prometheus Pushgateway side by side,
//! same payloads, same load, each server pinned to one core.
//!
//! Run: `cargo bench --bench e2e` (builds the `pushgate` binary too; a plain
//! `target/release/pushgate` from `cargo build --release` is used as well).
//! Scenarios can be filtered by substring of `server/format/conns/groups`,
//! e.g. `cargo bench --bench e2e -- pushgateway/text`.
//!
//! For each format (protobuf, text) and connection count (1, 32), each server
//! is started fresh and empty on a free loopback port, pinned with
//! `taskset -c $E2E_SERVER_CPU` (default 1) — the Pushgateway with
//! `GOMAXPROCS=1`, pushgate with `TOKIO_WORKER_THREADS=1` — and stopped
//! (killed) afterwards. The load generator (`support/load.rs`) pins itself to
//! `$E2E_CLIENT_CPU` (default 0) on a single-threaded tokio runtime. Each
//! connection POSTs the medium payload back to back, to its own group
//! `/metrics/job/bench/conn/c<k>` (32 groups, as 32 independent pushers), then
//! again with all connections on one group `/metrics/job/bench`: the
//! Pushgateway's cost per push grows with what it already holds, so the two
//! differ by an order of magnitude for it.
//!
//! Environment:
//! - `E2E_SECS` (10) measured seconds, `E2E_WARMUP_SECS` (1) before them
//! - `E2E_CONNS` (`1,32`), `E2E_FORMATS` (`protobuf,text`),
//!   `E2E_SIZE` (`medium`; or `small`, `large`)
//! - `E2E_GROUPS` (`conn,shared`): `conn` gives connection k its own group
//!   `/metrics/job/bench/conn/c<k>`; `shared` sends every push to the one
//!   group `/metrics/job/bench` (skipped at 1 connection, the same as `conn`)
//! - `E2E_SERVERS` (`pushgateway,pushgate`)
//! - `E2E_PUSHGATEWAY` (`/usr/bin/prometheus-pushgateway`)
//! - `E2E_PUSHGATE` (the `pushgate` built beside this bench),
//!   `E2E_PUSHGATE_STORE` (`memory:1024`), `E2E_PUSHGATE_ARGS` (extra
//!   arguments to `pushgate serve`, split on whitespace)
//! - `E2E_SERVER_CPU` (1), `E2E_CLIENT_CPU` (0); `none` to leave unpinned
//!
//! This is a benchmark: it reports, it asserts nothing about time. A run with
//! failed pushes says so and its numbers are marked.

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

#[path = "support/load.rs"]
mod load;
#[path = "support/payload.rs"]
mod payload;

const PUSHGATE_READY: Duration = Duration::from_secs(5);
const PUSHGATEWAY_READY: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pushgateway,
    Pushgate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pushgateway => "pushgateway",
            Kind::Pushgate => "pushgate",
        }
    }

    fn health_path(self) -> &'static str {
        match self {
            Kind::Pushgateway => "/-/healthy",
            Kind::Pushgate => "/healthz",
        }
    }
}

struct Config {
    secs: Duration,
    warmup: Duration,
    conns: Vec<usize>,
    groups: Vec<Groups>,
    formats: Vec<Format>,
    size: payload::Size,
    servers: Vec<Kind>,
    pushgateway: PathBuf,
    pushgate: PathBuf,
    pushgate_store: String,
    pushgate_args: Vec<String>,
    server_cpu: Option<String>,
    client_cpu: Option<String>,
    filters: Vec<String>,
    logs: PathBuf,
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
        let size = env_or("E2E_SIZE", "medium");
        let size = payload::SIZES
            .into_iter()
            .find(|s| s.name == size)
            .unwrap_or_else(|| panic!("E2E_SIZE={size:?}: small, medium or large"));
        // Cargo sets CARGO_BIN_EXE_<name> for benches as for integration tests
        // (and builds the binary first); fall back on the profile directory.
        let pushgate = std::env::var_os("E2E_PUSHGATE")
            .map(PathBuf::from)
            .or_else(|| option_env!("CARGO_BIN_EXE_pushgate").map(PathBuf::from))
            .unwrap_or_else(|| profile_dir().join("pushgate"));
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
            size,
            servers: list("E2E_SERVERS", "pushgateway,pushgate")
                .iter()
                .map(|s| match s.as_str() {
                    "pushgateway" => Kind::Pushgateway,
                    "pushgate" => Kind::Pushgate,
                    other => panic!("E2E_SERVERS: unknown server {other:?}"),
                })
                .collect(),
            pushgateway: env_or("E2E_PUSHGATEWAY", "/usr/bin/prometheus-pushgateway").into(),
            pushgate,
            pushgate_store: env_or("E2E_PUSHGATE_STORE", "memory:1024"),
            pushgate_args: env_or("E2E_PUSHGATE_ARGS", "")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            server_cpu: cpu("E2E_SERVER_CPU", "1"),
            client_cpu: cpu("E2E_CLIENT_CPU", "0"),
            // `cargo bench` passes `--bench`; other arguments filter scenarios.
            filters: std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect(),
            logs: profile_dir()
                .parent()
                .map_or_else(std::env::temp_dir, Path::to_owned)
                .join("e2e-logs"),
        }
    }

    fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

/// A free loopback port (bound and released; the server binds it next).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
}

/// A running server; killed and reaped on drop.
struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
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

    /// Starts `kind` pinned to the server core and waits until it is healthy.
    async fn start(kind: Kind, cfg: &Config) -> Result<Server, String> {
        let addr = free_addr();
        let (program, args, env): (&Path, Vec<String>, (&str, &str)) = match kind {
            Kind::Pushgateway => (
                &cfg.pushgateway,
                vec![
                    format!("--web.listen-address={addr}"),
                    // Without it the Debian build loads and saves /var/lib state.
                    "--persistence.file=".into(),
                ],
                ("GOMAXPROCS", "1"),
            ),
            Kind::Pushgate => {
                let mut args = vec![
                    "serve".into(),
                    "--listen".into(),
                    addr.to_string(),
                    "--store".into(),
                    cfg.pushgate_store.clone(),
                ];
                args.extend(cfg.pushgate_args.iter().cloned());
                (&cfg.pushgate, args, ("TOKIO_WORKER_THREADS", "1"))
            }
        };
        if !program.exists() {
            return Err(format!("{} not found", program.display()));
        }
        std::fs::create_dir_all(&cfg.logs).map_err(|e| e.to_string())?;
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
            .env(env.0, env.1)
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
        };
        let limit = match kind {
            Kind::Pushgateway => PUSHGATEWAY_READY,
            Kind::Pushgate => PUSHGATE_READY,
        };
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "`{} {}` exited ({status}):\n    {}",
                    program.display(),
                    args.join(" "),
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
                    "`{} {}` not healthy within {limit:?} ({last}):\n    {}",
                    program.display(),
                    args.join(" "),
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

struct Outcome {
    report: load::Report,
    usage: Usage,
}

impl Outcome {
    /// Pushes per second of server CPU: less sensitive than push/s to other
    /// processes taking the server's core.
    fn per_cpu_sec(&self) -> f64 {
        self.report.pushes_per_sec() / self.usage.server_cpu.max(1e-9)
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}ms", d.as_secs_f64() * 1e3))
}

fn print_outcome(name: &str, o: &Outcome) {
    let r = &o.report;
    println!(
        "{name:<28} {:>9.1} push/s  p50 {:>10}  p99 {:>10}  {:>7.1} MB/s  n={:<6} \
         srv cpu {:>3.0}% wait {:>3.0}% {:>8.1} push/cpu-s  gen cpu {:>3.0}%",
        r.pushes_per_sec(),
        ms(r.percentile(0.50)),
        ms(r.percentile(0.99)),
        r.bytes_per_sec() / 1e6,
        r.latencies.len(),
        o.usage.server_cpu * 100.0,
        o.usage.server_wait * 100.0,
        o.per_cpu_sec(),
        o.usage.client_cpu * 100.0,
    );
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
    format: Format,
    conns: usize,
    groups: Groups,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.format, self.conns, self.groups.name())
    }
}

async fn scenario(cfg: &Config, kind: Kind, case: Case, body: &Bytes) -> Result<Outcome, String> {
    let mut server = Server::start(kind, cfg).await?;
    let load = load::Load {
        addr: server.addr,
        path: case.groups.path(),
        method: Method::POST,
        content_type: case.format.content_type(),
        body: body.clone(),
        connections: case.conns,
        warmup: cfg.warmup,
        duration: cfg.secs,
        request_timeout: Duration::from_secs(30),
    };
    let start = Instant::now();
    let from = start + cfg.warmup;
    let (report, usage) = tokio::join!(load.run(start), probe(server.pid(), from, from + cfg.secs));
    if let Ok(Some(status)) = server.child.try_wait() {
        return Err(format!(
            "{} exited during the run ({status}):\n    {}",
            server.kind.name(),
            server.log_tail()
        ));
    }
    Ok(Outcome { report, usage })
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

fn main() {
    let cfg = Config::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match &cfg.client_cpu {
        Some(cpu) => match pin_self(cpu) {
            Ok(()) => println!("load generator: pinned to cpu {cpu}, one tokio thread"),
            Err(e) => println!("load generator: NOT pinned ({e}), one tokio thread"),
        },
        None => println!("load generator: unpinned, one tokio thread"),
    }
    match &cfg.server_cpu {
        Some(cpu) => println!(
            "servers: pinned to cpu {cpu} with taskset; Pushgateway GOMAXPROCS=1, \
             pushgate TOKIO_WORKER_THREADS=1; fresh and empty for each scenario"
        ),
        None => println!("servers: unpinned; fresh and empty for each scenario"),
    }
    if cores < 2 {
        println!("!!! {cores} core(s) available: generator and server share a core");
    }
    println!("pushgate: {}", cfg.pushgate.display());
    let families = payload::families(cfg.size);
    let samples = payload::samples(&families);
    let bodies: Vec<(Format, Bytes)> = cfg
        .formats
        .iter()
        .map(|&f| {
            let mut out = Vec::new();
            codec::encode(f, &families, &mut out).expect("encode payload");
            println!(
                "payload {} {f}: {} bytes, {samples} samples",
                cfg.size.name,
                out.len()
            );
            (f, Bytes::from(out))
        })
        .collect();
    println!(
        "load: N keep-alive HTTP/1.1 connections POSTing back to back, {:?} warm-up + {:?} measured",
        cfg.warmup, cfg.secs
    );
    println!(
        "groups: `conn` = connection k pushes to /metrics/job/bench/conn/c<k>, one group each, as \
         independent pushers do (not `instance`: the payload's series carry instance labels, \
         which a grouping label overwrites into duplicates the Pushgateway rejects); \
         `shared` = all to /metrics/job/bench, one group overwritten by every push\n"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results: Vec<(Kind, Case, Option<Outcome>)> = Vec::new();
    let mut skipped: Vec<(Kind, String)> = Vec::new();
    runtime.block_on(async {
        for &groups in &cfg.groups {
            for (format, body) in &bodies {
                for &conns in &cfg.conns {
                    if groups == Groups::Shared && conns == 1 && cfg.groups.len() > 1 {
                        continue; // one connection, one group: the `conn` case again
                    }
                    let case = Case {
                        format: *format,
                        conns,
                        groups,
                    };
                    for &kind in &cfg.servers {
                        let name = format!("{}/{case}", kind.name());
                        if !cfg.selected(&name) {
                            continue;
                        }
                        if skipped.iter().any(|(k, _)| *k == kind) {
                            results.push((kind, case, None));
                            continue;
                        }
                        match scenario(&cfg, kind, case, body).await {
                            Ok(outcome) => {
                                print_outcome(&name, &outcome);
                                results.push((kind, case, Some(outcome)));
                            }
                            Err(why) => {
                                println!("SKIPPING {}: {why}", kind.name());
                                if kind == Kind::Pushgate {
                                    println!(
                                        "    (needs `pushgate serve --listen ADDR --store {}` \
                                         answering GET /healthz with 200; build it with \
                                         `cargo build --release` or run via `cargo bench`)",
                                        cfg.pushgate_store
                                    );
                                }
                                skipped.push((kind, why));
                                results.push((kind, case, None));
                            }
                        }
                    }
                }
            }
        }
    });
    println!("\n{}", table(&results));
    let failed: u64 = results
        .iter()
        .filter_map(|(_, _, o)| o.as_ref())
        .map(|o| o.report.failures)
        .sum();
    if failed > 0 {
        println!("!!! {failed} pushes FAILED across the run: see the lines marked !!! above");
    }
    for (kind, why) in &skipped {
        println!("skipped {}: {why}", kind.name());
    }
}

fn table(results: &[(Kind, Case, Option<Outcome>)]) -> String {
    let mut cases: Vec<Case> = Vec::new();
    for (_, case, _) in results {
        if !cases.contains(case) {
            cases.push(*case);
        }
    }
    let find = |kind, case| {
        results
            .iter()
            .find(|(k, c, _)| *k == kind && *c == case)
            .and_then(|(_, _, o)| o.as_ref())
    };
    let cell = |o: Option<&Outcome>| match o {
        Some(o) => format!(
            "{:>9.1} {:>11}{}",
            o.report.pushes_per_sec(),
            ms(o.report.percentile(0.99)),
            if o.report.failures > 0 { "!" } else { " " }
        ),
        None => format!("{:>22}", "-"),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:>5} {:>6} | {:>22} | {:>22} | {:>8} {:>8} {:>8}",
        "format",
        "conns",
        "groups",
        "Pushgateway push/s p99",
        "pushgate push/s p99",
        "x push/s",
        "x p99",
        "x cpu-s"
    );
    let _ = writeln!(out, "{}", "-".repeat(107));
    for case in cases {
        let (g, p) = (find(Kind::Pushgateway, case), find(Kind::Pushgate, case));
        let ratio = match (p, g) {
            (Some(p), Some(g)) => {
                let r = p.report.pushes_per_sec() / g.report.pushes_per_sec();
                let l = match (p.report.percentile(0.99), g.report.percentile(0.99)) {
                    (Some(a), Some(b)) => format!("{:.3}", a.as_secs_f64() / b.as_secs_f64()),
                    _ => "-".into(),
                };
                let c = p.per_cpu_sec() / g.per_cpu_sec();
                format!("{r:>8.2} {l:>8} {c:>8.2}")
            }
            _ => format!("{:>8} {:>8} {:>8}", "-", "-", "-"),
        };
        let _ = writeln!(
            out,
            "{:<9} {:>5} {:>6} | {} | {} | {}",
            case.format.name(),
            case.conns,
            case.groups.name(),
            cell(g),
            cell(p),
            ratio
        );
    }
    let _ = write!(
        out,
        "x = pushgate / Pushgateway: push/s and push per server CPU-second (cpu-s) higher is \
         better, p99 lower is better; ! = had failed pushes; - = not run or skipped\n\
         wait = time the server was runnable but another process had its core: high wait, \
         noisy numbers"
    );
    out
}
