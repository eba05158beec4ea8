//! The `pushgate push` binary, as a cron script runs it: metrics from a
//! file or stdin pushed to pushgate's gateway (in this process, on a free
//! loopback port), to a recording server that checks what went over the
//! wire, and over mutual TLS; its exit status and stderr checked.

mod support {
    pub mod inproc;
    pub mod tls;
}

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pushgate::codec::{self, Limits};
use pushgate::grouping::PushMethod;
use pushgate::model::{LabelPair, MetricFamily};
use pushgate::store::Push;
use pushgate::Format;

use support::inproc::Gateway;

const PUSHGATE: &str = env!("CARGO_BIN_EXE_pushgate");

const TEXT: &str = "\
# HELP jobs_total Jobs run.
# TYPE jobs_total counter
jobs_total{queue=\"a\"} 3
jobs_total{queue=\"b/c\"} 5
# HELP backup_last_success_seconds When the last backup succeeded.
# TYPE backup_last_success_seconds gauge
backup_last_success_seconds 1.7e+09
";

/// What a run of the binary did.
struct Run {
    code: Option<i32>,
    stderr: String,
}

impl Run {
    fn expect(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "stderr:\n{}", self.stderr);
        self
    }

    /// The last line of stderr: the summary or the error.
    fn last_line(&self) -> &str {
        self.stderr.lines().last().unwrap_or("")
    }
}

/// `pushgate push ARGS`, with `stdin` piped in (none: /dev/null), none of
/// the push environment variables but those in `env`, and no `RUST_LOG`
/// unless `env` sets it.
fn push(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(PUSHGATE);
    command.arg("push").args(args);
    for var in [
        "PUSHGATE_URL",
        "PUSHGATE_BEARER_TOKEN",
        "PUSHGATE_BASIC_AUTH",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.env("NO_COLOR", "1").envs(env.iter().copied());
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "stdout is for nothing");
    Run {
        code: out.status.code(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A file of this test run holding `contents`.
fn file(name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli_push-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn decode(format: Format, body: &str) -> Vec<MetricFamily> {
    codec::decode(format, Bytes::from(body.to_owned()), &Limits::default()).unwrap()
}

/// `families` as the gateway stores them: every metric with the grouping
/// labels, labels sorted.
fn as_stored(mut families: Vec<MetricFamily>, grouping: &[(&str, &str)]) -> Vec<MetricFamily> {
    for family in &mut families {
        for metric in &mut family.metric {
            metric
                .label
                .extend(grouping.iter().map(|(n, v)| LabelPair::new(*n, *v)));
            metric.label.sort();
        }
    }
    families
}

/// The families of a stored message, the gateway's timestamps removed,
/// labels sorted.
fn stored_families(message: &Push) -> Vec<MetricFamily> {
    let mut families = message.families.clone();
    for family in &mut families {
        for metric in &mut family.metric {
            assert!(metric.timestamp_ms.take().is_some(), "the gateway stamps");
            metric.label.sort();
        }
    }
    families
}

fn grouping(message: &Push) -> Vec<(&str, &str)> {
    message
        .grouping
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect()
}

/// A listener that never accepts: whether anything connected to it tells
/// whether a run sent anything.
struct Silent {
    listener: TcpListener,
}

impl Silent {
    fn new() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Silent { listener }
    }

    fn url(&self) -> String {
        format!("http://{}", self.listener.local_addr().unwrap())
    }

    /// Panics if anything connected (the kernel completes a connection
    /// into the backlog whether or not it is accepted).
    fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{peer} connected: something was sent"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn help_explains_every_option() {
    // The secrets' environment values stay out of the help.
    let out = Command::new(PUSHGATE)
        .args(["push", "--help"])
        .env("PUSHGATE_BEARER_TOKEN", "s3cret-token")
        .env("PUSHGATE_BASIC_AUTH", "user:s3cret-password")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut options = vec![
        "--url",
        "--job",
        "--label",
        "--method",
        "--format",
        "--input-format",
        "--timeout",
        "--attempts",
        "--gzip",
        "--bearer-token",
        "--basic-auth",
        "--header",
        "[FILE]",
    ];
    if cfg!(feature = "rustls") {
        options.extend(["--ca-cert", "--client-cert", "--client-key"]);
    }
    for option in options {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
    for text in [
        "[env: PUSHGATE_URL=]",
        "[env: PUSHGATE_BEARER_TOKEN]",
        "[env: PUSHGATE_BASIC_AUTH]",
        "[default: post]",
        "[default: protobuf]",
        "[default: auto]",
        "[default: 10s]",
        "[default: 3]",
        "/metrics/job/<JOB>",
        "@base64",
        "NAME=VALUE",
        "# EOF",
        "Retry-After",
        "429 or 5xx",
        "delete: DELETE",
        "Exit status: 0",
        "RUST_LOG",
    ] {
        assert!(help.contains(text), "{text:?} missing from:\n{help}");
    }
    assert!(!help.contains("s3cret"), "{help}");
    let out = Command::new(PUSHGATE).arg("--help").output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("push"));
}

#[test]
fn pushes_a_text_file_as_protobuf() {
    let gateway = Gateway::start();
    let input = file("text.txt", TEXT);
    let run = push(
        &[
            "--url",
            &gateway.url(),
            "--job",
            "cli",
            input.to_str().unwrap(),
        ],
        None,
        &[],
    );
    run.expect(0);
    let families = decode(Format::Text, TEXT);
    let mut protobuf = Vec::new();
    codec::encode(Format::Protobuf, &families, &mut protobuf).unwrap();
    assert_eq!(
        run.stderr,
        format!(
            "pushed 2 families ({} bytes) to {}/metrics/job/cli: 202 Accepted\n",
            protobuf.len(),
            gateway.url()
        )
    );
    let messages = gateway.store.pushes();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].method, PushMethod::Post);
    assert_eq!(grouping(&messages[0]), [("job", "cli")]);
    assert_eq!(
        stored_families(&messages[0]),
        as_stored(families, &[("job", "cli")])
    );
}

#[test]
fn pushes_stdin_with_put_in_every_wire_format() {
    let gateway = Gateway::start();
    let url = gateway.url();
    for (format, gzip, dash) in [
        ("text", false, true),
        ("openmetrics", true, false),
        ("protobuf", true, true),
    ] {
        let mut args = vec!["--url", &url, "--job", "stdin", "--method", "put"];
        args.extend(["--format", format]);
        if gzip {
            args.push("--gzip");
        }
        // `-` and no FILE both read stdin.
        if dash {
            args.push("-");
        }
        let run = push(&args, Some(TEXT.as_bytes()), &[]);
        run.expect(0);
        assert!(
            run.last_line().starts_with("pushed 2 families (")
                && run
                    .last_line()
                    .ends_with(&format!("to {url}/metrics/job/stdin: 202 Accepted")),
            "{format}: {}",
            run.stderr
        );
        let message = gateway.store.take().pop().unwrap();
        assert_eq!(message.method, PushMethod::Put, "{format}");
        assert_eq!(
            stored_families(&message),
            as_stored(decode(Format::Text, TEXT), &[("job", "stdin")]),
            "{format} gzip={gzip}"
        );
    }
}

#[test]
fn openmetrics_input_is_detected_by_its_eof() {
    let gateway = Gateway::start();
    let openmetrics = "\
# TYPE jobs counter
# HELP jobs Jobs run.
jobs_total{queue=\"a\"} 3
# TYPE temperature_celsius gauge
# UNIT temperature_celsius celsius
temperature_celsius 21.5
# EOF
";
    // The same metrics as Prometheus text: a counter's family keeps its
    // `_total`.
    let same = "\
# HELP jobs_total Jobs run.
# TYPE jobs_total counter
jobs_total{queue=\"a\"} 3
# TYPE temperature_celsius gauge
temperature_celsius 21.5
";
    let input = file("openmetrics.txt", openmetrics);
    let url = gateway.url();
    for extra in [&[][..], &["--input-format", "openmetrics"][..]] {
        let mut args = vec!["--url", &url, "--job", "om"];
        args.extend(extra);
        args.push(input.to_str().unwrap());
        push(&args, None, &[]).expect(0);
        let message = gateway.store.take().pop().unwrap();
        // Stored as decoded: with the unit, which text 0.0.4 has no line for.
        let mut want = as_stored(decode(Format::Text, same), &[("job", "om")]);
        want[1].unit = Some("celsius".into());
        assert_eq!(stored_families(&message), want, "{extra:?}");
    }
}

#[test]
fn protobuf_input_is_read_when_named() {
    let gateway = Gateway::start();
    let families = decode(Format::Text, TEXT);
    let mut protobuf = Vec::new();
    codec::encode(Format::Protobuf, &families, &mut protobuf).unwrap();
    let run = push(
        &[
            "--url",
            &gateway.url(),
            "--job",
            "relay",
            "--input-format",
            "protobuf",
            "--format",
            "text",
        ],
        Some(&protobuf),
        &[],
    );
    run.expect(0);
    let message = gateway.store.take().pop().unwrap();
    assert_eq!(
        stored_families(&message),
        as_stored(families, &[("job", "relay")])
    );
}

#[test]
fn labels_make_the_grouping_key_whatever_their_values() {
    let gateway = Gateway::start();
    let run = push(
        &[
            "--url",
            &gateway.url(),
            "--job",
            "nightly/backup",
            "--label",
            "path=/var/tmp",
            "--label",
            "empty=",
            "--label",
            "eq=a=b",
            "--label",
            "host=db:1",
        ],
        Some(TEXT.as_bytes()),
        &[],
    );
    run.expect(0);
    assert!(
        run.last_line().ends_with(&format!(
            " to {}/metrics/job@base64/bmlnaHRseS9iYWNrdXA/path@base64/L3Zhci90bXA\
             /empty@base64/=/eq/a%3Db/host/db%3A1: 202 Accepted",
            gateway.url()
        )),
        "{}",
        run.stderr
    );
    let key = [
        ("job", "nightly/backup"),
        ("path", "/var/tmp"),
        ("empty", ""),
        ("eq", "a=b"),
        ("host", "db:1"),
    ];
    let message = gateway.store.take().pop().unwrap();
    assert_eq!(grouping(&message), key);
    assert_eq!(
        stored_families(&message),
        as_stored(decode(Format::Text, TEXT), &key)
    );
}

#[test]
fn the_url_may_come_from_the_environment_with_its_grouping_key() {
    let gateway = Gateway::start();
    let url = format!("{}/metrics/job/env/instance/i1", gateway.url());
    let run = push(&[], Some(TEXT.as_bytes()), &[("PUSHGATE_URL", &url)]);
    run.expect(0);
    assert!(
        run.last_line()
            .ends_with(&format!(" to {url}: 202 Accepted")),
        "{}",
        run.stderr
    );
    let message = gateway.store.take().pop().unwrap();
    assert_eq!(grouping(&message), [("job", "env"), ("instance", "i1")]);
}

#[test]
fn a_refusal_exits_1_with_the_gateways_one_line_answer_and_a_delete_is_accepted() {
    let gateway = Gateway::start();
    let run = push(
        &["--url", &gateway.url(), "--job", "stamped"],
        Some(b"# TYPE up gauge\nup 1 1700000000000\n"),
        &[],
    );
    run.expect(1);
    // A 400 is not retried: no warning, one line.
    assert_eq!(
        run.stderr,
        format!(
            "pushgate push: POST {}/metrics/job/stamped answered 400 Bad Request: \
             pushed metrics must not have timestamp\n",
            gateway.url()
        )
    );

    // A delete reaches the store as a delete of the grouping key.
    let run = push(
        &[
            "--url",
            &gateway.url(),
            "--job",
            "gone",
            "--method",
            "delete",
        ],
        None,
        &[],
    );
    run.expect(0);
    assert_eq!(
        run.last_line(),
        format!("deleted {}/metrics/job/gone: 202 Accepted", gateway.url())
    );
    let message = gateway.store.take().pop().unwrap();
    assert_eq!(message.method, PushMethod::Delete);
    assert_eq!(grouping(&message), [("job", "gone")]);
}

#[test]
fn bad_input_exits_2_with_the_line_and_sends_nothing() {
    let silent = Silent::new();
    let url = silent.url();
    let bad_text = file("bad.txt", "# TYPE up gauge\nup 1\nup{job=\"a} 2\n");
    let bad_om = file(
        "bad_om.txt",
        "# TYPE a gauge\na 1\n# TYPE a gauge\na 2\n# EOF\n",
    );
    let text_file = file("good.txt", TEXT);
    let cases: &[(&[&str], &[u8], String)] = &[
        (
            &[bad_text.to_str().unwrap()],
            b"",
            format!(
                "pushgate push: {}: invalid text body, line 3: ",
                bad_text.display()
            ),
        ),
        (
            &["-"],
            b"up 1\nup 2 x\n",
            "pushgate push: stdin: invalid text body, line 2: ".into(),
        ),
        // Auto-detected OpenMetrics: its rules, its line.
        (
            &[bad_om.to_str().unwrap()],
            b"",
            format!(
                "pushgate push: {}: invalid openmetrics body, line 3: ",
                bad_om.display()
            ),
        ),
        // Text read as OpenMetrics: its rules, and its `# EOF` missing.
        (
            &["--input-format", "openmetrics", text_file.to_str().unwrap()],
            b"",
            format!(
                "pushgate push: {}: invalid openmetrics body, line 3: family `jobs_total` appears a second time",
                text_file.display()
            ),
        ),
        (
            &["--input-format", "openmetrics", "-"],
            b"# TYPE up gauge\nup 1\n",
            "pushgate push: stdin: invalid openmetrics body, line 3: expected # EOF".into(),
        ),
        (
            &["--input-format", "protobuf", "-"],
            b"\x05abc",
            "pushgate push: stdin: invalid protobuf body, record 0 at byte 0: ".into(),
        ),
        // Metrics that carry a label of the grouping key.
        (
            &["-"],
            b"up{job=\"other\"} 1\n",
            "pushgate push: pushed metric up already has grouping label job: \
             leave it to the grouping key"
                .into(),
        ),
        (
            &["--label", "host=db1", "-"],
            b"up{host=\"db2\"} 1\n",
            "pushgate push: pushed metric up already has grouping label host: \
             leave it to the grouping key"
                .into(),
        ),
        (
            &["/nonexistent/metrics.txt"],
            b"",
            "pushgate push: cannot read /nonexistent/metrics.txt: ".into(),
        ),
    ];
    for (args, stdin, message) in cases {
        let mut all = vec!["--url", &url, "--job", "bad"];
        all.extend(*args);
        let run = push(&all, Some(stdin), &[]);
        run.expect(2);
        assert!(
            run.stderr.starts_with(message.as_str()) && run.stderr.lines().count() == 1,
            "{args:?}: {message:?} expected, got:\n{}",
            run.stderr
        );
    }
    silent.assert_untouched();
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let silent = Silent::new();
    let url = silent.url();
    let input = file("usage.txt", TEXT);
    let input = input.to_str().unwrap();
    let not_pem = file("not.pem", "not a certificate");
    let with_key = format!("{url}/metrics/job/a");
    let with_credentials = url.replace("http://", "http://user:pw@");
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![input], "--url <URL>"),
        (
            vec!["--url", &url, input],
            "pushgate push: --job is required unless --url has the path /metrics/job/<JOB>... (it is \"/\")",
        ),
        (
            vec!["--url", &url, "--label", "a=b", input],
            "pushgate push: --label a=... needs --job",
        ),
        (
            vec!["--url", &url, "--job", "j", "--label", "ab", input],
            "expected NAME=VALUE, not \"ab\"",
        ),
        (
            vec!["--url", &url, "--job", "j", "--label", "a-b=c", input],
            "pushgate push: grouping label has invalid name \"a-b\"",
        ),
        (
            vec!["--url", &with_key, "--job", "b", input],
            "has a grouping key (/metrics/job/...) already: drop --job and --label",
        ),
        (
            vec!["--url", &with_credentials, "--job", "j", input],
            "pushgate push: credentials in --url: use --basic-auth",
        ),
        (
            vec!["--url", "ftp://gw", "--job", "j", input],
            "unsupported scheme in gateway URL \"ftp://gw\"",
        ),
        (
            vec!["--url", &url, "--job", "", input],
            "pushgate push: job name is empty",
        ),
        (
            vec!["--url", &url, "--job", "j", "--method", "delete", input],
            "pushgate push: --method delete reads no input: drop the FILE argument",
        ),
        (
            vec!["--url", &url, "--job", "j", "--method", "patch", input],
            "invalid value 'patch' for '--method <METHOD>'",
        ),
        (
            vec!["--url", &url, "--job", "j", "--format", "json", input],
            "invalid value 'json' for '--format <FORMAT>'",
        ),
        (
            vec!["--url", &url, "--job", "j", "--attempts", "0", input],
            "invalid value '0' for '--attempts <N>'",
        ),
        (
            vec!["--url", &url, "--job", "j", "--timeout", "10", input],
            "needs a unit",
        ),
        (
            vec!["--url", &url, "--job", "j", "--basic-auth", "secret", input],
            "expected USER:PASSWORD",
        ),
        (
            vec![
                "--url",
                &url,
                "--job",
                "j",
                "--basic-auth",
                "a:b",
                "--bearer-token",
                "t",
                input,
            ],
            "cannot be used with",
        ),
        (
            vec!["--url", &url, "--job", "j", "--header", "X-A: \u{7f}", input],
            "pushgate push: invalid header \"X-A\"",
        ),
    ];
    if cfg!(feature = "rustls") {
        cases.extend([
            (
                vec![
                    "--url",
                    &url,
                    "--job",
                    "j",
                    "--ca-cert",
                    not_pem.to_str().unwrap(),
                    input,
                ],
                "pushgate push: TLS configuration: invalid root certificate PEM: no CERTIFICATE block",
            ),
            (
                vec!["--url", &url, "--job", "j", "--client-cert", "c.pem", input],
                "--client-key <PEM>",
            ),
            (
                vec![
                    "--url",
                    &url,
                    "--job",
                    "j",
                    "--ca-cert",
                    "/nonexistent/ca.pem",
                    input,
                ],
                "pushgate push: cannot read --ca-cert /nonexistent/ca.pem: ",
            ),
        ]);
    }
    for (args, message) in &cases {
        let run = push(args, None, &[]);
        run.expect(2);
        assert!(
            run.stderr.contains(message),
            "{args:?}: {message:?} expected, got:\n{}",
            run.stderr
        );
    }
    silent.assert_untouched();
}

#[test]
fn input_without_metrics_sends_nothing_and_says_so() {
    let silent = Silent::new();
    let url = silent.url();
    for input in [
        &b""[..],
        b"# just a comment\n",
        b"# HELP up Up.\n# TYPE up gauge\n",
    ] {
        let run = push(&["--url", &url, "--job", "empty"], Some(input), &[]);
        run.expect(0);
        assert_eq!(
            run.stderr,
            format!("nothing pushed to {url}/metrics/job/empty: the input has no metrics\n")
        );
    }
    silent.assert_untouched();
}

#[test]
fn connection_refused_exits_1_after_the_retries() {
    // A port that was free a moment ago.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let run = push(
        &["--url", &url, "--job", "x", "--attempts", "2"],
        Some(TEXT.as_bytes()),
        &[],
    );
    run.expect(1);
    let last = run.last_line();
    assert!(
        last.starts_with(&format!(
            "pushgate push: POST {url}/metrics/job/x failed (2 attempts): "
        )) && last.to_lowercase().contains("connection refused"),
        "{}",
        run.stderr
    );
    // The retry was logged, at warn, the default level.
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.contains("WARN pushgate::push: push failed; retrying"))
            .count(),
        1,
        "{}",
        run.stderr
    );

    // RUST_LOG is respected: off, only the error is left.
    let run = push(
        &["--url", &url, "--job", "x", "--attempts", "2"],
        Some(TEXT.as_bytes()),
        &[("RUST_LOG", "off")],
    );
    run.expect(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    // At debug, what was read and each send are logged.
    let run = push(
        &["--url", &url, "--job", "x", "--attempts", "1"],
        Some(TEXT.as_bytes()),
        &[("RUST_LOG", "debug")],
    );
    run.expect(1);
    for event in [
        "DEBUG pushgate::cli::push: decoding input=stdin bytes=",
        "format=text",
        "DEBUG pushgate::push: sending method=POST",
    ] {
        assert!(run.stderr.contains(event), "{event}: {}", run.stderr);
    }
}

