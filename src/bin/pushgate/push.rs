//! `pushgate push`: pushes exposition text from a file or stdin with the
//! library's [`Pusher`], so batch jobs and cron scripts need no curl.

use std::convert::Infallible;
use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use pushgate::codec::{self, DecodeError, Limits};
use pushgate::model::MetricFamily;
use pushgate::push::{BuildError, HttpClient, PushError, Pusher, Retry};
use pushgate::Format;

use crate::common::{init_logging, parse_basic_auth, parse_duration};

/// Where tracing events of this command go.
const TARGET: &str = "pushgate::cli::push";

/// Options of `pushgate push`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct PushArgs {
    /// The gateway: its base URL with --job, or a whole push URL without.
    ///
    /// http://host:9091 (http:// is assumed when no scheme is given) is
    /// completed by --job and --label into
    /// http://host:9091/metrics/job/<JOB>/<NAME>/<VALUE>...; a URL whose
    /// path is /metrics/job/<JOB>... already is used as it is.
    #[arg(long, env = "PUSHGATE_URL", value_name = "URL")]
    url: String,

    /// The job of the group pushed to.
    ///
    /// Required unless --url has the path /metrics/job/<JOB>... already.
    /// Any text: a `/` or a space is written as the gateway's @base64.
    #[arg(long, value_name = "JOB")]
    job: Option<String>,

    /// A grouping label of the group, after the job (repeatable).
    ///
    /// NAME=VALUE; the value is everything after the first `=` and may be
    /// empty or hold any character (`/` included). Needs --job. Pushed
    /// metrics must not have these labels (nor `job`) themselves.
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,

    /// What to do with the group.
    #[arg(long, value_enum, value_name = "METHOD", default_value_t = Method::Post)]
    method: Method,

    /// The format sent to the gateway.
    ///
    /// protobuf (length-delimited, as Go's client sends) suits both the
    /// Prometheus Pushgateway and pushgate; text and openmetrics are for
    /// gateways that read only those. Not openmetrics to the Prometheus
    /// Pushgateway: it reads it as text, and counters lose their type.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = WireFormat::Protobuf)]
    format: WireFormat,

    /// The format of the input.
    ///
    /// auto reads OpenMetrics text when the input's last line is `# EOF`,
    /// Prometheus text 0.0.4 otherwise.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = InputFormat::Auto)]
    input_format: InputFormat,

    /// How long the whole push may take, retries and the waits between
    /// them included, as a number and a unit: 500ms, 10s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,

    /// How many times to send, the first included; 1 never retries.
    ///
    /// Sends are retried, with exponential backoff (250ms, then 500ms, ...,
    /// at most 5s, each less a random part, and at least any Retry-After),
    /// when the gateway cannot be reached or answers 429 or 5xx; never
    /// after another answer, which the same push would only get again.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    attempts: u32,

    /// Compress the request body with gzip (Content-Encoding: gzip).
    #[arg(long)]
    gzip: bool,

    /// Send `Authorization: Bearer TOKEN`.
    ///
    /// Prefer the environment variable: other users of the machine can
    /// read command lines.
    #[arg(
        long,
        env = "PUSHGATE_BEARER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        conflicts_with = "basic_auth"
    )]
    bearer_token: Option<String>,

    /// Send HTTP Basic authentication.
    ///
    /// The user is what comes before the first `:`. Prefer the
    /// environment variable: other users of the machine can read command
    /// lines.
    #[arg(
        long,
        env = "PUSHGATE_BASIC_AUTH",
        value_name = "USER:PASSWORD",
        hide_env_values = true,
        value_parser = parse_basic_auth
    )]
    basic_auth: Option<(String, String)>,

    /// Ask a gateway in Pushgateway mode to drop this group if it is not
    /// pushed again within this long, as in 26h (the Pushgate-TTL header).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    ttl: Option<Duration>,

    /// Send this header with the push, as 'NAME: VALUE' (repeatable).
    ///
    /// For a tenant or routing header a proxy in front of the gateway
    /// wants. An Authorization header here replaces --bearer-token's and
    /// --basic-auth's.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(String, String)>,

    /// Also trust the CA certificates in this PEM file, for an https://
    /// gateway behind a private CA.
    ///
    /// The Mozilla roots (bundled, not the system's) stay trusted.
    #[cfg(feature = "rustls")]
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,

    /// Present the client certificate in this PEM file (mutual TLS).
    ///
    /// The certificate first, then any intermediates. Needs --client-key.
    #[cfg(feature = "rustls")]
    #[arg(long, value_name = "PEM", requires = "client_key")]
    client_cert: Option<PathBuf>,

    /// The private key of --client-cert, as PEM (PKCS#8, PKCS#1 or SEC1).
    #[cfg(feature = "rustls")]
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    client_key: Option<PathBuf>,

    /// The file of metrics to push; `-` or none reads stdin.
    ///
    /// Not read, and not to be given, with --method delete.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,
}

