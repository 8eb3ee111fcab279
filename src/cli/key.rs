//! `dfns-hsm key ...`: generate, list, export and sign with HSM keys.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{CallArgs, HsmArgs, SigningArgs};
use super::context::{Context, Settings};
use super::error::CliError;
use super::output::Report;
use super::text::safe;
use crate::config::KeyRef;
use crate::hsm::{Algorithm, Key, Pkcs11Uri};
use crate::signer::{sign_audited, HsmSigner, Signer, UserActionChallenge};

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a non-extractable key pair on the token (refuses an existing label).
    Generate {
        /// Label (CKA_LABEL) of the new key.
        #[arg(long)]
        label: String,
        /// Algorithm.
        #[arg(long, default_value = "ecdsa-p256", value_parser = parse_algorithm)]
        algorithm: Algorithm,
        /// The token to generate on.
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// List the private keys on the token.
    List {
        /// The token to list.
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// Print a key's public key as SPKI PEM (what Dfns registers).
    PublicKey {
        /// pkcs11: URI, label, or file:PATH.
        #[arg(long, value_name = "REF")]
        key: String,
        /// The token holding the key.
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// Sign a user-action challenge and print the firstFactor JSON (delegated flows).
    SignChallenge(SignChallengeArgs),
    /// Destroy a key pair on the token (its private and public objects); cannot be undone.
    Delete {
        /// pkcs11: URI or label of the key.
        #[arg(long, value_name = "REF")]
        key: String,
        /// Confirm: the pair is destroyed for good (refused without it).
        #[arg(long)]
        yes: bool,
        /// The token holding the key.
        #[command(flatten)]
        hsm: HsmArgs,
    },
    /// Destroy a Dfns token kept on the HSM as a data object (`--token-out pkcs11:...`).
    DeleteToken {
        /// pkcs11: URI of the data object (pkcs11:object=LABEL;type=data).
        #[arg(long, value_name = "URI")]
        object: String,
        /// Confirm: the token is destroyed for good (refused without it).
        #[arg(long)]
        yes: bool,
        /// The token holding it.
        #[command(flatten)]
        hsm: HsmArgs,
    },
}

/// Arguments of `key sign-challenge`.
#[derive(Debug, Args)]
pub struct SignChallengeArgs {
    /// pkcs11: URI, label, or file:PATH.
    #[arg(long, value_name = "REF")]
    key: String,
    /// The `challenge` string from /auth/action/init.
    #[arg(
        long,
        conflicts_with = "challenge_json",
        required_unless_present = "challenge_json"
    )]
    challenge: Option<String>,
    /// The whole /auth/action/init response, from a file or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    challenge_json: Option<PathBuf>,
    /// Credential id the key is registered under at Dfns [env: DFNS_CRED_ID]
    #[arg(long, value_name = "ID")]
    cred_id: Option<String>,
    /// Append one JSON line per signature to FILE (created 0600) [env: DFNS_HSM_AUDIT_LOG]
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Sign although the key is extractable, was ever extractable or not sensitive, or can
    /// decrypt, unwrap or derive (refused without this flag)
    #[arg(long)]
    allow_unsafe_key: bool,
    /// The token holding the key.
    #[command(flatten)]
    hsm: HsmArgs,
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse()
}

