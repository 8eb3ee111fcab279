//! `dfns-hsm token list`: slots, token labels, serials and mechanisms.

use clap::Subcommand;
use serde_json::json;

use super::args::{CallArgs, HsmArgs};
use super::context::Context;
use super::error::CliError;
use super::output::Report;
use super::text::safe;
use crate::hsm::{mechanisms_for, Algorithm, Token};

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
            // The mechanisms dfns-hsm signs and generates with, marked in the listing.
            let used: std::collections::BTreeSet<&str> = Algorithm::ALL
                .iter()
                .flat_map(|a| mechanisms_for(*a).map(|(_, name)| name))
                .collect();
            let mark = |m: &String| {
                if used.contains(m.as_str()) {
                    format!("{}*", safe(m))
                } else {
                    safe(m).into_owned()
                }
            };
            if !tokens.is_empty() {
                human.push_str("(* marks the mechanisms dfns-hsm uses)\n");
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
                    "- token \"{}\" serial {} ({} {}), slot {}{}\n  mechanisms: {}\n",
                    safe(&t.label),
                    safe(&t.serial),
                    safe(&t.manufacturer),
                    safe(&t.model),
                    t.slot_id,
                    if t.pin_flags.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", t.pin_flags.join(", "))
                    },
                    t.mechanisms.iter().map(mark).collect::<Vec<_>>().join(" "),
                ));
            }
            let tokens: Vec<serde_json::Value> = tokens
                .iter()
                .map(|t| {
                    let mut v = serde_json::to_value(t).unwrap_or_default();
                    let ours: Vec<&String> = t
                        .mechanisms
                        .iter()
                        .filter(|m| used.contains(m.as_str()))
                        .collect();
                    v["dfnsHsmMechanisms"] = json!(ours);
                    v
                })
                .collect();
            Ok(Report::new(
                json!({ "module": module.path(), "library": module.describe(), "tokens": tokens }),
                human,
            ))
        }
    }
}