const AFTER_HELP: &str = "\
Examples:
  pushgate push --url http://gateway:9091 --job backup --label host=db1 metrics.txt
  my-batch-job --print-metrics | pushgate push --url http://gateway:9091 --job nightly
  pushgate push --url http://gateway:9091 --job backup --label host=db1 --method delete

Exit status: 0 when the gateway took the push (any 2xx) or the input had
no metrics (nothing is sent then); 1 when the push failed: the gateway's
answer (status and its one-line reason) or the transport error is printed;
2 for a usage error, input that cannot be read or decoded, or a metric
that has a label of the grouping key (job included): nothing is sent then.

On success one line goes to stderr, as: pushed 3 families (1234 bytes) to
URL: 200 OK. Logging: RUST_LOG (default: warn, which shows each retry), to
stderr.";

/// What `--method` does with the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Method {
    /// POST: replace the families pushed, within the group (Go's Add)
    Post,
    /// PUT: replace the whole group with the families pushed (Go's Push)
    Put,
    /// DELETE: delete the group; reads no input
    Delete,
}

/// The formats the pusher can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WireFormat {
    /// Length-delimited io.prometheus.client.MetricFamily messages
    Protobuf,
    /// Prometheus text 0.0.4
    Text,
    /// OpenMetrics text 1.0.0
    #[value(name = "openmetrics")]
    OpenMetrics,
}

impl From<WireFormat> for Format {
    fn from(format: WireFormat) -> Format {
        match format {
            WireFormat::Protobuf => Format::Protobuf,
            WireFormat::Text => Format::Text,
            WireFormat::OpenMetrics => Format::OpenMetrics,
        }
    }
}

/// The formats the input may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum InputFormat {
    /// OpenMetrics if the last line is `# EOF`, Prometheus text otherwise
    Auto,
    /// Prometheus text 0.0.4
    Text,
    /// OpenMetrics text 1.0.0
    #[value(name = "openmetrics")]
    OpenMetrics,
    /// Length-delimited io.prometheus.client.MetricFamily messages
    Protobuf,
}

impl InputFormat {
    /// The format to decode `input` as.
    fn resolve(self, input: &[u8]) -> Format {
        match self {
            InputFormat::Auto if ends_with_eof(input) => Format::OpenMetrics,
            InputFormat::Auto | InputFormat::Text => Format::Text,
            InputFormat::OpenMetrics => Format::OpenMetrics,
            InputFormat::Protobuf => Format::Protobuf,
        }
    }
}

/// Whether the last line of `input` is OpenMetrics' `# EOF`. Trailing
/// whitespace is skipped so that the OpenMetrics decoder, not a guess,
/// says what is wrong with a blank line after it.
fn ends_with_eof(input: &[u8]) -> bool {
    let end = input
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let trimmed = &input[..end];
    trimmed == b"# EOF" || trimmed.ends_with(b"\n# EOF")
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, not {s:?}")),
    }
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("expected 'NAME: VALUE', not {s:?}")),
    }
}

/// Why `pushgate push` failed, and so its exit status.
#[derive(Debug)]
enum Failure {
    /// A usage error or bad input: nothing was sent (exit 2).
    Input(String),
    /// The push was sent and failed, or could not be sent (exit 1).
    Push(PushError),
}

