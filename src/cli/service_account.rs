//! `dfns-hsm service-account ...`: the service-account calls, and `enroll`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{CallArgs, ReadArgs};
use super::context::{Context, Settings};
use super::error::{CliError, EXIT_CHECK};
use super::output::Report;
use super::text::safe;
use super::token_out::TokenOut;
use super::{failure, hint, signals};
use crate::api::{Outcome, ServiceAccount, UpdateServiceAccount};
use crate::config::{HsmSettings, KeyRef};
use crate::hsm::{Algorithm, PinSource};
use crate::signer::{HsmSigner, PublicKey, Signer as _};
use crate::workflow::{self, create_account, AccountRequest, EnrollRequest, Enrolled, Interrupt};

/// Service-account commands.
#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Generate (or reuse) an HSM key, create a service account for it, save its token and
    /// prove the three work together with a signed round trip as the new account.
    Enroll(EnrollArgs),
    /// Replace an account before its token expires: a new HSM key and account with the same
    /// permissions, its token saved and proven, then the old account deactivated (or archived).
    Rotate(super::rotate::RotateArgs),
    /// Create a service account for an existing public key.
    Create(CreateArgs),
    /// List the organization's service accounts.
    List {
        /// The API to ask.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show one service account.
    Get {
        /// Service account id (`us-...`).
        id: String,
        /// The API to ask.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Rename a service account or change its external id.
    Update {
        /// Service account id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New external id.
        #[arg(long)]
        external_id: Option<String>,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// Activate a service account.
    Activate {
        /// Service account id.
        id: String,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// Deactivate a service account.
    Deactivate {
        /// Service account id.
        id: String,
        /// Bypass the policy approval check.
        #[arg(long)]
        force: bool,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// Archive (delete) a service account.
    Archive {
        /// Service account id.
        id: String,
        /// Bypass the policy approval check.
        #[arg(long)]
        force: bool,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
}

/// What a new service account is created with.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Unique name of the account.
    #[arg(long)]
    name: String,
    /// Lifetime of the account's Dfns token in days (1 to 730).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=730))]
    days_valid: Option<u32>,
    /// Permission to assign (`pm-...`).
    #[arg(long)]
    permission_id: Option<String>,
    /// Your correlation id.
    #[arg(long)]
    external_id: Option<String>,
    /// Where to keep the new account's Dfns access token (Dfns returns it only once): a file
    /// (mode 0600, never overwritten) or a pkcs11: URI of a private data object on the HSM token
    /// (pkcs11:object=LABEL;type=data)
    #[arg(long, value_name = "FILE", required_unless_present = "print_token")]
    token_out: Option<PathBuf>,
    /// Also print the new account's Dfns access token in the output (otherwise never printed).
    #[arg(long)]
    print_token: bool,
}

impl AccountArgs {
    fn request(&self) -> AccountRequest {
        AccountRequest {
            name: self.name.clone(),
            days_valid: self.days_valid,
            permission_id: self.permission_id.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// The token destination (a file or a data object on the HSM token), checked before
    /// anything is created.
    fn token_file(&self, settings: &Settings) -> Result<Option<TokenOut>, CliError> {
        self.token_out
            .as_deref()
            .map(|p| TokenOut::prepare(settings, p))
            .transpose()
    }
}

/// Arguments of `enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    account: AccountArgs,
    /// Label of the HSM key; generated when absent, reused when present.
    #[arg(long)]
    key_label: String,
    /// Algorithm of a newly generated key.
    #[arg(long, value_parser = parse_algorithm)]
    algorithm: Option<Algorithm>,
    /// The admin identity that creates the account, and the HSM that holds the new key.
    #[command(flatten)]
    call: CallArgs,
}

/// Arguments of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    account: AccountArgs,
    /// The account's key: pkcs11: URI or label on the HSM.
    #[arg(
        long,
        value_name = "REF",
        conflicts_with = "public_key_file",
        required_unless_present = "public_key_file"
    )]
    key: Option<String>,
    /// The account's public key as an SPKI PEM file.
    #[arg(long, value_name = "PEM")]
    public_key_file: Option<PathBuf>,
    /// The admin identity that creates the account.
    #[command(flatten)]
    call: CallArgs,
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

/// Run a service-account command.
pub async fn run(ctx: &Context, cmd: ServiceAccountCommand) -> Result<Report, CliError> {
    match cmd {
        ServiceAccountCommand::List { read } => {
            let list = read_settings(ctx, read)?
                .client(None)?
                .service_accounts()
                .list()
                .await?;
            let mut human = format!("{} service account(s)\n", list.items.len());
            for a in &list.items {
                human.push_str(&format!(
                    "  {:<34} {:<24} {}\n",
                    safe(&a.user_info.user_id),
                    safe(&a.user_info.name),
                    if a.user_info.is_active {
                        "active"
                    } else {
                        "inactive"
                    }
                ));
            }
            Ok(Report::new(to_json(&list)?, human))
        }
        ServiceAccountCommand::Get { id, read } => {
            let a = read_settings(ctx, read)?
                .client(None)?
                .service_accounts()
                .get(&id)
                .await?;
            Ok(account_report(&a, "service account"))
        }
        ServiceAccountCommand::Update {
            id,
            name,
            external_id,
            call,
        } => {
            if name.is_none() && external_id.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give --name and/or --external-id".into(),
                ));
            }
            let client = ctx.resolve(&call)?.signed_client()?;
            let body = UpdateServiceAccount { name, external_id };
            let outcome = client.service_accounts().update(&id, &body).await?;
            Ok(outcome_report(outcome, "updated"))
        }
        ServiceAccountCommand::Activate { id, call } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            let outcome = client.service_accounts().activate(&id).await?;
            Ok(outcome_report(outcome, "activated"))
        }
        ServiceAccountCommand::Deactivate { id, force, call } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            let outcome = client.service_accounts().deactivate(&id, force).await?;
            Ok(outcome_report(outcome, "deactivated"))
        }
        ServiceAccountCommand::Archive { id, force, call } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            let outcome = client.service_accounts().archive(&id, force).await?;
            Ok(outcome_report(outcome, "archived"))
        }
        ServiceAccountCommand::Create(args) => create(ctx, args).await,
        ServiceAccountCommand::Enroll(args) => enroll(ctx, args).await,
        ServiceAccountCommand::Rotate(args) => super::rotate::run(ctx, args).await,
    }
}

