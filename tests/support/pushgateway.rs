//! Starts Debian's `prometheus-pushgateway` on a free loopback port and stops
//! it when the guard is dropped, even if the test panics.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;

/// Where Debian installs the gateway; `PUSHGATEWAY_BIN` overrides it.
const DEFAULT_BIN: &str = "/usr/bin/prometheus-pushgateway";

/// The gateway binary, if installed.
pub fn binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PUSHGATEWAY_BIN") {
        return Some(PathBuf::from(bin));
    }
    let default = Path::new(DEFAULT_BIN);
    if default.is_file() {
        return Some(default.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus-pushgateway"))
        .find(|p| p.is_file())
}

/// The gateway binary, or `None` when the test may skip: outside CI a missing
/// gateway is reported and skipped; with `CI=true` it is a failure.
pub fn binary_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(bin) = binary() {
        return Some(bin);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{test}: prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway, \
         or set PUSHGATEWAY_BIN); CI must run the differential test"
    );
    eprintln!(
        "SKIPPED {test}: prometheus-pushgateway is not installed \
         (apt-get install prometheus-pushgateway, or set PUSHGATEWAY_BIN)"
    );
    None
}

/// A running gateway, killed on drop.
pub struct Pushgateway {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Pushgateway {
    /// Starts `bin` on a free loopback port, without persistence, and waits
    /// until it answers `/-/ready`. Retries on another port if the start fails
    /// (the port can be taken between finding it and the gateway binding it).
    pub fn start(bin: &Path) -> Pushgateway {
        let mut failures = Vec::new();
        for _ in 0..5 {
            match Pushgateway::try_start(bin) {
                Ok(gw) => return gw,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "could not start {}:\n{}",
            bin.display(),
            failures.join("\n---\n")
        );
    }

    fn try_start(bin: &Path) -> Result<Pushgateway, String> {
        let addr = free_port().map_err(|e| format!("no free port: {e}"))?;
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "pushgateway-{}-{}.log",
            std::process::id(),
            addr.port()
        ));
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg(format!("--web.listen-address={addr}"))
            // Debian's default persists to /var/lib/prometheus and reloads
            // that state on start; the test needs an empty gateway.
            .arg("--persistence.file=")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        // From here on the guard owns the process: an early return kills it.
        let mut gw = Pushgateway { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = gw.child.try_wait() {
                return Err(format!(
                    "gateway on {addr} exited with {status}:\n{}",
                    gw.log_text()
                ));
            }
            if matches!(gw.get("/-/ready"), Ok(r) if r.status == 200) {
                return Ok(gw);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "gateway on {addr} not ready in 15 s:\n{}",
                    gw.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The gateway's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> std::io::Result<http::Response> {
        http::request(self.addr, "GET", path, &[], &[])
    }

    /// Every family the gateway exposes, scraped as delimited protobuf.
    /// `Err` if the scrape does not decode (the gateway passes on strings
    /// that are not UTF-8, which our decoder refuses).
    pub fn scrape(&self) -> Result<Vec<pushgate::model::MetricFamily>, String> {
        let body = self.scrape_raw();
        let families = pushgate::codec::protobuf::decode(
            body.clone().into(),
            &pushgate::codec::Limits::default(),
        )
        .map_err(|e| format!("the gateway's protobuf scrape does not decode: {e}"))?;
        // What Go wrote, we write back byte for byte.
        let mut again = Vec::new();
        pushgate::codec::protobuf::encode(&families, &mut again);
        assert!(
            again == body,
            "re-encoding the gateway's protobuf scrape changed its bytes"
        );
        Ok(families)
    }

    /// The gateway's `/metrics` as length-delimited protobuf, as Go wrote it.
    pub fn scrape_raw(&self) -> Vec<u8> {
        let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        let r = http::request(self.addr, "GET", "/metrics", &[("Accept", accept)], &[])
            .expect("scraping the gateway");
        assert_eq!(r.status, 200, "scrape failed: {}", r.text());
        r.body
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A loopback address whose port was free a moment ago.
fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}
