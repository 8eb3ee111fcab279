//! `dfns-emulator`: a local Dfns-compatible API server for tests, demos and CI.
//!
//! It serves user-action signing (`/auth/action/init`, `/auth/action`), the service-account
//! and the permissions endpoints (each enforcing its permission), verifies Key-credential
//! signatures for real (P-256, secp256k1, Ed25519, RSA), and persists its organization in a
//! state dir. See `--help` and [`bootstrap`] for the layout.

mod app;
mod approval;
mod auth;
mod body;
mod bootstrap;
mod cli;
mod clock;
mod error;
mod faults;
mod files;
mod ids;
mod log;
mod permissions;
mod public_key;
mod routes;
mod server;
mod service_accounts;
mod sessions;
mod state;
mod state_dir;
mod token;
mod user_action;
mod verify;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    tracing_subscriber::fmt()
        .with_writer(log::EscapingStderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_env("DFNS_EMULATOR_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dfns-emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("dfns-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
