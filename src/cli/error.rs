//! CLI errors and exit codes.

use crate::api::ApiError;
use crate::hsm::Error as HsmError;
use crate::signer::SignerError;

/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for any other failure.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code when a mutation's outcome needs a person to look: it may or may not have been
/// carried out, or an account was created but its one-time token was lost.
pub const EXIT_CHECK: i32 = 4;
/// Exit code when Dfns accepted a mutation but holds it for a policy approval (HTTP 202).
/// Not an error: the JSON on stdout describes what is pending.
pub const EXIT_PENDING: i32 = 3;

/// An error that ends a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the PKCS#11 layer.
    #[error(transparent)]
    Hsm(#[from] HsmError),
    /// From the signer.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// From the Dfns API.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Bad input or settings, with what to do.
    #[error("{0}")]
    Usage(String),
    /// A check or operation failed; the message says which.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_)
            | CliError::Hsm(HsmError::Config(_))
            | CliError::Hsm(HsmError::Uri(_)) => EXIT_USAGE,
            CliError::Api(e) if e.is_outcome_unknown() || e.created_without_token().is_some() => {
                EXIT_CHECK
            }
            _ => EXIT_FAILURE,
        }
    }

    /// What to do next with this command line (its flags, env vars, commands), when there is
    /// something to say. Library errors state facts only; the CLI adds its words here.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::Api(e) => api_hint(e),
            _ => None,
        }
    }
}

/// The flags that fix an API error, looking through the errors that wrap another.
fn api_hint(err: &ApiError) -> Option<String> {
    let hint = match err {
        ApiError::Http(e) => http_hint(e.status)?,
        ApiError::Transport { .. } => "check --api-url and the network",
        ApiError::NoSigner { .. } => {
            "pass --cred-id and --signing-key (DFNS_CRED_ID, DFNS_SIGNING_KEY)"
        }
        ApiError::UserAction { source, .. } => return api_hint(source),
        ApiError::RetriesExhausted { last, .. } => return api_hint(last),
        ApiError::OutcomeUnknown { source, check, .. } => {
            return api_hint(source).or_else(|| check.as_deref().and_then(api_hint))
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

/// The flags behind an HTTP status, for the statuses a setting can cause.
fn http_hint(status: u16) -> Option<&'static str> {
    match status {
        300..=399 => Some("check --api-url"),
        401 => Some("check --auth-token-file / DFNS_AUTH_TOKEN and --api-url"),
        403 => Some(
            "check the identity's permissions, and that --cred-id and --signing-key belong to \
             the identity whose token is used",
        ),
        _ => None,
    }
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

        let not_found = HttpError::from_body(404, Method::GET, "/x".into(), b"");
        assert_eq!(CliError::from(ApiError::from(not_found)).hint(), None);
        assert_eq!(CliError::Usage("x".into()).hint(), None);
    }
}
