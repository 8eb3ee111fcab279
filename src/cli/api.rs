//! `dfns-hsm api METHOD PATH [--data JSON|@FILE]`: any Dfns endpoint, signed when it must be.

use std::path::Path;

use clap::Args;
use serde_json::json;

use super::args::CallArgs;
use super::context::Context;
use super::error::CliError;
use super::output::Report;
use crate::api::{Method, Outcome, RequestBody};

/// Arguments of `api`.
#[derive(Debug, Args)]
pub struct ApiCommandArgs {
    /// HTTP method (GET, POST, PUT, DELETE, ...).
    method: String,
    /// Path with optional query, e.g. `/auth/service-accounts` or `/wallets?limit=10`.
    path: String,
    /// JSON body, inline or `@FILE` (`@-` for stdin); sent byte for byte.
    #[arg(long)]
    data: Option<String>,
    /// Sign with a user action even if the endpoint table says it needs none (an endpoint
    /// newer than the table).
    #[arg(long, conflicts_with = "no_sign")]
    sign: bool,
    /// Do not sign, even if the endpoint table says the endpoint needs a user action.
    #[arg(long)]
    no_sign: bool,
    /// Where to send it and who signs.
    #[command(flatten)]
    call: CallArgs,
}

/// Run `api`.
pub async fn run(ctx: &Context, args: ApiCommandArgs) -> Result<Report, CliError> {
    let ctx = ctx.resolve(&args.call)?;
    let method = Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CliError::Usage(format!("{:?} is not an HTTP method", args.method)))?;
    if args.path.starts_with("http://") || args.path.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "{:?} is a URL: give the path (e.g. /auth/service-accounts); the API's base URL comes from --api-url",
            args.path
        )));
    }
    let body = args.data.as_deref().map(read_data).transpose()?;
    let client = ctx.client(None)?;
    let override_sign = match (args.sign, args.no_sign) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let signed = match override_sign {
        Some(sign) => sign,
        None => client
            .user_action_rule(&method, &args.path)?
            .requires_user_action(),
    };
    let client = if signed {
        let signer = ctx.identity_signer()?.ok_or_else(|| {
            CliError::Usage(format!(
                "{method} {} needs a user-action signature: give --signing-key and --cred-id",
                args.path
            ))
        })?;
        ctx.client(Some(signer))?
    } else {
        client
    };
    match client
        .call_with(method, &args.path, body, override_sign)
        .await?
    {
        Outcome::Done(resp) => {
            let human = serde_json::to_string_pretty(&resp.body).unwrap_or_default();
            Ok(Report::new(
                json!({ "status": resp.status, "body": resp.body }),
                human,
            ))
        }
        Outcome::PendingApproval(v) => Ok(Report::pending(&args.path, v)),
    }
}

fn read_data(data: &str) -> Result<RequestBody, CliError> {
    let text = match data.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CliError::Usage(format!("cannot read --data from stdin: {e}")))?;
            s
        }
        Some(path) => std::fs::read_to_string(Path::new(path))
            .map_err(|e| CliError::Usage(format!("cannot read --data file {path}: {e}")))?,
        None => data.to_owned(),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| CliError::Usage(format!("--data is not valid JSON: {e}")))?;
    RequestBody::raw(text).map_err(CliError::Usage)
}
