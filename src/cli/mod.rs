//! The `dfns-hsm` command line: a clap tree, one module per command group.

mod api;
mod context;
mod doctor;
mod error;
mod key;
mod output;
mod service_account;
mod token;
mod token_file;

pub use context::{Context, GlobalArgs};
pub use error::{CliError, EXIT_CHECK, EXIT_FAILURE, EXIT_PENDING, EXIT_USAGE};
pub use output::{OutputFormat, Report};

use clap::{Parser, Subcommand};

/// Hardware-backed (PKCS#11) signer and CLI for Dfns service accounts.
#[derive(Debug, Parser)]
#[command(name = "dfns-hsm", version, about, long_about = None)]
pub struct Cli {
    /// Global flags.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate, list, export and sign with keys on the HSM.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Inspect the module's tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Service accounts: enroll an HSM key, create, list, get, update, (de)activate, archive.
    #[command(subcommand, name = "service-account")]
    ServiceAccount(service_account::ServiceAccountCommand),
    /// Call any Dfns endpoint, user-action signed when the endpoint requires it.
    Api(api::ApiArgs),
    /// Check module, token, login, mechanisms and key safety.
    Doctor {
        /// Key to examine and test-sign with (default: --signing-key, else survey all keys).
        #[arg(long, value_name = "REF")]
        key: Option<String>,
    },
}

/// Run a parsed command line and return what to print.
pub async fn run(cli: Cli) -> Result<(Report, OutputFormat), CliError> {
    let ctx = Context::new(cli.global)?;
    let report = match cli.command {
        Command::Key(cmd) => key::run(&ctx, cmd).await?,
        Command::Token(cmd) => token::run(&ctx, cmd)?,
        Command::ServiceAccount(cmd) => service_account::run(&ctx, cmd).await?,
        Command::Api(args) => api::run(&ctx, args).await?,
        Command::Doctor { key } => {
            let ctx2 = ctx.clone();
            tokio::task::spawn_blocking(move || doctor::run(&ctx2, key))
                .await
                .map_err(|e| CliError::Failed(e.to_string()))??
        }
    };
    Ok((report, ctx.output()))
}
