//! Hints: what to do next, naming this CLI's flags, variables and commands. Library errors
//! state facts only; this is where they meet the command line.

use super::error::CliError;
use crate::config::ConfigError;
use crate::hsm::Error as HsmError;
use crate::signer::SignerError;
use crate::workflow::{TokenFileError, WorkflowError};

/// The hint for `err`, if it has one.
pub(super) fn for_error(err: &CliError) -> Option<String> {
    match err {
        CliError::Hsm(e) => hsm(e),
        CliError::Signer(e) => signer(e),
        CliError::Config(e) => config(e),
        CliError::Workflow(e) => workflow(e),
        CliError::TokenFile(e) => token_file(e),
        _ => None,
    }
}

fn hsm(e: &HsmError) -> Option<String> {
    let hint = match e {
        HsmError::ModuleLoad { .. } => {
            "check --module / DFNS_HSM_MODULE names the vendor's library (e.g. /usr/lib/softhsm/libsofthsm2.so)"
        }
        HsmError::TokenNotFound { .. } => {
            "check --token / DFNS_HSM_TOKEN (or run `dfns-hsm token list`)"
        }
        HsmError::PinIncorrect { .. } => {
            "check the PIN source (--pin-source / DFNS_HSM_PIN_SOURCE / DFNS_HSM_PIN)"
        }
        HsmError::PinPrompt(_) => "with no terminal use --pin-source env:VAR or file:PATH",
        HsmError::KeyNotFound { .. } => "list keys with `dfns-hsm key list`",
        _ => return None,
    };
    Some(hint.to_owned())
}

fn signer(e: &SignerError) -> Option<String> {
    match e {
        SignerError::CredentialNotAllowed { .. } => {
            Some("check --cred-id / DFNS_CRED_ID matches the identity whose token you use".into())
        }
        SignerError::Hsm(e) => hsm(e),
        _ => None,
    }
}

fn config(e: &ConfigError) -> Option<String> {
    let hint = match e {
        ConfigError::NoModule => {
            "use --module PATH, DFNS_HSM_MODULE, [hsm] module in --config, or module-path in a pkcs11: URI"
        }
        ConfigError::NoToken => {
            "use --token LABEL, DFNS_HSM_TOKEN, [hsm] token/serial in --config, or token=/serial= in a pkcs11: URI (never a slot index)"
        }
        ConfigError::TwoTokenSelectors => {
            "give --token (DFNS_HSM_TOKEN) or --token-serial (DFNS_HSM_TOKEN_SERIAL), not both"
        }
        ConfigError::HalfIdentity { given: "key" } => {
            "--signing-key is set but --cred-id (DFNS_CRED_ID) is not: give the credential id Dfns knows the key by"
        }
        ConfigError::HalfIdentity { .. } => {
            "--cred-id is set but --signing-key (DFNS_SIGNING_KEY) is not: give the key (pkcs11: URI, label or file:PATH)"
        }
        ConfigError::OutOfRange {
            setting: "max_attempts",
            ..
        } => "set --max-attempts, DFNS_HSM_MAX_ATTEMPTS or [retry] max_attempts from 1 to 100",
        ConfigError::OutOfRange {
            setting: "timeout_secs",
            ..
        } => "set --timeout, DFNS_HSM_TIMEOUT or [retry] timeout_secs to 1 or more",
        ConfigError::ApiUrl(_) => "check --api-url / DFNS_API_URL / [dfns] api_url in --config",
        ConfigError::Hsm(e) => return hsm(e),
        _ => return None,
    };
    Some(hint.to_owned())
}

fn workflow(e: &WorkflowError) -> Option<String> {
    match e {
        WorkflowError::AlgorithmMismatch { .. } => {
            Some("drop --algorithm to reuse it or choose another --key-label".into())
        }
        WorkflowError::Hsm(e) => hsm(e),
        WorkflowError::Signer(e) => signer(e),
        WorkflowError::Create {
            generated_key: Some(_),
            ..
        } => Some("rerun enroll with the same --key-label to reuse the key".into()),
        WorkflowError::NoToken { account_id } => Some(format!(
            "archive it (`dfns-hsm service-account archive {account_id}`) and create it again"
        )),
        WorkflowError::TokenNotSaved { account_id, .. } => Some(format!(
            "archive the account (`dfns-hsm service-account archive {account_id}`) and enroll again with a writable --token-out"
        )),
        _ => None,
    }
}

fn token_file(e: &TokenFileError) -> Option<String> {
    Some(
        match e {
            TokenFileError::Exists { .. } => "move it away or choose another --token-out",
            TokenFileError::Unwritable { .. } => "choose a writable --token-out",
        }
        .to_owned(),
    )
}