/// One request as a [`Recorder`] read it.
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server that answers the requests of one connection each
/// with the next of its answers, and keeps them.
struct Recorder {
    addr: SocketAddr,
    thread: JoinHandle<Vec<Recorded>>,
}

impl Recorder {
    fn start(answers: &[&'static str]) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let answers = answers.to_vec();
        let thread = std::thread::spawn(move || {
            let mut recorded = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            for answer in answers {
                let mut stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break stream,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            if Instant::now() > deadline {
                                return recorded;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        Err(e) => panic!("{e}"),
                    }
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                recorded.push(read_request(&mut stream));
                stream.write_all(answer.as_bytes()).unwrap();
            }
            recorded
        });
        Recorder { addr, thread }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests, once every answer was given (or 20 s passed).
    fn requests(self) -> Vec<Recorded> {
        self.thread.join().unwrap()
    }
}

fn read_request(stream: &mut impl Read) -> Recorded {
    let mut raw = Vec::new();
    let mut byte = [0; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "request head cut");
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap().split(' ');
    let (method, path) = (start.next().unwrap(), start.next().unwrap());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    Recorded {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body,
    }
}

const BUSY: &str =
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 5\r\nconnection: close\r\n\r\nbusy\n";
const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const ACCEPTED: &str = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[test]
fn auth_headers_and_gzip_go_with_every_attempt() {
    let recorder = Recorder::start(&[BUSY, OK]);
    let url = recorder.url();
    let run = push(
        &[
            "--url",
            &url,
            "--job",
            "auth",
            "--format",
            "text",
            "--gzip",
            "--header",
            "X-Scope-OrgID: team-a",
        ],
        Some(TEXT.as_bytes()),
        &[("PUSHGATE_BEARER_TOKEN", "s3cret")],
    );
    run.expect(0);
    let requests = recorder.requests();
    assert_eq!(requests.len(), 2);
    let mut text = Vec::new();
    codec::encode(Format::Text, &decode(Format::Text, TEXT), &mut text).unwrap();
    for request in &requests {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/metrics/job/auth")
        );
        assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(request.header("x-scope-orgid"), Some("team-a"));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(
            request.header("content-type"),
            Some(Format::Text.content_type())
        );
        let mut body = Vec::new();
        flate2::read::GzDecoder::new(&request.body[..])
            .read_to_end(&mut body)
            .unwrap();
        assert_eq!(body, text);
    }
    assert_eq!(
        run.last_line(),
        format!(
            "pushed 2 families ({} bytes) to {url}/metrics/job/auth: 200 OK (after 2 attempts)",
            requests[0].body.len()
        )
    );
    assert!(
        run.stderr.contains("push failed; retrying")
            && run
                .stderr
                .contains("answered 503 Service Unavailable: busy"),
        "{}",
        run.stderr
    );

    // Basic auth from the environment; the password may hold `:`.
    let recorder = Recorder::start(&[ACCEPTED]);
    let run = push(
        &["--url", &recorder.url(), "--job", "auth"],
        Some(TEXT.as_bytes()),
        &[("PUSHGATE_BASIC_AUTH", "user:pa:ss")],
    );
    run.expect(0);
    let requests = recorder.requests();
    // base64("user:pa:ss")
    assert_eq!(
        requests[0].header("authorization"),
        Some("Basic dXNlcjpwYTpzcw==")
    );
    assert_eq!(
        requests[0].header("content-type"),
        Some(Format::Protobuf.content_type())
    );
}

#[test]
fn delete_sends_no_body_and_reads_no_input() {
    let recorder = Recorder::start(&[ACCEPTED]);
    let url = recorder.url();
    // Input on stdin is not read for a delete.
    let run = push(
        &[
            "--url",
            &url,
            "--job",
            "gone",
            "--label",
            "path=/var/tmp",
            "--method",
            "delete",
        ],
        Some(b"not metrics at all {"),
        &[],
    );
    run.expect(0);
    assert_eq!(
        run.stderr,
        format!("deleted {url}/metrics/job/gone/path@base64/L3Zhci90bXA: 202 Accepted\n")
    );
    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("DELETE", "/metrics/job/gone/path@base64/L3Zhci90bXA")
    );
    assert!(requests[0].body.is_empty());
    assert_eq!(requests[0].header("content-type"), None);
}