impl Failure {
    fn code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::from(2),
            Failure::Push(_) => ExitCode::from(1),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Input(message) => f.write_str(message),
            Failure::Push(error) => fmt::Display::fmt(error, f),
        }
    }
}

/// Sorts the pusher's errors: those raised before sending are about the
/// input (a metric with a grouping label, one the wire format cannot
/// carry); the others are the push failing.
fn push_failure(error: PushError) -> Failure {
    match error {
        PushError::LabelCollision { .. } | PushError::Encode(_) | PushError::Gather(_) => {
            Failure::Input(error.to_string())
        }
        error => Failure::Push(error),
    }
}

/// Runs `pushgate push` to the end.
pub fn main(args: PushArgs) -> ExitCode {
    init_logging("warn");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("pushgate push: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("pushgate push: {failure}");
            failure.code()
        }
    }
}

/// Reads, decodes and pushes; the line to print on success.
async fn run(args: PushArgs) -> Result<String, Failure> {
    let families = if args.method == Method::Delete {
        if args.input.is_some() {
            return Err(Failure::Input(
                "--method delete reads no input: drop the FILE argument".into(),
            ));
        }
        Vec::new()
    } else {
        read_families(args.input.as_deref(), args.input_format)?
    };
    let pusher = pusher(&args, families)?;
    let url = pusher.url().clone();
    match args.method {
        Method::Post | Method::Put => {
            let pushed = if args.method == Method::Post {
                pusher.push().await
            } else {
                pusher.put().await
            }
            .map_err(push_failure)?;
            let Some(status) = pushed.status else {
                return Ok(format!("nothing pushed to {url}: the input has no metrics"));
            };
            Ok(format!(
                "pushed {} {} ({} bytes) to {url}: {status}{}",
                pushed.families,
                if pushed.families == 1 {
                    "family"
                } else {
                    "families"
                },
                pushed.bytes,
                after(pushed.attempts)
            ))
        }
        Method::Delete => {
            let deleted = pusher.delete().await.map_err(push_failure)?;
            Ok(format!(
                "deleted {url}: {}{}",
                deleted.status,
                after(deleted.attempts)
            ))
        }
    }
}

/// ` (after N attempts)` when it took more than one.
fn after(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

/// Reads `input` (stdin for none or `-`) and decodes it; families without
/// metrics are dropped, as gateways drop them.
fn read_families(input: Option<&Path>, format: InputFormat) -> Result<Vec<MetricFamily>, Failure> {
    let (name, bytes) = match input {
        Some(path) if path != Path::new("-") => {
            let name = path.display().to_string();
            let bytes = std::fs::read(path)
                .map_err(|e| Failure::Input(format!("cannot read {name}: {e}")))?;
            (name, bytes)
        }
        _ => {
            let mut stdin = std::io::stdin();
            // Waiting for a person to type metrics is more likely a
            // forgotten FILE than the intent.
            if input.is_none() && stdin.is_terminal() {
                return Err(Failure::Input(
                    "no input: give a FILE, or pipe metrics into stdin (`-`)".into(),
                ));
            }
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::Input(format!("cannot read stdin: {e}")))?;
            ("stdin".to_owned(), bytes)
        }
    };
    let format = format.resolve(&bytes);
    tracing::debug!(target: TARGET, input = %name, bytes = bytes.len(), %format, "decoding");
    let mut families = codec::decode(format, Bytes::from(bytes), &Limits::default())
        .map_err(|e: DecodeError| Failure::Input(format!("{name}: {e}")))?;
    families.retain(|family| !family.metric.is_empty());
    Ok(families)
}

