//! `dfns-hsm service-account ...`: the service-account calls, and `enroll`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use super::context::Context;
use super::error::CliError;
use super::output::Report;
use super::token_file::TokenOut;
use crate::api::{
    CreateServiceAccount, DfnsClient, Method, Outcome, RequestBody, ServiceAccount,
    UpdateServiceAccount,
};
use crate::config::KeyRef;
use crate::hsm::{Algorithm, Error as HsmError, Key, KeySelector};
use crate::signer::{HsmSigner, PublicKey};

/// Service-account commands.
#[derive(Debug, Subcommand)]
pub enum ServiceAccountCommand {
    /// Generate (or reuse) an HSM key, create a service account for it, save its token and
    /// prove the three work together with a signed round trip as the new account.
    Enroll(EnrollArgs),
    /// Create a service account for an existing public key.
    Create(CreateArgs),
    /// List the organization's service accounts.
    List,
    /// Show one service account.
    Get {
        /// Service account id (`us-...`).
        id: String,
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
    },
    /// Activate a service account.
    Activate {
        /// Service account id.
        id: String,
    },
    /// Deactivate a service account.
    Deactivate {
        /// Service account id.
        id: String,
        /// Bypass the policy approval check.
        #[arg(long)]
        force: bool,
    },
    /// Archive (delete) a service account.
    Archive {
        /// Service account id.
        id: String,
        /// Bypass the policy approval check.
        #[arg(long)]
        force: bool,
    },
}

/// What a new service account is created with.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Unique name of the account.
    #[arg(long)]
    name: String,
    /// Token lifetime in days (1 to 730).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=730))]
    days_valid: Option<u32>,
    /// Permission to assign (`pm-...`).
    #[arg(long)]
    permission_id: Option<String>,
    /// Your correlation id.
    #[arg(long)]
    external_id: Option<String>,
    /// Write the new account's token here (mode 0600, never overwritten).
    #[arg(long, value_name = "FILE", required_unless_present = "print_token")]
    token_out: Option<PathBuf>,
    /// Also print the token in the output (it is otherwise never printed).
    #[arg(long)]
    print_token: bool,
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
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

/// Run a service-account command.
pub async fn run(ctx: &Context, cmd: ServiceAccountCommand) -> Result<Report, CliError> {
    match cmd {
        ServiceAccountCommand::List => {
            let list = ctx.client(None)?.service_accounts().list().await?;
            let mut human = format!("{} service account(s)\n", list.items.len());
            for a in &list.items {
                human.push_str(&format!(
                    "  {:<34} {:<24} {}\n",
                    a.user_info.user_id,
                    a.user_info.name,
                    if a.user_info.is_active {
                        "active"
                    } else {
                        "inactive"
                    }
                ));
            }
            Ok(Report::new(to_json(&list)?, human))
        }
        ServiceAccountCommand::Get { id } => {
            let a = ctx.client(None)?.service_accounts().get(&id).await?;
            Ok(account_report(&a, "service account"))
        }
        ServiceAccountCommand::Update {
            id,
            name,
            external_id,
        } => {
            if name.is_none() && external_id.is_none() {
                return Err(CliError::Usage(
                    "nothing to update: give --name and/or --external-id".into(),
                ));
            }
            let client = signed_client(ctx)?;
            let body = UpdateServiceAccount { name, external_id };
            let outcome = client.service_accounts().update(&id, &body).await?;
            Ok(outcome_report(outcome, "updated"))
        }
        ServiceAccountCommand::Activate { id } => {
            let outcome = signed_client(ctx)?.service_accounts().activate(&id).await?;
            Ok(outcome_report(outcome, "activated"))
        }
        ServiceAccountCommand::Deactivate { id, force } => {
            let outcome = signed_client(ctx)?
                .service_accounts()
                .deactivate(&id, force)
                .await?;
            Ok(outcome_report(outcome, "deactivated"))
        }
        ServiceAccountCommand::Archive { id, force } => {
            let outcome = signed_client(ctx)?
                .service_accounts()
                .archive(&id, force)
                .await?;
            Ok(outcome_report(outcome, "archived"))
        }
        ServiceAccountCommand::Create(args) => {
            let token_out = args
                .account
                .token_out
                .as_deref()
                .map(TokenOut::prepare)
                .transpose()?;
            let (public_key, key_uri) = match (&args.key, &args.public_key_file) {
                (Some(k), _) => {
                    let key = ctx.hsm_key(&k.parse::<KeyRef>()?)?;
                    (pem_of(&key)?, Some(key.uri().to_string()))
                }
                (None, Some(p)) => (read_public_key(p)?, None),
                (None, None) => {
                    return Err(CliError::Usage("give --key or --public-key-file".into()))
                }
            };
            let client = signed_client(ctx)?;
            let created = create(&client, &args.account, public_key).await?;
            let account = match created {
                Outcome::Done(a) => a,
                Outcome::PendingApproval(v) => {
                    return Ok(Report::pending("create service account", v))
                }
            };
            let token_file = save_token(&account, token_out.as_ref())?;
            let mut json = json!({
                "serviceAccountId": account.id(),
                "credId": account.cred_id(),
                "keyUri": key_uri,
                "tokenFile": token_file,
            });
            if args.account.print_token {
                json["accessToken"] = json!(account.access_token().map(|t| t.expose_secret()));
            }
            let human = human_lines(&json);
            Ok(Report::new(json, human))
        }
        ServiceAccountCommand::Enroll(args) => enroll(ctx, args).await,
    }
}

