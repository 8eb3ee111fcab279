//! `dfns-hsm completions SHELL` and `dfns-hsm manpage`: generated from the command tree, so
//! they never drift from `--help`.

use clap::{CommandFactory as _, ValueEnum};

use super::error::CliError;
use super::output::Report;
use super::Cli;

/// Shells completions are generated for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU Bash (`source <(dfns-hsm completions bash)`).
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Result<Report, CliError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "dfns-hsm", &mut out);
    script_report(out)
}

/// The man page (roff), for `man -l -` or installing as `dfns-hsm.1`.
pub fn manpage() -> Result<Report, CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| CliError::Failed(format!("cannot render the man page: {e}")))?;
    script_report(out)
}

/// A generated text: printed as is, in both output formats (it is a file, not a report).
fn script_report(bytes: Vec<u8>) -> Result<Report, CliError> {
    let text = String::from_utf8(bytes)
        .map_err(|e| CliError::Failed(format!("generated text is not UTF-8: {e}")))?;
    Ok(Report::raw(text))
}
