//! The `pushgate` command line.
//!
//! The gateway server (`pushgate serve`) lands with the gateway issue; until
//! then this binary says so and exits.

use std::process::ExitCode;

const USAGE: &str = "\
pushgate: Prometheus push telemetry

USAGE:
    pushgate serve    run the push gateway (arrives with the gateway stack)
    pushgate --help   print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("serve") => {
            eprintln!(
                "pushgate serve: the gateway arrives with the next issue; \
                 this build carries the metric model and codecs only"
            );
            ExitCode::from(2)
        }
        Some(other) => {
            eprintln!("pushgate: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
