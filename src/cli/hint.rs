//! Hints: what to do next, naming this CLI's flags, variables and commands. Library errors
//! state facts only; this is where they meet the command line.

use super::error::CliError;
use crate::api::{
    ApiError, AuthFailure, AuthTokenError, HttpError, ENV_AUTH_TOKEN, ENV_AUTH_TOKEN_FILE,
};
use crate::config::ConfigError;
use crate::hsm::{Distinct, Error as HsmError};
use crate::signer::SignerError;
use crate::workflow::{TokenFileError, WorkflowError};

/// The hint for `err`, if it has one.
pub(super) fn for_error(err: &CliError) -> Option<String> {
    match err {
        CliError::Api(e) => api_hint(e),
        CliError::AuthToken(e) => auth_token(e),
        CliError::Hsm(e) => hsm(e),
        CliError::Signer(e) => signer(e),
        CliError::Config(e) => config(e),
        CliError::Workflow(e) => workflow(e),
        CliError::TokenFile(e) => token_file(e),
        _ => None,
    }
}

/// The flags that fix an API error, looking through the errors that wrap another.
pub(crate) fn api_hint(err: &ApiError) -> Option<String> {
    let hint = match err {
        ApiError::Http(e) => http_hint(e)?,
        ApiError::Transport { .. } => "check --api-url and the network",
        ApiError::NoSigner { .. } => {
            "pass --cred-id and --signing-key (DFNS_CRED_ID, DFNS_SIGNING_KEY)"
        }
        ApiError::CreatedTokenLost { account_id, .. } => {
            return Some(format!(
                "`dfns-hsm service-account archive {account_id}`, then create it again"
            ))
        }
        ApiError::UserAction { source, .. } => return api_hint(source),
        ApiError::Signer(e) => return signer(e),
        ApiError::RetriesExhausted { last, .. } => return api_hint(last),
        ApiError::OutcomeUnknown { source, check, .. } => {
            return api_hint(source).or_else(|| check.as_deref().and_then(api_hint))
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

/// The flags behind an HTTP status, for the statuses a setting can cause.
fn http_hint(e: &HttpError) -> Option<&'static str> {
    match e.status {
        300..=399 => Some("check --api-url"),
        401 => Some(match e.auth_failure() {
            Some(AuthFailure::BadSignature) => {
                "check that --cred-id and --signing-key belong together (`dfns-hsm doctor` checks the key); the credential id is the one Dfns returned for this key"
            }
            Some(AuthFailure::Deactivated) => {
                "an admin can activate it again with `dfns-hsm service-account activate <id>`"
            }
            Some(AuthFailure::TokenExpired) => {
                "a service account's token cannot be renewed: create a new account (enroll again) and switch to its token"
            }
            _ => "check --auth-token-file / DFNS_AUTH_TOKEN and --api-url",
        }),
        403 => Some(
            "check the identity's permissions, and that --cred-id and --signing-key belong to \
             the identity whose token is used",
        ),
        _ => None,
    }
}

fn auth_token(e: &AuthTokenError) -> Option<String> {
    match e {
        AuthTokenError::Missing => Some(format!(
            "pass --auth-token-file FILE, or set {ENV_AUTH_TOKEN_FILE} (a file) or {ENV_AUTH_TOKEN} (the token)"
        )),
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
        HsmError::AmbiguousToken { distinct, .. } => match distinct {
            Distinct::Serial => {
                "select the token by serial with --token-serial / DFNS_HSM_TOKEN_SERIAL (or pkcs11:serial=...); `dfns-hsm token list` shows them"
            }
            Distinct::Label => "select the token by label with --token / DFNS_HSM_TOKEN (or pkcs11:token=...); `dfns-hsm token list` shows them",
            Distinct::Nothing => {
                "give each token its own label (serials cannot help: tpm2-pkcs11 gives every token serial 0000000000000000), or remove the duplicate"
            }
        },
        HsmError::AlgorithmUnavailable { .. } => {
            "choose another --algorithm; `dfns-hsm doctor` lists what this token supports"
        }
        HsmError::PinIncorrect { .. } => {
            "check the PIN source (--pin-source / DFNS_HSM_PIN_SOURCE / DFNS_HSM_PIN)"
        }
        HsmError::PinPrompt(_) => "with no terminal use --pin-source env:VAR or file:PATH",
        HsmError::KeyNotFound { .. } => "list keys with `dfns-hsm key list`",
        HsmError::UnsafeKey { .. } => {
            "generate a key with `dfns-hsm key generate` (sensitive, never extractable, sign-only), or pass --allow-unsafe-key to use this one anyway"
        }
        HsmError::UntrustedPublicKey(_) => {
            "list the token's objects with `pkcs11-tool --list-objects --login` and delete the public keys that are not this key's"
        }
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
        SignerError::PairMismatch { .. } => Some(
            "list the token's objects with `pkcs11-tool --list-objects --login`: the public key with this key's id was not made with it".into(),
        ),
        _ => None,
    }
}

fn config(e: &ConfigError) -> Option<String> {
    let hint = match e {
        ConfigError::NoModule => {
            "use --module PATH, DFNS_HSM_MODULE or [hsm] module in --config"
        }
        ConfigError::UriModulePath { .. } => {
            "set the library you trust with --module, DFNS_HSM_MODULE or [hsm] module in --config; a module-path in a pkcs11: URI must name that same library (or drop it)"
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
        WorkflowError::NameTaken { .. } => Some("choose another --name".into()),
        WorkflowError::AlgorithmMismatch { .. } => {
            Some("drop --algorithm to reuse it or choose another --key-label".into())
        }
        WorkflowError::Hsm(e) => hsm(e),
        WorkflowError::Signer(e) => signer(e),
        WorkflowError::Create {
            generated_key: Some(_),
            ..
        }
        | WorkflowError::Interrupted {
            generated_key: Some(_),
        } => Some("rerun enroll with the same --key-label to reuse the key".into()),
        WorkflowError::Create { source, .. }
        | WorkflowError::Api(source)
        | WorkflowError::Proof { source, .. } => api_hint(source),
        WorkflowError::NoToken { account_id } => Some(format!(
            "archive it (`dfns-hsm service-account archive {account_id}`) and create it again"
        )),
        WorkflowError::TokenNotSaved { account_id, .. } => Some(format!(
            "archive the account (`dfns-hsm service-account archive {account_id}`) and enroll again with a writable --token-out"
        )),
        _ => None,
    }
}

/// What to do with an account a signal left created, its token kept, but not proven.
pub(super) fn unproven(
    account_id: &str,
    token_file: Option<&str>,
    cred_id: &str,
    key_uri: &str,
) -> String {
    let token = match token_file {
        Some(f) => format!("DFNS_AUTH_TOKEN_FILE={f}"),
        None => "DFNS_AUTH_TOKEN=<accessToken>".to_owned(),
    };
    let cred_id = if cred_id.is_empty() {
        "<its credId, from `dfns-hsm service-account get`>"
    } else {
        cred_id
    };
    format!(
        "check it with a signed call as the account ({token} DFNS_CRED_ID={cred_id} \
         DFNS_SIGNING_KEY='{key_uri}'), or archive it (`dfns-hsm service-account archive \
         {account_id}`) and enroll again"
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{HttpError, Method};

    #[test]
    fn api_errors_get_the_flags_that_fix_them() {
        let no_signer = ApiError::NoSigner {
            method: Method::POST,
            target: "/wallets".into(),
        };
        let hint = CliError::from(no_signer).hint().expect("a hint");
        assert!(hint.contains("--signing-key"), "{hint}");
        assert!(hint.contains("--cred-id"), "{hint}");

        let unauthorized = HttpError::from_body(401, Method::GET, "/x".into(), b"");
        let in_flow = ApiError::UserAction {
            method: Method::PUT,
            target: "/y".into(),
            source: Box::new(unauthorized.into()),
        };
        let hint = CliError::from(in_flow).hint().expect("a hint");
        assert!(
            hint.contains("--auth-token-file") && hint.contains("--api-url"),
            "{hint}"
        );

        let unsafe_key = HsmError::UnsafeKey {
            key: "\"k\"".into(),
            reasons: "CKA_EXTRACTABLE".into(),
        };
        let hint = CliError::from(unsafe_key).hint().expect("a hint");
        assert!(hint.contains("--allow-unsafe-key"), "{hint}");
        let in_enroll = WorkflowError::Hsm(HsmError::UnsafeKey {
            key: "\"k\"".into(),
            reasons: "CKA_DERIVE".into(),
        });
        let hint = CliError::from(in_enroll).hint().expect("a hint");
        assert!(hint.contains("--allow-unsafe-key"), "{hint}");
        let module = ConfigError::UriModulePath {
            named: "/other.so".into(),
            configured: None,
        };
        let hint = CliError::from(module).hint().expect("a hint");
        assert!(
            hint.contains("--module") && hint.contains("DFNS_HSM_MODULE"),
            "{hint}"
        );

        let not_found = HttpError::from_body(404, Method::GET, "/x".into(), b"");
        assert_eq!(CliError::from(ApiError::from(not_found)).hint(), None);
        assert_eq!(CliError::Usage("x".into()).hint(), None);
    }
}
