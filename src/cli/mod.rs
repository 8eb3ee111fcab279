//! The `dfns-hsm` command line: a clap tree, one module per command group.

mod api;
mod args;
mod context;
mod docs;
mod doctor;
mod error;
mod failure;
mod hardening;
mod hint;
mod key;
mod output;
mod permission;
mod rotate;
mod serve;
mod service_account;
mod signals;
mod text;
mod token;
mod token_out;

pub use args::{ApiArgs, CallArgs, HsmArgs, ReadArgs, RetryArgs, SigningArgs};
pub use context::{Context, GlobalArgs, LogFormat, Settings};
pub use error::{CliError, EXIT_CHECK, EXIT_FAILURE, EXIT_PENDING, EXIT_USAGE};
pub use failure::{print_error, print_parse_error, wants_json};
pub use hardening::disable_core_dumps;
pub use output::{OutputFormat, Report};

#[cfg(test)]
pub(crate) use hint::api_hint as hint_for_api;

use clap::{Parser, Subcommand};

/// Hardware-backed (PKCS#11) signer and CLI for Dfns service accounts.
#[derive(Debug, Parser)]
#[command(name = "dfns-hsm", version, about, long_about = None)]
pub struct Cli {
    /// Output and profile, accepted anywhere on the line.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Option groups given before the command; the command's own copies win.
    #[command(flatten)]
    pub before: CallArgs,
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
    /// Permissions: list, get, create, archive, assign, list assignments, revoke.
    #[command(subcommand)]
    Permission(permission::PermissionCommand),
    /// Call any Dfns endpoint, user-action signed when the endpoint requires it.
    Api(api::ApiCommandArgs),
    /// Check clock, API, the auth token's expiry, module, token, login, mechanisms, key safety
    /// and that the signing identity (key, credential id, token) belongs together.
    Doctor(doctor::DoctorArgs),
    /// Serve signatures (and a policy-checked Dfns proxy) to local apps over a unix socket or
    /// TCP: one HSM login for every app (see docs/SERVICE.md).
    Serve(serve::ServeArgs),
    /// Print a shell completion script (bash, zsh or fish).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: docs::Shell,
    },
    /// Print the man page (roff).
    Manpage,
}

/// Run a parsed command line and return what to print.
pub async fn run(cli: Cli) -> Result<(Report, OutputFormat), CliError> {
    let ctx = Context::new(cli.global, cli.before)?;
    let report = match cli.command {
        Command::Key(cmd) => key::run(&ctx, cmd).await?,
        Command::Token(cmd) => token::run(&ctx, cmd)?,
        Command::ServiceAccount(cmd) => service_account::run(&ctx, cmd).await?,
        Command::Permission(cmd) => permission::run(&ctx, cmd).await?,
        Command::Api(args) => api::run(&ctx, args).await?,
        Command::Serve(args) => serve::run(&ctx, args).await?,
        Command::Completions { shell } => docs::completions(shell)?,
        Command::Manpage => docs::manpage()?,
        Command::Doctor(args) => {
            use crate::config::Section as _;
            let mut settings = ctx.resolve(&args.call)?;
            // doctor's own flag, over the environment and the profile.
            settings.dfns = crate::config::DfnsSettings {
                expiry_warning_days: args.expiry_warning_days,
                ..Default::default()
            }
            .or(settings.dfns);
            tokio::task::spawn_blocking(move || doctor::run(&settings, args.key))
                .await
                .map_err(|e| CliError::Failed(e.to_string()))??
        }
    };
    Ok((report, ctx.output()))
}
