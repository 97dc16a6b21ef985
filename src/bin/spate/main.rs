//! `spate`: command-line tool for Rerun 0.41 `.rrd` recordings and spate's ingest engine.
//!
//! One module per subcommand (`inspect`, `check`, `serve`). Every subcommand
//! returns a [`Judgement`] or an error, and `main` maps them to the documented exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod inspect;
mod serve;

/// Exit code: the subcommand ran and found nothing wrong (inspect: the file is fine;
/// check: every sink keeps up).
const EXIT_OK: u8 = 0;
/// Exit code: the subcommand ran, but found problems (inspect: a truncated file, a
/// missing or invalid footer; check: a sink falls behind or dropped messages).
const EXIT_PROBLEMS: u8 = 1;
/// Exit code: the subcommand could not run: the input cannot be read or decoded, a path
/// is unwritable, a gRPC server unreachable, or the command line is invalid.
const EXIT_ERROR: u8 = 2;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success: inspect: the input is fine; check: every sink keeps up
  1  problems found: inspect: truncated, no footer, invalid footer;
     check: a sink falls behind or dropped messages
  2  error: the input cannot be read or decoded, a path is unwritable, a gRPC server is
     unreachable, or the arguments are invalid";

/// Inspect Rerun 0.41 `.rrd` recordings and check whether spate's sinks keep up with a
/// sensor load (spate: high-throughput point-cloud ingest into Rerun).
#[derive(Debug, Parser)]
#[command(name = "spate", version, after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Show what an .rrd file holds: streams, recordings, entities, timelines, footer.
    #[command(long_about = inspect::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Inspect(inspect::Args),
    /// Capacity planner: will these sinks keep up with this sensor load?
    #[command(long_about = check::LONG_ABOUT, after_help = check::EXIT_CODES_HELP)]
    Check(check::Args),
    /// Serve the Rerun gRPC message proxy: record (--save) and forward (--forward) what
    /// official SDKs send, without re-encoding; stop with SIGINT/SIGTERM.
    #[command(long_about = serve::LONG_ABOUT, after_help = EXIT_CODES_HELP)]
    Serve(serve::Args),
}

/// How a subcommand that ran to the end judges its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judgement {
    /// Nothing wrong: exit 0.
    Clean,
    /// Readable, but with problems: exit 1.
    Problems,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` / `--version` are not errors; everything else is a usage error.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR } else { EXIT_OK });
        }
    };
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let result = match &cli.command {
        Action::Inspect(args) => inspect::run(args),
        Action::Check(args) => check::run(args),
        Action::Serve(args) => serve::run(args),
    };
    match result {
        Ok(Judgement::Clean) => ExitCode::from(EXIT_OK),
        Ok(Judgement::Problems) => ExitCode::from(EXIT_PROBLEMS),
        Err(e) => {
            eprintln!("error: {}", spate::ErrorChain(e.as_ref()));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prints the library's warnings (a sink that dropped or failed, a recording dropped
/// without `shutdown`) to stderr.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "{}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_print_each_cause_once() {
        let e = spate::wire::decode_rrd(b"NOPE........").unwrap_err();
        let line = spate::ErrorChain(&e).to_string();
        assert!(line.starts_with("at byte 0: not an RRD stream"), "{line}");
        assert_eq!(line.matches("not an RRD").count(), 1, "{line}");
    }
}