fn read_settings(ctx: &Context, read: ReadArgs) -> Result<Settings, CliError> {
    ctx.resolve(&CallArgs {
        api: read.api,
        retry: read.retry,
        ..CallArgs::default()
    })
}

async fn create(ctx: &Context, args: CreateArgs) -> Result<Report, CliError> {
    let settings = ctx.resolve(&args.call)?;
    let key_ref = args.key.as_deref().map(str::parse::<KeyRef>).transpose()?;
    let early = catch_unless_prompting(&settings, false, key_ref.as_ref())?;
    let token_file = args.account.token_file(&settings)?;
    let (public_key, key_uri) = match (&key_ref, &args.public_key_file) {
        (Some(key_ref), _) => {
            // The key becomes the account's credential: safe, and its public key proven.
            let key = settings.hsm_key(key_ref)?;
            settings.ensure_safe(&key)?;
            let signer = HsmSigner::new(key, "")?;
            signer.prove_pair()?;
            (
                signer.public_key_pem().to_owned(),
                Some(signer.key_uri().to_owned()),
            )
        }
        (None, Some(p)) => (read_public_key(p)?, None),
        (None, None) => return Err(CliError::Usage("give --key or --public-key-file".into())),
    };
    let admin = settings.signed_client()?;
    let interrupt = match early {
        Some(interrupt) => interrupt,
        None => signals::catch()?,
    };
    let store = token_file.as_ref().map(TokenOut::store);
    let request = args.account.request();
    let created = create_account(&admin, &request, public_key, store, &interrupt).await;
    signals::settled();
    let created = match created? {
        Outcome::Done(c) => c,
        Outcome::PendingApproval(v) => {
            return Ok(Report::pending_create(
                "create service account",
                v,
                key_uri.as_deref(),
            ))
        }
    };
    if interrupt.is_requested() {
        eprintln!(
            "dfns-hsm: service account {} was created and its token kept; stopping",
            safe(created.account.id())
        );
    }
    let mut json = json!({
        "serviceAccountId": created.account.id(),
        "credId": created.account.cred_id(),
        "keyUri": key_uri,
        "tokenFile": created.stored_at,
    });
    if args.account.print_token {
        json["accessToken"] = json!(created.access_token.expose_secret());
    }
    let human = human_lines(&json);
    Ok(Report::new(json, human))
}

