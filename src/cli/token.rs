//! `dfns-hsm token list`: slots, token labels, serials and mechanisms.

use clap::Subcommand;
use serde_json::json;

use super::args::{CallArgs, HsmArgs};
use super::context::Context;
use super::error::CliError;
use super::output::Report;
use crate::hsm::Token;

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the module's tokens (no login needed).
    List {
        /// The module to ask.
        #[command(flatten)]
        hsm: HsmArgs,
    },
}

/// Run a token command.
pub fn run(ctx: &Context, cmd: TokenCommand) -> Result<Report, CliError> {
    match cmd {
        TokenCommand::List { hsm } => {
            let settings = ctx.resolve(&CallArgs {
                hsm,
                ..CallArgs::default()
            })?;
            let module = settings.module(&settings.hsm)?;
            let tokens = Token::list(&module)?;
            let mut human = format!(
                "module {} ({})\n",
                module.path().display(),
                module.describe()
            );
            if tokens.is_empty() {
                human.push_str("no token present\n");
            }
            for t in &tokens {
                if let Some(why) = &t.unreadable {
                    human.push_str(&format!("- slot {}: {why}\n", t.slot_id));
                    continue;
                }
                if !t.initialized {
                    human.push_str(&format!(
                        "- slot {}: token not initialized (cannot be selected)\n",
                        t.slot_id
                    ));
                    continue;
                }
                human.push_str(&format!(
                    "- token {:?} serial {} ({} {}), slot {}{}\n  mechanisms: {}\n",
                    t.label,
                    t.serial,
                    t.manufacturer,
                    t.model,
                    t.slot_id,
                    if t.pin_flags.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", t.pin_flags.join(", "))
                    },
                    t.mechanisms.join(" "),
                ));
            }
            Ok(Report::new(
                json!({ "module": module.path(), "library": module.describe(), "tokens": tokens }),
                human,
            ))
        }
    }
}