#[cfg(feature = "rustls")]
mod tls {
    //! HTTPS with mutual TLS through the command line's certificate
    //! options.

    use super::*;

    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use pushgate::gateway::PushGateway;
    use pushgate::store::MemoryStore;

    use crate::support::tls::{accept, mtls_server_config, pki, Pki};

    /// A gateway behind TLS that requires a client certificate of the
    /// CA, served on a thread of its own until the test process ends.
    fn tls_gateway(pki: &Pki) -> (SocketAddr, MemoryStore) {
        let store = MemoryStore::new();
        let gateway = PushGateway::builder(store.clone()).build().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(mtls_server_config(pki));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let (acceptor, gateway) = (acceptor.clone(), gateway.clone());
                    tokio::spawn(async move {
                        // A refused handshake ends this connection only.
                        let Some(tls) = accept(&acceptor, tcp).await else {
                            return;
                        };
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(gateway))
                            .await;
                    });
                }
            })
        });
        (addr, store)
    }

    #[test]
    fn mutual_tls_with_the_certificate_options() {
        let pki = pki();
        let (addr, store) = tls_gateway(&pki);
        let url = format!("https://{addr}");
        let ca = file("ca.pem", &pki.ca_pem);
        let cert = file("client.pem", &pki.client_cert_pem);
        let key = file("client.key", &pki.client_key_pem);
        let (ca, cert, key) = (
            ca.to_str().unwrap(),
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        );
        let base = ["--url", &url, "--job", "secure", "--attempts", "1"];

        let mut args = base.to_vec();
        args.extend(["--ca-cert", ca, "--client-cert", cert, "--client-key", key]);
        let run = push(&args, Some(TEXT.as_bytes()), &[]);
        run.expect(0);
        assert!(
            run.last_line()
                .ends_with(&format!("to {url}/metrics/job/secure: 202 Accepted")),
            "{}",
            run.stderr
        );
        let message = store.take().pop().unwrap();
        assert_eq!(
            stored_families(&message),
            as_stored(decode(Format::Text, TEXT), &[("job", "secure")])
        );

        // Without the client certificate the server ends the handshake.
        let mut args = base.to_vec();
        args.extend(["--ca-cert", ca]);
        let run = push(&args, Some(TEXT.as_bytes()), &[]);
        run.expect(1);
        assert!(
            run.last_line().contains("CertificateRequired"),
            "{}",
            run.stderr
        );

        // Without the CA, the server's certificate is not trusted.
        let mut args = base.to_vec();
        args.extend(["--client-cert", cert, "--client-key", key]);
        let run = push(&args, Some(TEXT.as_bytes()), &[]);
        run.expect(1);
        assert!(run.last_line().contains("UnknownIssuer"), "{}", run.stderr);
        assert!(store.is_empty());
    }
}
