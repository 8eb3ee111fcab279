//! `dfns-hsm`: parse the command line, run, map errors to exit codes.

use clap::Parser as _;
use dfns_hsm::cli::{self, Cli, LogFormat, OutputFormat, EXIT_FAILURE};

fn main() {
    cli::disable_core_dumps();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let format = if cli::wants_json(&args) {
                OutputFormat::Json
            } else {
                OutputFormat::Human
            };
            std::process::exit(cli::print_parse_error(&e, format));
        }
    };
    let format = cli.global.output;
    init_logging(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(EXIT_FAILURE);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok((report, format)) => {
            report.print(format);
            if report.exit_code != 0 {
                std::process::exit(report.exit_code);
            }
        }
        Err(e) => {
            cli::print_error(&e, format);
            std::process::exit(e.exit_code());
        }
    }
}

/// Logs go to stderr, level from `DFNS_HSM_LOG` (default `warn`); secrets are never logged.
/// Colours only on a terminal, and never with `NO_COLOR` set (<https://no-color.org>).
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("DFNS_HSM_LOG")
        // cryptoki logs at ERROR every vendor mechanism it has no name for, and every close of a
        // session the token already dropped (which recovery does on purpose): noise for users.
        // Its real failures reach us as errors anyway.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,cryptoki=off"));
    let colour = std::io::stderr().is_terminal()
        && !std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