/// Run a key command.
pub async fn run(ctx: &Context, cmd: KeyCommand) -> Result<Report, CliError> {
    match cmd {
        KeyCommand::Generate {
            label,
            algorithm,
            hsm,
        } => {
            let settings = hsm_only(ctx, hsm)?;
            let token = settings.open_token(&settings.hsm)?;
            let key = tokio::task::spawn_blocking(move || -> Result<Arc<Key>, CliError> {
                let key = Arc::new(Key::generate(&token, &label, algorithm)?);
                // The public key printed is proven by a signature, as everywhere.
                HsmSigner::new(Arc::clone(&key), "")?.prove_pair()?;
                Ok(key)
            })
            .await
            .map_err(|e| CliError::Failed(e.to_string()))??;
            Ok(describe(&key, "generated"))
        }
        KeyCommand::List { hsm } => {
            let settings = hsm_only(ctx, hsm)?;
            let token = settings.open_token(&settings.hsm)?;
            let keys = Key::list(&token)?;
            let mut human = format!("{} key(s) on token {:?}\n", keys.len(), token.label());
            for k in &keys {
                let alg = k
                    .algorithm
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "unsupported".into());
                let safety = k.attributes.unsafe_reasons();
                let safety = if safety.is_empty() {
                    "non-extractable".to_owned()
                } else {
                    format!("UNSAFE: {}", safety.join(", "))
                };
                human.push_str(&format!(
                    "  {:<24} {:<16} id {}  {}\n",
                    safe(&k.label),
                    alg,
                    k.id,
                    safety
                ));
            }
            let module = token.module().path();
            let keys: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| {
                    let mut v = serde_json::to_value(k).unwrap_or_default();
                    let uri = Pkcs11Uri::key(token.label(), &k.label, &k.id_bytes(), Some(module));
                    v["uri"] = json!(uri.to_string());
                    v
                })
                .collect();
            Ok(Report::new(
                json!({ "token": token.label(), "keys": keys }),
                human,
            ))
        }
        KeyCommand::PublicKey { key, hsm } => {
            let key_ref: KeyRef = key.parse()?;
            let settings = hsm_only(ctx, hsm)?;
            // An HSM key's public key is printed only once a signature proves it.
            let signer: Arc<dyn Signer> = match &key_ref {
                KeyRef::File(_) => settings.signer(&key_ref, "")?,
                _ => Arc::new(settings.proven_hsm_key(&key_ref)?),
            };
            let pem = signer.public_key_pem().to_owned();
            Ok(Report::new(
                json!({ "key": key, "algorithm": signer.algorithm(), "publicKeyPem": pem }),
                pem,
            ))
        }
        KeyCommand::SignChallenge(args) => sign_challenge(ctx, args).await,
        KeyCommand::Delete { key, yes, hsm } => delete(ctx, &key, yes, hsm).await,
        KeyCommand::DeleteToken { object, yes, hsm } => {
            if !yes {
                return Err(CliError::Usage(format!(
                    "`key delete-token` destroys the Dfns token kept in {object} for good: pass --yes to confirm (nothing was destroyed)"
                )));
            }
            let settings = hsm_only(ctx, hsm)?;
            let (token, label) = super::token_out::open_data_object(&settings, &object)?;
            token.delete_secret(&label)?;
            Ok(Report::new(
                json!({ "deleted": object, "token": token.label() }),
                format!("deleted the Dfns token kept in {}", safe(&object)),
            ))
        }
    }
}

async fn delete(ctx: &Context, key: &str, yes: bool, hsm: HsmArgs) -> Result<Report, CliError> {
    if !yes {
        return Err(CliError::Usage(format!(
            "`key delete` destroys the key pair {key:?} on the token for good: pass --yes to confirm (nothing was destroyed)"
        )));
    }
    let key_ref: KeyRef = key.parse()?;
    let settings = hsm_only(ctx, hsm)?;
    let key = settings.hsm_key(&key_ref)?;
    let deleted = tokio::task::spawn_blocking(move || -> Result<_, CliError> {
        // The fingerprint printed is the private key's own: proven by a signature first.
        HsmSigner::new(Arc::clone(&key), "")?.prove_pair()?;
        let key = Arc::try_unwrap(key).map_err(|_| {
            CliError::Failed("the key is still in use; nothing was destroyed".into())
        })?;
        Ok(key.delete()?)
    })
    .await
    .map_err(|e| CliError::Failed(e.to_string()))??;
    let info = &deleted.info;
    let uri = deleted.uri.to_string();
    let fingerprint = info.spki_sha256_hex();
    let algorithm = info.algorithm.map(|a| a.to_string()).unwrap_or_default();
    let human = format!(
        "deleted {algorithm} key \"{}\"\nuri:    {}\nid:     {}\nsha256: {fingerprint}\n{}",
        safe(&info.label),
        safe(&uri),
        info.id,
        if deleted.public_object_destroyed {
            "private and public objects destroyed"
        } else {
            "private object destroyed (the token kept no separate public object)"
        }
    );
    Ok(Report::new(
        json!({
            "deleted": true,
            "uri": uri,
            "label": info.label,
            "id": info.id,
            "algorithm": info.algorithm,
            "publicKeySha256": fingerprint,
            "publicObjectDestroyed": deleted.public_object_destroyed,
        }),
        human,
    ))
}

