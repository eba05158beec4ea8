//! The `pushgate serve` binary, as an operator runs it: started on a free
//! port with the log store, pushed to and scraped over TCP, read through
//! its log, stopped with signals.

mod support {
    pub mod http;
    pub mod process;
}

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::http;
use support::process::Server;

const PUSHGATE: &str = env!("CARGO_BIN_EXE_pushgate");

const GOOD: &[u8] = b"# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n";

/// `pushgate serve` with `args`; with the log store unless `args` name a
/// store (the default, a file store in ./pushgate-data, would write into
/// the source tree).
fn serve(args: &[&str]) -> Server {
    let mut command = Command::new(PUSHGATE);
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    if !args.contains(&"--store") {
        command.args(["--store", "log"]);
    }
    command
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    Server::start(command)
}

/// Waits until the server's log contains `text`.
fn wait_for_log(server: &Server, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.output();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "{text:?} not logged:\n{log}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(unix)]
fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn help_explains_every_option() {
    let out = Command::new(PUSHGATE)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--listen",
        "--store",
        "--format",
        "--max-bytes",
        "--timeout",
        "--family",
        "--info-url",
        "--worker-threads",
        "--wal",
        "--sync",
        "--segment-size",
        "--retention-size",
        "--retention-age",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    for default in [
        "[default: 127.0.0.1:9091]",
        "[default: file:./pushgate-data]",
        "[default: text for log, protobuf for file]",
        "[default: 1024000]",
        "[default: 10s]",
        "[default: always]",
        "[default: 64MiB]",
        "the number of cores",
    ] {
        assert!(help.contains(default), "{default} missing from:\n{help}");
    }
    for word in [
        "memory:N",
        "file:DIR",
        "inbound",
        "500ms",
        "GET /healthz",
        "SIGTERM",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let out = Command::new(PUSHGATE).arg("--help").output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("serve"));
}

#[test]
fn bad_options_are_refused() {
    for (args, message) in [
        (&["--timeout", "10"][..], "needs a unit"),
        (
            &["--store", "disk"][..],
            "expected file:DIR, log, memory, memory:N, remote-write:URL or influxdb:URL?...",
        ),
        (&["--format", "xml"][..], "expected text, protobuf"),
        (
            &["--sync", "sometimes"][..],
            "expected always, never or an interval",
        ),
        (&["--segment-size", "1.5GiB"][..], "unknown unit"),
        (&["--retention-age", "7"][..], "needs a unit"),
        (
            &["--max-bytes", "lots"][..],
            "invalid value 'lots' for '--max-bytes <N>'",
        ),
    ] {
        let out = Command::new(PUSHGATE)
            .arg("serve")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn a_bind_error_is_a_message_and_a_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(PUSHGATE)
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!("pushgate serve: cannot listen on {addr}: ")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn serves_health_metrics_and_pushes_then_stops_on_sigterm() {
    let mut server = serve(&[]);
    let log = server.output();
    assert!(
        log.contains("(store log as text, families all, max 1024000 bytes, timeout 10s"),
        "{log}"
    );

    let r = http::request(server.addr, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));

    let r = http::request(
        server.addr,
        "POST",
        "/metrics/job/cli/instance/h1",
        &[],
        GOOD,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    // The log store logs what it stored: grouping labels and a timestamp.
    let log = wait_for_log(&server, "grouping={job=\"cli\",instance=\"h1\"}");
    assert!(
        log.contains("jobs_total{instance=\"h1\",job=\"cli\",queue=\"a\"} 3 "),
        "{log}"
    );
    let r = http::request(server.addr, "PATCH", "/metrics/job/cli", &[], b"").unwrap();
    assert_eq!(r.status, 405);
    // Refusals are logged with the client's address (the server's PeerAddr).
    wait_for_log(&server, "push refused peer=127.0.0.1:");

    let r = http::request(server.addr, "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
    let metrics = r.text();
    assert!(
        metrics.contains("# TYPE pushgate_pushes_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pushgate_pushes_total{outcome=\"stored\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pushgate_pushes_total{outcome=\"method_not_allowed\"} 1\n"),
        "{metrics}"
    );

    let start = Instant::now();
    signal(&server, "TERM");
    let status = server
        .wait_timeout(Duration::from_secs(3))
        .expect("still running 3s after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", server.output());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(server.output().contains("INFO pushgate::serve: stopped"));
}

#[cfg(unix)]
#[test]
fn sigterm_lets_a_push_in_flight_finish() {
    let mut server = serve(&[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /metrics/job/inflight HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        GOOD.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&GOOD[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    signal(&server, "INT");
    wait_for_log(&server, "SIGINT: no longer accepting");
    // New connections are refused ...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(server.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        server.wait_timeout(Duration::ZERO).is_none(),
        "exited early"
    );
    // ... while the push in flight is answered and stored.
    stream.write_all(&GOOD[10..]).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let r = http::parse_response(&raw).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    let status = server
        .wait_timeout(Duration::from_secs(3))
        .expect("still running after the push in flight finished");
    assert_eq!(status.code(), Some(0), "{}", server.output());
    assert!(server.output().contains("grouping={job=\"inflight\"}"));
}

#[cfg(unix)]
#[test]
fn a_second_signal_or_the_drain_deadline_forces_the_exit() {
    // A connection that never finishes its request headers is not a push
    // the gateway's timeout ends; draining waits for it until the deadline
    // (timeout + 1s), or a second signal.
    for (second, code) in [(true, 130), (false, 1)] {
        let mut server = serve(&["--timeout", "500ms"]);
        let mut stalled = TcpStream::connect(server.addr).unwrap();
        stalled
            .write_all(b"POST /metrics/job/x HTTP/1.1\r\nHost:")
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        signal(&server, "TERM");
        wait_for_log(&server, "SIGTERM: no longer accepting");
        if second {
            signal(&server, "TERM");
        }
        let status = server
            .wait_timeout(Duration::from_secs(5))
            .expect("still running 5s after SIGTERM");
        let elapsed = start.elapsed();
        let log = server.output();
        assert_eq!(status.code(), Some(code), "{log}");
        if second {
            assert!(log.contains("second SIGTERM: exiting now"), "{log}");
            assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        } else {
            assert!(
                log.contains("1 connection(s) still open after 1.5s"),
                "{log}"
            );
            assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
        }
        drop(stalled);
    }
}

#[test]
fn family_allow_list_keeps_named_families_stamped() {
    let server = serve(&[
        "--family",
        "kept",
        "--family",
        "also_kept",
        "--format",
        "text",
    ]);
    assert!(server.output().contains("families kept,also_kept"));
    let body = b"# TYPE kept gauge\nkept 1\n# TYPE dropped gauge\ndropped 2\nalso_kept 3\n";
    let r = http::request(server.addr, "POST", "/metrics/job/filtered", &[], body).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.text(), "stored 2 families, 2 series\n");
    let log = wait_for_log(&server, "grouping={job=\"filtered\"}");
    assert!(!log.contains("dropped"), "{log}");
    // Stamped: a value, then a timestamp in milliseconds.
    let line = log
        .lines()
        .find(|l| l.starts_with("kept{job=\"filtered\"} 1 "))
        .unwrap_or_else(|| panic!("{log}"));
    let stamp: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(stamp > 1_600_000_000_000, "{line}");
    assert!(log.contains("also_kept{job=\"filtered\"} 3 "), "{log}");
}

#[test]
fn info_url_redirects_reads() {
    let server = serve(&[
        "--info-url",
        "https://example.com/what-we-collect",
        "--worker-threads",
        "1",
    ]);
    let r = http::request(server.addr, "GET", "/metrics/job/x", &[], b"").unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("https://example.com/what-we-collect")
    );
    assert!(server.output().contains("1 worker thread)"));
}

/// `--store file:DIR` keeps every acknowledged push across a restart, in
/// order, with its grouping key, readable with the file store's `Reader`.
#[cfg(unix)]
#[test]
fn the_file_store_keeps_pushes_across_a_restart() {
    use pushgate::grouping::PushMethod;
    use pushgate::store::Reader;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    for (run, job) in ["first", "second"].iter().enumerate() {
        let mut server = serve(&["--store", &store]);
        let path = format!("/metrics/job/{job}");
        let r = http::request(server.addr, "POST", &path, &[], GOOD).unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
        let r = http::request(server.addr, "DELETE", &path, &[], b"").unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
        signal(&server, "TERM");
        let status = server
            .wait_timeout(Duration::from_secs(5))
            .expect("still running 5s after SIGTERM");
        assert_eq!(status.code(), Some(0), "run {run}: {}", server.output());
    }
    let records: Vec<_> = Reader::open(dir.path())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let seen: Vec<(PushMethod, String, usize)> = records
        .iter()
        .map(|r| {
            let families = r.families().unwrap();
            (r.method, r.grouping[0].value().to_owned(), families.len())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (PushMethod::Post, "first".to_owned(), 1),
            (PushMethod::Delete, "first".to_owned(), 0),
            (PushMethod::Post, "second".to_owned(), 1),
            (PushMethod::Delete, "second".to_owned(), 0),
        ]
    );
    // Stamped and grouped as the gateway stores every push.
    let stored = &records[0].families().unwrap()[0].metric[0];
    assert!(stored.timestamp_ms.is_some());
    assert!(stored
        .label
        .iter()
        .any(|l| l.name() == "job" && l.value() == "first"));

    // `pushgate dump` prints the same, filtered by job.
    let dump = |args: &[&str]| {
        let out = Command::new(PUSHGATE)
            .arg("dump")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = dump(&["--job", "second"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("# position=2 received=20")
            && lines[0].ends_with(" method=POST grouping={job=\"second\"}"),
        "{text}"
    );
    assert_eq!(lines[1], "# TYPE jobs_total counter");
    assert!(
        lines[2].starts_with("jobs_total{job=\"second\",queue=\"a\"} 3 "),
        "{text}"
    );
    assert!(
        lines[3].starts_with("# position=3 ") && lines[3].contains(" method=DELETE "),
        "{text}"
    );
    let json = dump(&["--format", "json", "--since", "1h"]);
    assert_eq!(json.lines().count(), 4, "{json}");
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["position"], 0);
    assert_eq!(first["grouping"]["job"], "first");
    assert_eq!(first["families"][0]["name"], "jobs_total");
    // A directory that is not a store is a clear error.
    let out = Command::new(PUSHGATE)
        .args(["dump", "/nonexistent/pushgate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("pushgate dump: /nonexistent/pushgate: "),
        "{err}"
    );
}

/// The file store under load, killed with SIGKILL mid-push and restarted:
/// every push that was answered 202 is in the log once, undamaged, and the
/// restarted gateway recovers the log and keeps appending.
#[cfg(unix)]
#[test]
fn the_file_store_keeps_every_acknowledged_push_through_sigkill() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use pushgate::store::Reader;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let mut server = serve(&["--store", &store]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let pushers: Vec<_> = (0..8)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut seq = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/metrics/job/crash/t/{t}/seq/{seq}");
                    match http::request(addr, "POST", &path, &[], GOOD) {
                        Ok(r) if r.status == 202 => acked.push((t, seq)),
                        // The kill: refused connections, cut responses.
                        _ => break,
                    }
                    seq += 1;
                }
                acked
            })
        })
        .collect();
    // Let the pushers get going, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Reader::open(dir.path()).unwrap().count() < 50 {
        assert!(
            Instant::now() < deadline,
            "no pushes stored:\n{}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&server, "KILL");
    let _ = server.wait_timeout(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u32, u32)> = pushers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    assert!(!acked.is_empty());

    // Restarted on the same log: recovers, and takes pushes again.
    let mut server = serve(&["--store", &store]);
    let r = http::request(server.addr, "POST", "/metrics/job/after", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    signal(&server, "TERM");
    let status = server.wait_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(status.code(), Some(0), "{}", server.output());

    let mut stored = HashSet::new();
    let mut after = 0;
    for record in Reader::open(dir.path()).unwrap() {
        let record = record.expect("every record in the log reads back whole");
        let families = record.families().expect("and decodes");
        let key: Vec<&str> = record.grouping.iter().map(|l| l.value()).collect();
        match key[..] {
            ["crash", t, s] => {
                assert_eq!(families.len(), 1);
                let id = (t.parse::<u32>().unwrap(), s.parse::<u32>().unwrap());
                assert!(stored.insert(id), "{id:?} stored twice");
            }
            ["after"] => after += 1,
            _ => panic!("unexpected record {key:?}"),
        }
    }
    assert_eq!(after, 1);
    for id in &acked {
        assert!(
            stored.contains(id),
            "{id:?} was answered 202 but is not in the log"
        );
    }
}

/// With no `--store`, `pushgate serve` keeps pushes in ./pushgate-data, as
/// the README's first command does.
#[cfg(unix)]
#[test]
fn the_default_store_is_a_file_store_in_the_working_directory() {
    use pushgate::store::Reader;

    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(PUSHGATE);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("PUSHGATE_STORE");
    let mut server = Server::start(command);
    assert!(
        server.output().contains("(store file:./pushgate-data, "),
        "{}",
        server.output()
    );
    let r = http::request(server.addr, "POST", "/metrics/job/default", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    signal(&server, "TERM");
    assert_eq!(
        server.wait_timeout(Duration::from_secs(5)).unwrap().code(),
        Some(0)
    );
    let records: Vec<_> = Reader::open(dir.path().join("pushgate-data"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].grouping[0].value(), "default");
}

/// `pushgate dump --follow` prints pushes as they arrive.
#[cfg(unix)]
#[test]
fn dump_follow_tails_new_pushes() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let server = serve(&["--store", &store]);
    let r = http::request(server.addr, "POST", "/metrics/job/before", &[], GOOD).unwrap();
    assert_eq!(r.status, 202);
    let mut dump = Command::new(PUSHGATE)
        .args(["dump", "--follow"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog: a dump that stops printing fails the test, not hangs it.
    let pid = dump.id().to_string();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        // Only while the dump is ours: its pid is not reused before `wait`.
        if !finished.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    let mut lines = BufReader::new(dump.stdout.take().unwrap()).lines();
    let mut next_header = || loop {
        let line = lines.next().expect("dump ended").unwrap();
        if line.starts_with("# position=") {
            return line;
        }
    };
    assert!(next_header().ends_with("grouping={job=\"before\"}"));
    let r = http::request(server.addr, "POST", "/metrics/job/during", &[], GOOD).unwrap();
    assert_eq!(r.status, 202);
    assert!(next_header().ends_with("grouping={job=\"during\"}"));
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    dump.kill().unwrap();
    dump.wait().unwrap();
}

/// The records of the file store in `dir`, by job.
fn jobs_in(dir: &std::path::Path) -> Vec<String> {
    pushgate::store::Reader::open(dir)
        .unwrap()
        .map(|r| r.unwrap().grouping[0].value().to_owned())
        .collect()
}

/// Waits until the one forwarder of the write-ahead log in `dir` has
/// delivered every record before `position`.
fn wait_for_position(dir: &std::path::Path, position: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let saved = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "position"))
            .and_then(|p| std::fs::read_to_string(p).ok());
        if saved.as_deref() == Some(&format!("{position}\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "position {saved:?} after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(mut server: Server) {
    signal(&server, "TERM");
    let status = server
        .wait_timeout(Duration::from_secs(5))
        .expect("still running 5s after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", server.output());
}

#[cfg(unix)]
#[test]
fn two_stores_each_get_every_push() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store_a, store_b) = (
        format!("file:{}", a.path().display()),
        format!("file:{}", b.path().display()),
    );
    let server = serve(&["--store", &store_a, "--store", &store_b]);
    assert!(
        server
            .output()
            .contains(&format!("(store all of {store_a}, {store_b}, ")),
        "{}",
        server.output()
    );
    for job in ["one", "two"] {
        let path = format!("/metrics/job/{job}");
        let r = http::request(server.addr, "PUT", &path, &[], GOOD).unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
    }
    stop(server);
    assert_eq!(jobs_in(a.path()), ["one", "two"]);
    assert_eq!(jobs_in(b.path()), ["one", "two"]);
}

/// `--wal`: acknowledged once in the log, forwarded to the store in the
/// background, and resumed from the kept position after a restart.
#[cfg(unix)]
#[test]
fn the_wal_forwards_to_the_stores_and_resumes_after_a_restart() {
    let (wal, target) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let wal_dir = wal.path().to_str().unwrap();
    let store = format!("file:{}", target.path().display());
    let server = serve(&["--wal", wal_dir, "--store", &store]);
    assert!(
        server
            .output()
            .contains(&format!("as a write-ahead log, forwarding to {store}")),
        "{}",
        server.output()
    );
    for job in ["a", "b", "c"] {
        let path = format!("/metrics/job/{job}");
        let r = http::request(server.addr, "POST", &path, &[], GOOD).unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
    }
    // Delivered once the forwarder's position says so (a reader of the
    // target's files may see a record before its write is acknowledged).
    wait_for_position(wal.path(), 3);
    assert_eq!(jobs_in(target.path()), ["a", "b", "c"]);
    stop(server);
    assert_eq!(jobs_in(wal.path()), ["a", "b", "c"]);

    // Restarted: what arrives next is forwarded, and nothing again.
    let server = serve(&["--wal", wal_dir, "--store", &store]);
    let r = http::request(server.addr, "POST", "/metrics/job/d", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    wait_for_position(wal.path(), 4);
    stop(server);
    assert_eq!(jobs_in(target.path()), ["a", "b", "c", "d"]);

    // A WAL with nothing to forward to is refused.
    let out = Command::new(PUSHGATE)
        .args(["serve", "--listen", "127.0.0.1:0", "--wal", wal_dir])
        .env_remove("PUSHGATE_STORE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--wal needs at least one --store to forward to"));
    let out = Command::new(PUSHGATE)
        .args(["serve", "--listen", "127.0.0.1:0", "--wal", wal_dir])
        .args(["--store", "memory", "--format", "line"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--wal cannot keep pushes as line protocol")
    );
}

#[test]
fn a_second_gateway_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().display());
    let server = serve(&["--store", &store]);
    let out = Command::new(PUSHGATE)
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is in use by another file store (its LOCK file is locked)"),
        "{err}"
    );
    // The first one is unharmed.
    let r = http::request(server.addr, "POST", "/metrics/job/x", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    drop(server);
}

/// A tmpfs of `size`, unmounted on drop.
#[cfg(target_os = "linux")]
struct Tmpfs(tempfile::TempDir);

#[cfg(target_os = "linux")]
impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = support::process::runs(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                dir.path().to_str()?,
            ],
        );
        mounted.then_some(Tmpfs(dir))
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// A full disk: pushes get 507 with the reason, nothing of them is kept,
/// and the gateway takes pushes again once space is freed.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_gets_507_and_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("1m") else {
        support::process::require(
            "a_full_disk_gets_507_and_recovers_when_space_returns",
            false,
            "mounting a tmpfs (root)",
        );
        return;
    };
    let data = fs.0.path().join("data");
    let store = format!("file:{}", data.display());
    let server = serve(&["--store", &store]);
    let r = http::request(server.addr, "POST", "/metrics/job/before", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    // Fill the file system.
    let ballast = fs.0.path().join("ballast");
    let mut file = std::fs::File::create(&ballast).unwrap();
    let chunk = vec![0u8; 4096];
    while file
        .write_all(&chunk)
        .and_then(|()| file.sync_all())
        .is_ok()
    {}
    drop(file);
    // Larger than what is left of the segment's last page.
    let mut big = String::from("# TYPE jobs_total counter\n");
    for i in 0..400 {
        big.push_str(&format!("jobs_total{{queue=\"q{i}\"}} {i}\n"));
    }
    for _ in 0..3 {
        let r = http::request(
            server.addr,
            "POST",
            "/metrics/job/full",
            &[],
            big.as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 507, "{}", r.text());
        assert_eq!(
            r.text(),
            "store out of space: no space left on device writing segment 00000000000000000000.seg\n"
        );
    }
    std::fs::remove_file(&ballast).unwrap();
    let r = http::request(server.addr, "POST", "/metrics/job/after", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    stop(server);
    assert_eq!(jobs_in(&data), ["before", "after"]);
}
