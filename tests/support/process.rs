//! A server process for a test: started with its output captured, waited
//! for until it says where it listens, killed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Whether this is a CI run (`CI` set to anything but empty, `false` or `0`),
/// where a missing tool fails a test instead of skipping it.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `true` when `available`; otherwise skips (outside CI, saying why) or
/// panics (in CI).
pub fn require(test: &str, available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !ci(),
        "{test}: {what} is missing, and CI must run this test"
    );
    eprintln!("{test}: SKIPPED: {what} is missing (CI=true makes this a failure)");
    false
}

/// Whether `program args...` runs and exits 0.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An example binary built by `cargo test` (or `cargo build --examples`):
/// `target/<profile>/examples/NAME`, beside the `deps` folder this test
/// binary is in.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example {name} not built at {}: run the tests with plain `cargo test` \
         (which builds the examples) or `cargo build --examples` first",
        path.display()
    );
    path
}

/// A running server process.
pub struct Server {
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    /// Where it said it listens.
    pub addr: SocketAddr,
}

const LISTENING: &str = "listening on http://";

impl Server {
    /// Starts `command` (its stdout and stderr captured) and waits until a
    /// line of its output says `listening on http://ADDR`.
    pub fn start(mut command: Command) -> Server {
        let program = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take().unwrap(), output.clone());
        capture(child.stderr.take().unwrap(), output.clone());
        let mut server = Server {
            child: Some(child),
            output,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(addr) = server.listening() {
                server.addr = addr;
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{program} exited ({status}) before listening:\n{}",
                    server.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{program} did not say where it listens within 20s:\n{}",
                server.output()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn listening(&self) -> Option<SocketAddr> {
        let output = self.output();
        let start = output.find(LISTENING)? + LISTENING.len();
        let rest = &output[start..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '/')?;
        rest[..end].parse().ok()
    }

    /// Everything the process wrote so far, stdout and stderr interleaved
    /// by line.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn capture(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    thread::spawn(move || {
        let mut lines = BufReader::new(stream);
        let mut line = Vec::new();
        while lines.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    });
}