/// Settings of a command that takes only the HSM group.
fn hsm_only(ctx: &Context, hsm: HsmArgs) -> Result<Settings, CliError> {
    ctx.resolve(&CallArgs {
        hsm,
        ..CallArgs::default()
    })
}

async fn sign_challenge(ctx: &Context, args: SignChallengeArgs) -> Result<Report, CliError> {
    let settings = ctx.resolve(&CallArgs {
        hsm: args.hsm.clone(),
        signing: SigningArgs {
            cred_id: args.cred_id.clone(),
            audit_log: args.audit_log.clone(),
            signing_key: None,
            allow_unsafe_key: args.allow_unsafe_key,
        },
        ..CallArgs::default()
    })?;
    let cred_id = settings.dfns.cred_id.clone().ok_or_else(|| {
        CliError::Usage(
            "--cred-id (or DFNS_CRED_ID) is required: the credential id Dfns knows this key by"
                .into(),
        )
    })?;
    if cred_id.trim().is_empty() {
        return Err(CliError::Usage(
            "the credential id is empty: give the id Dfns knows this key by (--cred-id or DFNS_CRED_ID)".into(),
        ));
    }
    if args
        .challenge
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(CliError::Usage(
            "--challenge is empty: give the `challenge` string of the /auth/action/init response"
                .into(),
        ));
    }
    let challenge = match (&args.challenge, &args.challenge_json) {
        (Some(c), _) => UserActionChallenge::for_key(c, "", &cred_id),
        (None, Some(path)) => {
            let text = if path.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(|e| {
                    CliError::Usage(format!("cannot read the challenge from stdin: {e}"))
                })?;
                s
            } else {
                std::fs::read_to_string(path).map_err(|e| {
                    CliError::Usage(format!(
                        "cannot read challenge file {}: {e}",
                        path.display()
                    ))
                })?
            };
            // The error names the field that is wrong, e.g. `allowCredentials.key[0].id`.
            let mut de = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = e.path().to_string();
                let field = if field == "." { "the document".to_owned() } else { format!("field `{field}`") };
                CliError::Usage(format!(
                    "the challenge JSON is not a /auth/action/init response: {field}: {}; it needs at least challenge and challengeIdentifier",
                    e.inner()
                ))
            })?
        }
        (None, None) => {
            return Err(CliError::Usage(
                "give --challenge or --challenge-json".into(),
            ))
        }
    };
    let key_ref: KeyRef = args.key.parse()?;
    let signer = settings.signer(&key_ref, &cred_id)?;
    let audit = settings.audit_log()?;
    // A delegated signature: the request it authorizes is not known here.
    let first_factor = sign_audited(signer.as_ref(), &challenge, audit.as_deref(), None)
        .await
        .map_err(|e| CliError::Failed(e.to_string()))??;
    let json = serde_json::to_value(&first_factor).map_err(|e| CliError::Failed(e.to_string()))?;
    let human = serde_json::to_string(&json).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(Report::new(json, human))
}

fn describe(key: &Key, verb: &str) -> Report {
    let info = key.info();
    let uri = key.uri().to_string();
    let pem = info.public_key_pem.clone().unwrap_or_default();
    let human = format!(
        "{verb} {} key \"{}\" on token \"{}\"\nuri: {}\nid:  {}\n{pem}",
        key.algorithm(),
        safe(&info.label),
        safe(key.token().label()),
        safe(&uri),
        info.id
    );
    Report::new(
        json!({
            "uri": uri,
            "label": info.label,
            "id": info.id,
            "algorithm": key.algorithm(),
            "token": key.token().label(),
            "publicKeyPem": pem,
        }),
        human,
    )
}