async fn enroll(ctx: &Context, args: EnrollArgs) -> Result<Report, CliError> {
    // Everything that can be checked is checked before the account exists at Dfns.
    let settings = ctx.resolve(&args.call)?;
    let early = catch_unless_prompting(&settings, true, None)?;
    let token_file = args.account.token_file(&settings)?;
    let admin = settings.signed_client()?;
    let token = settings.open_token(&settings.hsm)?;
    let interrupt = match early {
        Some(interrupt) => interrupt,
        None => signals::catch()?,
    };
    let request = EnrollRequest {
        account: args.account.request(),
        key_label: args.key_label.clone(),
        algorithm: args.algorithm,
        allow_unsafe_key: settings.allow_unsafe_key,
    };
    let store = token_file.as_ref().map(TokenOut::store);
    let enrolled = workflow::enroll(&admin, &token, &request, store, &interrupt).await;
    signals::settled();
    let (enrollment, proven) = match enrolled? {
        Enrolled::Done(e) => (e, true),
        Enrolled::Unproven(e) => (e, false),
        Enrolled::PendingApproval {
            key_uri, approval, ..
        } => {
            return Ok(Report::pending_create(
                &format!("create service account for {key_uri}"),
                approval,
                Some(&key_uri),
            ))
        }
    };
    let mut json = json!({
        "serviceAccountId": enrollment.created.account.id(),
        "credId": enrollment.cred_id,
        "keyUri": enrollment.key_uri,
        "keyGenerated": enrollment.key_generated,
        "tokenFile": enrollment.created.stored_at,
        "verified": proven,
        "warnings": enrollment.warnings,
    });
    for w in &enrollment.warnings {
        eprintln!("warning: {}", safe(w));
    }
    if args.account.print_token {
        json["accessToken"] = json!(enrollment.created.access_token.expose_secret());
    }
    let human = human_lines(&json);
    if proven {
        return Ok(Report::new(json, human));
    }
    // Stopped by a signal once the token was kept: a person decides what becomes of it.
    let id = enrollment.created.account.id();
    let stored_at = enrollment.created.stored_at.as_deref();
    let message = format!(
        "stopped by a signal after service account {id} was created: its token was {}, but the \
         signed round trip as the account did not complete, so the account is not proven to work",
        match stored_at {
            Some(path) => format!("saved to {path}"),
            None => "printed in the output (accessToken)".to_owned(),
        }
    );
    let hint = hint::unproven(id, stored_at, &enrollment.cred_id, &enrollment.key_uri);
    failure::print_human(&message, Some(&hint));
    json["error"] = json!({ "kind": "interrupted", "message": message, "hint": hint });
    let mut report = Report::new(json, human);
    report.exit_code = EXIT_CHECK;
    Ok(report)
}

/// Turn SIGINT and SIGTERM into stop requests (see `signals`) now, unless opening the HSM may
/// ask for a PIN on the terminal (for the configured token when `opens_token`, the signing
/// identity's key, or `key`): then the caller does it once the PINs are read, so that Ctrl-C
/// at a prompt still leaves at once.
///
/// Now rather than just before the create, because a process killed while it opens the token
/// can destroy a SoftHSM2 token (seen: `token.object` left empty), and while it generates a
/// key can leave one half written; a stop request lets those steps finish.
fn catch_unless_prompting(
    settings: &Settings,
    opens_token: bool,
    key: Option<&KeyRef>,
) -> Result<Option<Interrupt>, CliError> {
    let prompts = |hsm: &HsmSettings| matches!(hsm.pin_source(), Ok(PinSource::Prompt));
    let identity = settings.dfns.identity().ok().flatten();
    let on_hsm = |k: &KeyRef| match k {
        KeyRef::File(_) => false,
        k => settings.key_location(k).is_ok_and(|(hsm, _)| prompts(&hsm)),
    };
    let prompting = (opens_token && prompts(&settings.hsm))
        || identity.iter().any(|(k, _)| on_hsm(k))
        || key.is_some_and(on_hsm);
    if prompting {
        Ok(None)
    } else {
        signals::catch().map(Some)
    }
}

fn read_public_key(path: &std::path::Path) -> Result<String, CliError> {
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    PublicKey::from_spki_pem(&pem).map_err(|e| {
        CliError::Usage(format!(
            "{}: {e}; it must be an SPKI PEM (-----BEGIN PUBLIC KEY-----)",
            path.display()
        ))
    })?;
    Ok(pem.trim().to_owned())
}

fn outcome_report(outcome: Outcome<ServiceAccount>, verb: &str) -> Report {
    match outcome {
        Outcome::Done(a) => account_report(&a, verb),
        Outcome::PendingApproval(v) => Report::pending(verb, v),
    }
}

fn account_report(a: &ServiceAccount, verb: &str) -> Report {
    let human = format!(
        "{verb}: {} \"{}\" ({})\ncredId: {}",
        safe(a.id()),
        safe(&a.user_info.name),
        if a.user_info.is_active {
            "active"
        } else {
            "inactive"
        },
        safe(a.cred_id().unwrap_or("-"))
    );
    Report::new(to_json(a).unwrap_or_default(), human)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::Failed(e.to_string()))
}

fn human_lines(json: &serde_json::Value) -> String {
    let mut out = String::new();
    if let Some(map) = json.as_object() {
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => safe(s).into_owned(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out
}
