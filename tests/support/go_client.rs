//! The real Go client: `tests/go/push/main.go`, a pusher written with
//! client_golang's `push` package, built from Debian's packaged sources and
//! run against a gateway.
//!
//! The machine reaches no Go module proxy, so the program builds offline
//! in GOPATH mode from what `golang-github-prometheus-client-golang-dev`
//! (and the `-dev` packages it depends on) install under
//! `/usr/share/gocode/src`, with Debian's `golang-go`:
//! `GO111MODULE=off GOPATH=/usr/share/gocode go build`. Nothing of the
//! user's Go setup is read (`GOENV=off`, `GOFLAGS` emptied), nothing is
//! fetched (`GOPROXY=off`, `GOTOOLCHAIN=local`). Cgo stays on, Go's
//! default: Debian ships the standard library precompiled that way, and
//! `CGO_ENABLED=0` would rebuild it (a cold build 2-3 times slower); the C
//! compiler it needs is there wherever Rust links (`cc`).
//!
//! Build once, run often: the binary is kept in the target directory under
//! a name keyed by a hash of `main.go`, the Go version and client_golang's
//! `push.go`, so every test process (and every later `cargo test`) reuses
//! it until one of those changes; within a process a `OnceLock` holds it.
//! Go's build cache sits beside it: a cold build takes some seconds, a
//! rebuild after editing `main.go` well under one.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use super::process;

/// Debian's GOPATH: `golang-*-dev` packages install their sources under
/// its `src`.
const GOPATH: &str = "/usr/share/gocode";

/// client_golang's push package, as Debian installs it.
const PUSH_GO: &str =
    "/usr/share/gocode/src/github.com/prometheus/client_golang/prometheus/push/push.go";

/// The Go program, relative to the crate.
const MAIN_GO: &str = "tests/go/push/main.go";

/// What to install when [`available`] is false, for skip messages.
pub const WHAT: &str = "Go with client_golang (apt-get install golang-go \
                        golang-github-prometheus-client-golang-dev)";

/// Whether the Go pusher can be built: `go` runs and Debian's client_golang
/// sources are installed.
pub fn available() -> bool {
    Path::new(PUSH_GO).is_file() && process::runs("go", &["version"])
}

/// Pushes the Go program's fixed metrics to `url` (the gateway's base URL,
/// without `/metrics`) as client_golang does, and returns the finished
/// process: status 0 on success; 1 with client_golang's error on stderr
/// (the gateway's status code and body) when the gateway refused.
///
/// `method`: `push` (`Pusher.Push`, PUT), `add` (`Pusher.Add`, POST) or
/// `delete` (`Pusher.Delete`). `format`: `protobuf` (client_golang's
/// default, delimited) or `text` (`Pusher.Format(expfmt.FmtText)`).
/// `grouping` adds labels to the grouping key after `job`, which
/// client_golang keeps in a map: their order in the URL is random.
pub fn push(url: &str, job: &str, grouping: &[(&str, &str)], method: &str, format: &str) -> Output {
    let mut command = Command::new(binary());
    command
        .args([
            "-url", url, "-job", job, "-method", method, "-format", format,
        ])
        .stdin(Stdio::null());
    for (name, value) in grouping {
        command.arg("-grouping").arg(format!("{name}={value}"));
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("running the Go pusher: {e}"))
}

/// Like [`push`], panicking with the Go program's stderr unless it
/// succeeded.
pub fn push_ok(url: &str, job: &str, grouping: &[(&str, &str)], method: &str, format: &str) {
    let out = push(url, job, grouping, method, format);
    assert!(
        out.status.success(),
        "the Go pusher ({method}, {format}) failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The built Go pusher, built on first use. Call only when [`available`].
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build)
}

fn build() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let main_go = crate_dir.join(MAIN_GO);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let go_version = Command::new("go")
        .arg("version")
        .output()
        .unwrap_or_else(|e| panic!("running `go version`: {e}"))
        .stdout;
    let mut key = DefaultHasher::new();
    for part in [
        std::fs::read(&main_go).unwrap_or_else(|e| panic!("{}: {e}", main_go.display())),
        go_version,
        std::fs::read(PUSH_GO).unwrap_or_else(|e| panic!("{PUSH_GO}: {e}")),
    ] {
        part.hash(&mut key);
    }
    let binary = tmp.join(format!("go-push-{:016x}", key.finish()));
    if binary.is_file() {
        return binary;
    }

    // Several test processes may build at once: each writes its own file
    // and renames it into place (atomic), so none runs a half-written one.
    let partial = tmp.join(format!("go-push-{}.partial", std::process::id()));
    let started = Instant::now();
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&partial)
        .arg(&main_go)
        .current_dir(crate_dir)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        // Go's build cache is safe to share between concurrent builds.
        .env("GOCACHE", tmp.join("go-build-cache"))
        .env("GOENV", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running `go build`: {e}"));
    assert!(
        out.status.success(),
        "go build {MAIN_GO} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &binary)
        .unwrap_or_else(|e| panic!("{} -> {}: {e}", partial.display(), binary.display()));
    eprintln!(
        "built the Go pusher in {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        binary.display()
    );
    binary
}
