//! The `pushgate` command line.
//!
//! `pushgate serve` runs the push gateway, `pushgate push` pushes metrics
//! from a file or stdin to one, `pushgate dump` prints a file store; each
//! command is a module of its own.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod common;
mod dump;
mod push;
mod serve;
mod stores;

/// pushgate: Prometheus push telemetry.
///
/// Receives metrics pushed the way Prometheus Pushgateway clients push them
/// (curl, Go's `push` package, Python's `push_to_gateway`, ...) and hands
/// each push to a store; pushes metrics to such a gateway from a file or
/// stdin.
#[derive(Debug, Parser)]
#[command(name = "pushgate", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the push gateway: accept pushes on /metrics/job/<job>/... and
    /// store them.
    // The options are boxed: large, and parsed once.
    Serve(Box<serve::ServeArgs>),
    /// Push metrics from a file or stdin to a push gateway (pushgate's or
    /// the Prometheus Pushgateway), or delete a group.
    Push(Box<push::PushArgs>),
    /// Print what a file store (`serve --store file:DIR`) holds: each push
    /// with its receive time and grouping key, oldest first.
    Dump(dump::DumpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::main(*args),
        Command::Push(args) => push::main(*args),
        Command::Dump(args) => dump::main(args),
    }
}
