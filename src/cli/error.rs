//! CLI errors, exit codes, and the hints that name this CLI's flags and commands.

use crate::api::ApiError;
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
    /// Some of `doctor`'s checks failed: every check is shown, passing or not.
    #[error("{human}doctor: {failed} check(s) failed")]
    ChecksFailed {
        /// The checks as one JSON document (`{"ok": false, "checks": [...]}`).
        json: serde_json::Value,
        /// The checks, one line each.
        human: String,
        /// How many failed.
        failed: usize,
    },
}

impl From<WorkflowError> for CliError {
    fn from(e: WorkflowError) -> Self {
        CliError::Workflow(Box::new(e))
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.classify().1
    }

    /// A stable name for the kind of error, for scripts (`--output json`; README lists them).
    pub fn kind(&self) -> &'static str {
        self.classify().0
    }

    /// What to do next, in this CLI's terms (flags, variables, commands), when there is
    /// something to add to the error's own facts.
    pub fn hint(&self) -> Option<String> {
        super::hint::for_error(self)
    }

    fn classify(&self) -> (&'static str, i32) {
        match self {
            CliError::Usage(_) => ("usage", EXIT_USAGE),
            CliError::Config(_) | CliError::AuthToken(_) | CliError::TokenFile(_) => {
                ("config", EXIT_USAGE)
            }
            CliError::Hsm(e) => hsm_kind(e),
            CliError::Signer(e) => signer_kind(e),
            CliError::Api(e) => api_kind(e),
            CliError::Workflow(e) => workflow_kind(e),
            CliError::Failed(_) => ("failed", EXIT_FAILURE),
            CliError::ChecksFailed { .. } => ("checksFailed", EXIT_FAILURE),
        }
    }
}

/// Settings the user gave that cannot work (module path, token label, PIN source, key
/// reference) are usage errors: exit 2, nothing was tried.
fn hsm_kind(e: &HsmError) -> (&'static str, i32) {
    match e {
        HsmError::Config(_) | HsmError::Uri(_) => ("config", EXIT_USAGE),
        HsmError::ModuleLoad { .. } => ("module", EXIT_USAGE),
        HsmError::Initialize { .. } => ("module", EXIT_FAILURE),
        HsmError::TokenNotFound { .. } | HsmError::AmbiguousToken { .. } => ("token", EXIT_USAGE),
        HsmError::Unusable { .. } => ("token", EXIT_FAILURE),
        HsmError::PinSource(_) | HsmError::PinPrompt(_) => ("pin", EXIT_USAGE),
        HsmError::PinIncorrect { .. } | HsmError::PinState { .. } => ("pin", EXIT_FAILURE),
        HsmError::KeyNotFound { .. }
        | HsmError::AmbiguousKey { .. }
        | HsmError::KeyExists { .. } => ("key", EXIT_USAGE),
        HsmError::UnsupportedKey(_)
        | HsmError::AlgorithmUnavailable { .. }
        | HsmError::UntrustedPublicKey(_)
        | HsmError::UnsafeKey { .. } => ("key", EXIT_FAILURE),
        _ => ("hsm", EXIT_FAILURE),
    }
}

fn signer_kind(e: &SignerError) -> (&'static str, i32) {
    match e {
        SignerError::Hsm(e) => hsm_kind(e),
        SignerError::CredentialNotAllowed { .. } => ("credential", EXIT_FAILURE),
        SignerError::SoftwareKey { .. } => ("key", EXIT_USAGE),
        _ => ("signer", EXIT_FAILURE),
    }
}

fn api_kind(e: &ApiError) -> (&'static str, i32) {
    match e {
        ApiError::OutcomeUnknown { .. } => ("outcomeUnknown", EXIT_CHECK),
        ApiError::CreatedTokenLost { .. } => ("tokenLost", EXIT_CHECK),
        ApiError::UserAction { source, .. } => api_kind(source),
        ApiError::RetriesExhausted { last, .. } => (api_kind(last).0, EXIT_FAILURE),
        ApiError::Signer(e) => signer_kind(e),
        ApiError::Http(_) | ApiError::UnexpectedResponse { .. } => ("http", EXIT_FAILURE),
        ApiError::Timeout { .. } => ("timeout", EXIT_FAILURE),
        ApiError::Transport { .. } => ("network", EXIT_FAILURE),
        ApiError::NoSigner { .. } | ApiError::InvalidRequest(_) => ("usage", EXIT_USAGE),
        ApiError::Config(_) => ("config", EXIT_USAGE),
    }
}

fn workflow_kind(e: &WorkflowError) -> (&'static str, i32) {
    match e {
        WorkflowError::Create { source, .. } | WorkflowError::Api(source) => api_kind(source),
        WorkflowError::Hsm(e) => hsm_kind(e),
        WorkflowError::Signer(e) => signer_kind(e),
        WorkflowError::AlgorithmMismatch { .. } => ("key", EXIT_USAGE),
        WorkflowError::NameTaken { .. } => ("usage", EXIT_USAGE),
        WorkflowError::NoPublicKey { .. } => ("key", EXIT_FAILURE),
        // The account exists and its one-time token is gone: a person must archive it.
        WorkflowError::NoToken { .. } | WorkflowError::TokenNotSaved { .. } => {
            ("tokenLost", EXIT_CHECK)
        }
        WorkflowError::Proof { .. } => ("proof", EXIT_FAILURE),
        // Stopped by a signal before the create: nothing to check, the signal's exit code.
        WorkflowError::Interrupted { .. } => ("interrupted", super::signals::exit_code()),
        WorkflowError::Aborted(_) => ("failed", EXIT_FAILURE),
    }
}