async fn enroll(ctx: &Context, args: EnrollArgs) -> Result<Report, CliError> {
    // Everything that can be checked is checked before the account exists at Dfns.
    let token_out = args
        .account
        .token_out
        .as_deref()
        .map(TokenOut::prepare)
        .transpose()?;
    let admin = signed_client(ctx)?;
    let settings = ctx.hsm_settings();
    let token = ctx.open_token(&settings)?;
    let label = args.key_label.clone();
    let algorithm = args.algorithm;
    let (key, generated) = tokio::task::spawn_blocking(move || {
        match Key::find(&token, KeySelector::Label(label.clone())) {
            Ok(key) => match algorithm {
                Some(a) if a != key.algorithm() => Err(CliError::Usage(format!(
                    "key {label:?} exists and is {}, not {a}; drop --algorithm to reuse it or choose another --key-label",
                    key.algorithm()
                ))),
                _ => Ok((key, false)),
            },
            Err(HsmError::KeyNotFound { .. }) => {
                let key = Key::generate(&token, &label, algorithm.unwrap_or(Algorithm::EcdsaP256))?;
                Ok((key, true))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
    .map_err(|e| CliError::Failed(e.to_string()))??;
    let key = Arc::new(key);
    let key_uri = key.uri().to_string();
    let created = create(&admin, &args.account, pem_of(&key)?).await.map_err(|e| {
        if generated {
            CliError::Failed(format!(
                "{e}\nnote: the key {key_uri} was generated for this enrollment and is kept; rerun enroll with the same --key-label to reuse it"
            ))
        } else {
            e
        }
    })?;
    let account = match created {
        Outcome::Done(a) => a,
        Outcome::PendingApproval(v) => {
            return Ok(Report::pending(
                &format!("create service account for {key_uri} (its token will not be retrievable: Dfns returns it only to a non-pending create)"),
                v,
            ))
        }
    };
    let token_file = save_token(&account, token_out.as_ref())?;
    let access_token = account
        .access_token()
        .cloned()
        .ok_or_else(|| no_token(&account))?;

    // Prove it: as the new account, with its own token and HSM key, complete a user action.
    // The user-action token obtained is not used, so the proof changes nothing at Dfns.
    let target = format!("/auth/service-accounts/{}", account.id());
    let probe_body =
        RequestBody::json(&json!({ "name": account.user_info.name })).map_err(CliError::Failed)?;
    let cred_id = match account.cred_id() {
        Some(c) if !c.is_empty() => c.to_owned(),
        // Some Dfns responses leave credId empty; a challenge names the credential.
        _ => ctx
            .client_with_token(access_token.clone(), None)?
            .init_user_action(&Method::PUT, &target, Some(&probe_body))
            .await?
            .allowed_key_ids()
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    let signer = HsmSigner::new(Arc::clone(&key), &cred_id)?;
    ctx.client_with_token(access_token.clone(), Some(Arc::new(signer)))?
        .obtain_user_action(&Method::PUT, &target, Some(&probe_body))
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "service account {} was created and its token saved, but a signed round trip as it failed: {e}",
                account.id()
            ))
        })?;

    let mut json = json!({
        "serviceAccountId": account.id(),
        "credId": cred_id,
        "keyUri": key_uri,
        "keyGenerated": generated,
        "tokenFile": token_file,
        "verified": true,
    });
    if args.account.print_token {
        json["accessToken"] = json!(access_token.expose_secret());
    }
    let human = human_lines(&json);
    Ok(Report::new(json, human))
}

async fn create(
    client: &DfnsClient,
    account: &AccountArgs,
    public_key: String,
) -> Result<Outcome<ServiceAccount>, CliError> {
    let body = CreateServiceAccount {
        name: account.name.clone(),
        public_key,
        permission_id: account.permission_id.clone(),
        external_id: account.external_id.clone(),
        days_valid: account.days_valid,
    };
    Ok(client.service_accounts().create(&body).await?)
}

/// Save the new account's token; if that fails, say loudly what was created and what to do.
fn save_token(
    account: &ServiceAccount,
    out: Option<&TokenOut>,
) -> Result<Option<PathBuf>, CliError> {
    let Some(out) = out else {
        return Ok(None);
    };
    let Some(token) = account.access_token() else {
        return Err(no_token(account));
    };
    out.write(token.expose_secret()).map_err(|e| {
        CliError::Failed(format!(
            "SERVICE ACCOUNT {id} WAS CREATED BUT ITS TOKEN COULD NOT BE SAVED to {path}: {e}.\n\
             Dfns returns a token only once, so it is lost. Archive the account \
             (`dfns-hsm service-account archive {id}`) and enroll again with a writable --token-out.",
            id = account.id(),
            path = out.path().display()
        ))
    })?;
    Ok(Some(out.path().to_path_buf()))
}

fn no_token(account: &ServiceAccount) -> CliError {
    CliError::Failed(format!(
        "service account {id} was created but the response carried no access token; archive it (`dfns-hsm service-account archive {id}`) and create it again",
        id = account.id()
    ))
}

fn signed_client(ctx: &Context) -> Result<DfnsClient, CliError> {
    let signer = ctx.identity_signer()?.ok_or_else(|| {
        CliError::Usage(
            "this call needs a user-action signature: give --signing-key and --cred-id (or DFNS_SIGNING_KEY / DFNS_CRED_ID) of the identity whose token you use".into(),
        )
    })?;
    ctx.client(Some(signer))
}

fn pem_of(key: &Key) -> Result<String, CliError> {
    key.info()
        .public_key_pem
        .clone()
        .ok_or_else(|| CliError::Failed(format!("the public key of {} cannot be read", key.uri())))
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
        "{verb}: {} {:?} ({})\ncredId: {}",
        a.id(),
        a.user_info.name,
        if a.user_info.is_active {
            "active"
        } else {
            "inactive"
        },
        a.cred_id().unwrap_or("-")
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
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            out.push_str(&format!("{k}: {v}\n"));
        }
    }
    out
}
