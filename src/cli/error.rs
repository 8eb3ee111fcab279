//! CLI errors, exit codes, and the hints that name this CLI's flags and commands.

use crate::config::ConfigError;
use crate::hsm::Error as HsmError;
use crate::signer::SignerError;
use crate::workflow::{TokenFileError, WorkflowError};

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
    Api(#[from] crate::api::ApiError),
    /// No usable Dfns auth token.
    #[error(transparent)]
    AuthToken(#[from] crate::api::AuthTokenError),
    /// Settings that are missing, malformed or contradictory.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A workflow (enroll, create) stopped.
    #[error(transparent)]
    Workflow(Box<WorkflowError>),
    /// A token destination that cannot be used.
    #[error(transparent)]
    TokenFile(#[from] TokenFileError),
    /// Bad input or settings, with what to do.
    #[error("{0}")]
    Usage(String),
    /// A check or operation failed; the message says which.
    #[error("{0}")]
    Failed(String),
}

impl From<WorkflowError> for CliError {
    fn from(e: WorkflowError) -> Self {
        CliError::Workflow(Box::new(e))
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_)
            | CliError::Config(_)
            | CliError::AuthToken(_)
            | CliError::TokenFile(_)
            | CliError::Hsm(HsmError::Config(_) | HsmError::Uri(_)) => EXIT_USAGE,
            CliError::Api(e) => api_exit_code(e),
            CliError::Workflow(e) => match e.as_ref() {
                WorkflowError::Create { source, .. } | WorkflowError::Api(source) => {
                    api_exit_code(source)
                }
                WorkflowError::AlgorithmMismatch { .. }
                | WorkflowError::Hsm(HsmError::Config(_) | HsmError::Uri(_)) => EXIT_USAGE,
                _ => EXIT_FAILURE,
            },
            _ => EXIT_FAILURE,
        }
    }

    /// What to do next, in this CLI's terms (flags, variables, commands), when there is
    /// something to add to the error's own facts.
    pub fn hint(&self) -> Option<String> {
        super::hint::for_error(self)
    }
}

fn api_exit_code(e: &crate::api::ApiError) -> i32 {
    if e.is_outcome_unknown() || e.created_without_token().is_some() {
        EXIT_CHECK
    } else {
        EXIT_FAILURE
    }
}
