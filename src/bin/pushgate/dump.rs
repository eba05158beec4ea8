//! `pushgate dump`: prints what a file store (`serve --store file:DIR`)
//! holds, oldest first, optionally following new records.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Args, ValueEnum};
use pushgate::grouping;
use pushgate::store::{Reader, Record};
use pushgate::{codec, Format};

use crate::common::parse_duration;

/// Options of `pushgate dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The file store's directory (what `serve --store file:DIR` names).
    dir: PathBuf,

    /// How to print each record's families.
    ///
    /// text: a `# position=.. received=.. method=.. grouping=..` line, then
    /// the families in Prometheus text 0.0.4; json: one JSON object per
    /// line with those fields and the families; protobuf: the families
    /// only, length-delimited, for piping into other tools.
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    format: DumpFormat,

    /// Only records received at most this long ago (500ms, 10s, 2m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    since: Option<Duration>,

    /// Only records whose grouping key has this job.
    #[arg(long, value_name = "JOB")]
    job: Option<String>,

    /// Keep printing records as they are appended, until interrupted.
    #[arg(long, short)]
    follow: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DumpFormat {
    Text,
    Json,
    Protobuf,
}

/// How often `--follow` looks for new records.
const POLL: Duration = Duration::from_millis(200);

/// Runs `pushgate dump` to the end.
pub fn main(args: DumpArgs) -> ExitCode {
    let mut reader = match Reader::open(&args.dir) {
        Ok(reader) => reader,
        Err(error) => {
            eprintln!("pushgate dump: {}: {error}", args.dir.display());
            return ExitCode::FAILURE;
        }
    };
    let since = args.since.map(|d| SystemTime::now() - d);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                let wanted = since.is_none_or(|t| record.received >= t)
                    && args.job.as_deref().is_none_or(|job| {
                        record.grouping.first().is_some_and(|l| l.value() == job)
                    });
                if !wanted {
                    continue;
                }
                if let Err(error) = print(&mut out, &record, args.format) {
                    // A closed pipe (`| head`) ends the dump quietly.
                    if error.kind() == io::ErrorKind::BrokenPipe {
                        return ExitCode::SUCCESS;
                    }
                    eprintln!("pushgate dump: {error}");
                    return ExitCode::FAILURE;
                }
            }
            Ok(None) if args.follow => {
                if out.flush().is_err() {
                    return ExitCode::SUCCESS;
                }
                std::thread::sleep(POLL);
            }
            Ok(None) => {
                return match out.flush() {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("pushgate dump: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            Err(error) => {
                let _ = out.flush();
                eprintln!("pushgate dump: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
}

fn print(out: &mut impl Write, record: &Record, format: DumpFormat) -> io::Result<()> {
    let families = record
        .families()
        .map_err(|e| io::Error::other(format!("record {}: {e}", record.position.get())))?;
    let encode = |format: Format| {
        let mut bytes = Vec::new();
        codec::encode(format, &families, &mut bytes)
            .map_err(|e| io::Error::other(format!("record {}: {e}", record.position.get())))?;
        Ok::<_, io::Error>(bytes)
    };
    match format {
        DumpFormat::Protobuf => out.write_all(&encode(Format::Protobuf)?),
        DumpFormat::Text => {
            writeln!(
                out,
                "# position={} received={} method={} grouping={}",
                record.position.get(),
                pushgate::time::rfc3339_millis(record.received),
                record.method.as_str(),
                grouping::Display(&record.grouping),
            )?;
            out.write_all(&encode(Format::Text)?)
        }
        DumpFormat::Json => {
            let grouping: serde_json::Map<String, serde_json::Value> = record
                .grouping
                .iter()
                .map(|l| (l.name().to_owned(), l.value().into()))
                .collect();
            let head = serde_json::json!({
                "position": record.position.get(),
                "received": pushgate::time::rfc3339_millis(record.received),
                "method": record.method.as_str(),
                "grouping": grouping,
            })
            .to_string();
            // The families as the JSON codec writes them, spliced in whole.
            out.write_all(&head.as_bytes()[..head.len() - 1])?;
            out.write_all(b",\"families\":")?;
            out.write_all(&encode(Format::Json)?)?;
            out.write_all(b"}\n")
        }
    }
}