/// The pusher `args` ask for, sending `families`.
fn pusher(
    args: &PushArgs,
    families: Vec<MetricFamily>,
) -> Result<Pusher<impl pushgate::push::Gatherer, HttpClient>, Failure> {
    if args.job.is_none() {
        if let Some((name, _)) = args.labels.first() {
            return Err(Failure::Input(format!(
                "--label {name}=... needs --job (or write the label into --url's path)"
            )));
        }
    }
    let gatherer = move || Ok::<_, Infallible>(families.clone());
    let mut builder = Pusher::builder(args.url.as_str(), gatherer)
        .client(client(args)?)
        .format(args.format.into())
        .timeout(args.timeout)
        .retry(Retry::attempts(args.attempts))
        .gzip(args.gzip);
    if let Some(job) = &args.job {
        builder = builder.job(job.as_str());
    }
    for (name, value) in &args.labels {
        builder = builder.grouping(name.as_str(), value.as_str());
    }
    if let Some(token) = &args.bearer_token {
        builder = builder.bearer_token(token);
    }
    if let Some((user, password)) = &args.basic_auth {
        builder = builder.basic_auth(user, password);
    }
    if let Some(ttl) = args.ttl {
        builder = builder.ttl(ttl);
    }
    for (name, value) in &args.headers {
        builder = builder.header(name, value);
    }
    let pusher = builder.build().map_err(|e| {
        Failure::Input(match e {
            BuildError::GroupingInUrl { url } => format!(
                "--url {url:?} has a grouping key (/metrics/job/...) already: \
                 drop --job and --label, or give the gateway's base URL"
            ),
            BuildError::Credentials => {
                "credentials in --url: use --basic-auth (or PUSHGATE_BASIC_AUTH) instead".into()
            }
            e => e.to_string(),
        })
    })?;
    // Without a job the pusher posts to the URL as it is, which would be
    // the gateway's root here: nothing a gateway takes a push at.
    if pusher.grouping_key().is_empty() {
        return Err(Failure::Input(format!(
            "--job is required unless --url has the path /metrics/job/<JOB>... (it is {:?})",
            pusher.url().path()
        )));
    }
    tracing::debug!(target: TARGET, ?pusher, "pusher built");
    Ok(pusher)
}

/// The HTTP client, with the TLS material `args` name.
fn client(args: &PushArgs) -> Result<HttpClient, Failure> {
    #[cfg(feature = "rustls")]
    {
        let identity = args.client_cert.as_deref().zip(args.client_key.as_deref());
        crate::common::tls_client(
            args.ca_cert.as_deref(),
            identity,
            ["--ca-cert", "--client-cert", "--client-key"],
        )
        .map_err(Failure::Input)
    }
    #[cfg(not(feature = "rustls"))]
    {
        let _ = args;
        Ok(HttpClient::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_is_detected_by_its_last_line() {
        for (input, format) in [
            (&b"# TYPE a gauge\na 1\n# EOF\n"[..], Format::OpenMetrics),
            (b"a 1\n# EOF", Format::OpenMetrics),
            (b"# EOF\n", Format::OpenMetrics),
            // The decoder, not the guess, says a blank line after it is wrong.
            (b"a 1\n# EOF\n\n", Format::OpenMetrics),
            (b"a 1\n", Format::Text),
            (b"", Format::Text),
            (b"# EOF is not the end\na 1\n", Format::Text),
            (b"a 1 # EOF\n", Format::Text),
        ] {
            assert_eq!(
                InputFormat::Auto.resolve(input),
                format,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(
            InputFormat::Text.resolve(b"a 1\n# EOF\n"),
            Format::Text,
            "an explicit format is not second-guessed"
        );
    }

    #[test]
    fn labels_auth_and_headers_parse() {
        assert_eq!(
            parse_label("path=/var/tmp=x"),
            Ok(("path".into(), "/var/tmp=x".into()))
        );
        assert_eq!(parse_label("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_label("novalue").is_err());
        assert!(parse_label("=x").is_err());
        assert_eq!(
            parse_basic_auth("user:pa:ss"),
            Ok(("user".into(), "pa:ss".into()))
        );
        let err = parse_basic_auth("secret").unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert_eq!(
            parse_header("X-Scope-OrgID:  team-a "),
            Ok(("X-Scope-OrgID".into(), "team-a".into()))
        );
        assert!(parse_header("no colon").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            push: PushArgs,
        }
        Cli::command().debug_assert();
    }
}
