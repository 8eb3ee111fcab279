//! `dfns-hsm service-account rotate ID --key-label NEW --token-out FILE`: the rotation
//! workflow, rendered step by step.

use std::path::PathBuf;

use clap::Args;

use super::args::CallArgs;
use super::context::Context;
use super::error::{CliError, EXIT_CHECK, EXIT_FAILURE};
use super::output::Report;
use super::text::safe;
use super::token_out::TokenOut;
use crate::hsm::Algorithm;
use crate::workflow::{self, RotateRequest, StepStatus};

/// Arguments of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The service account to replace (`us-...`).
    id: String,
    /// Label of the new account's HSM key; generated when absent.
    #[arg(long)]
    key_label: String,
    /// Where to keep the new account's Dfns access token: a file (mode 0600, never
    /// overwritten) or a pkcs11: URI of a private data object (pkcs11:object=LABEL;type=data)
    #[arg(long, value_name = "FILE")]
    token_out: PathBuf,
    /// Name of the new account (default: the old name with today's date, e.g. ops-bot-20261201).
    #[arg(long)]
    name: Option<String>,
    /// Lifetime of the new account's Dfns token in days (1 to 730).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=730))]
    days_valid: Option<u32>,
    /// Algorithm of a newly generated key.
    #[arg(long, value_parser = |s: &str| s.parse::<Algorithm>())]
    algorithm: Option<Algorithm>,
    /// Archive the old account instead of deactivating it.
    #[arg(long)]
    archive_old: bool,
    /// The old account's Dfns token, when kept on the HSM (pkcs11:object=LABEL;type=data):
    /// destroyed once the old account is archived (needs --archive-old).
    #[arg(long, value_name = "URI", requires = "archive_old")]
    old_token: Option<String>,
    /// The admin identity that rotates, and the HSM for the new key.
    #[command(flatten)]
    call: CallArgs,
}

/// Run `rotate`: exit 0 when every step is done, 4 when a new account exists that a person
/// must finish or undo, 1 when it stopped before creating anything.
pub async fn run(ctx: &Context, args: RotateArgs) -> Result<Report, CliError> {
    let settings = ctx.resolve(&args.call)?;
    let token_out = TokenOut::prepare(&settings, &args.token_out)?;
    let admin = settings.signed_client()?;
    let token = settings.open_token(&settings.hsm)?;
    let request = RotateRequest {
        old_account_id: args.id.clone(),
        new_name: args.name.clone(),
        key_label: args.key_label.clone(),
        algorithm: args.algorithm,
        days_valid: args.days_valid,
        archive_old: args.archive_old,
        allow_unsafe_key: settings.allow_unsafe_key,
    };
    // The old token's object is found before anything changes, so a wrong URI costs nothing.
    let old_token = match &args.old_token {
        Some(uri) => Some((
            uri.clone(),
            super::token_out::open_data_object(&settings, uri)?,
        )),
        None => None,
    };
    if let Some((uri, (tok, label))) = &old_token {
        if !tok.has_secret(label)? {
            return Err(CliError::Usage(format!(
                "--old-token {uri}: no such data object on the token"
            )));
        }
    }
    let interrupt = super::signals::catch()?;
    let rotation = workflow::rotate(
        &admin,
        &token,
        &request,
        Some(token_out.store()),
        &interrupt,
    )
    .await;
    super::signals::settled();
    let mut human = String::new();
    for step in &rotation.steps {
        let tag = match step.status {
            StepStatus::Done => "done",
            StepStatus::Failed => "FAIL",
            StepStatus::NotRun => "----",
        };
        human.push_str(&format!(
            "[{tag}] {:<24} {}\n",
            step.name,
            safe(&step.detail)
        ));
    }
    if let Some(next) = &rotation.next {
        human.push_str(&format!("next: {}\n", safe(next)));
    }
    let mut json = serde_json::to_value(&rotation).unwrap_or_default();
    // The archived account's token is useless now; it is not left on the HSM.
    if let (true, Some((uri, (tok, label)))) = (rotation.complete, &old_token) {
        match tok.delete_secret(label) {
            Ok(()) => {
                human.push_str(&format!(
                    "deleted the old account's token kept in {}\n",
                    safe(uri)
                ));
                json["oldTokenDeleted"] = serde_json::json!(uri);
            }
            Err(e) => {
                human.push_str(&format!(
                    "could not delete the old account's token kept in {}: {}\n",
                    safe(uri),
                    safe(&e.to_string())
                ));
                json["oldTokenDeleted"] = serde_json::Value::Null;
            }
        }
    }
    let mut report = Report::new(json, human);
    report.exit_code = if rotation.complete {
        0
    } else if rotation.left_half_done() {
        EXIT_CHECK
    } else {
        EXIT_FAILURE
    };
    Ok(report)
}
