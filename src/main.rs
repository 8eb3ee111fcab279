//! `dfns-hsm`: parse the command line, run, map errors to exit codes.

use clap::Parser as _;
use dfns_hsm::cli::{self, Cli, EXIT_FAILURE};

fn main() {
    let cli = Cli::parse();
    init_logging();
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
            eprintln!("error: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            std::process::exit(e.exit_code());
        }
    }
}

/// Logs go to stderr, level from `DFNS_HSM_LOG` (default `warn`); secrets are never logged.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DFNS_HSM_LOG")
        // cryptoki logs at ERROR every vendor mechanism it has no name for, and every close of a
        // session the token already dropped (which recovery does on purpose): noise for users.
        // Its real failures reach us as errors anyway.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,cryptoki=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
