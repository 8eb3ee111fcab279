//! Errors of the PKCS#11 layer, with a classifier that drives recovery.
//!
//! Every message names the object involved and the next step. The classifier separates faults a
//! fresh session can cure from those that must go back to the user (a wrong PIN above all: it is
//! never retried, since each retry burns one of the token's few attempts).

use std::path::PathBuf;

use cryptoki::error::{Error as CkError, RvError};

/// Errors of the `hsm` layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The module could not be loaded.
    #[error("cannot load PKCS#11 module {path}: {reason}")]
    ModuleLoad {
        /// The module path.
        path: PathBuf,
        /// Loader's explanation.
        reason: String,
    },
    /// `C_Initialize` failed.
    #[error("PKCS#11 module {path} failed to initialize: {}. {hint}", describe(.source))]
    Initialize {
        /// The module path.
        path: PathBuf,
        /// The PKCS#11 error.
        source: CkError,
        /// What to check.
        hint: &'static str,
    },
    /// No token matched the selector.
    #[error("no token with {selector} in module {module}; tokens present: {available}")]
    TokenNotFound {
        /// e.g. `label "dfns"`.
        selector: String,
        /// Module path.
        module: PathBuf,
        /// Labels (and serials) present, or `none`.
        available: String,
    },
    /// Several tokens matched the selector.
    #[error("{count} tokens match {selector}{}", match .distinct {
        super::slot::Distinct::Serial => "; their serials differ",
        super::slot::Distinct::Label => "; their labels differ",
        super::slot::Distinct::Nothing => "; they share label and serial, so neither tells them apart",
    })]
    AmbiguousToken {
        /// The selector.
        selector: String,
        /// How many matched.
        count: usize,
        /// What tells them apart, if anything.
        distinct: super::slot::Distinct,
    },
    /// Token selection / configuration is missing or contradictory.
    #[error("{0}")]
    Config(String),
    /// A `pkcs11:` URI is malformed.
    #[error("invalid pkcs11: URI: {0}")]
    Uri(String),
    /// The PIN could not be obtained.
    #[error("cannot read the PIN: {0}")]
    PinSource(String),
    /// The PIN source is a prompt but no terminal can be prompted.
    #[error("cannot prompt for the PIN: {0}")]
    PinPrompt(String),
    /// The token rejected the PIN. Never retried.
    #[error("the token {token:?} rejected the PIN (CKR_PIN_INCORRECT); not retried, so as not to lock it")]
    PinIncorrect {
        /// Token label.
        token: String,
    },
    /// The PIN is locked, on its final try, or must be changed: login refused up front.
    #[error("refusing to log in to token {token:?}: {state}. Reset or change the user PIN with the token's SO tools first")]
    PinState {
        /// Token label.
        token: String,
        /// Which flag is set.
        state: &'static str,
    },
    /// The key was not found.
    #[error("no {what} on token {token:?}")]
    KeyNotFound {
        /// e.g. `private key labelled "ops-bot"`.
        what: String,
        /// Token label.
        token: String,
    },
    /// Several keys matched.
    #[error("{count} keys match {what} on token {token:?}; reference the key by id (pkcs11:...;id=%..) instead")]
    AmbiguousKey {
        /// Selector description.
        what: String,
        /// Token label.
        token: String,
        /// How many.
        count: usize,
    },
    /// A key with that label already exists.
    #[error("a key labelled {label:?} already exists on token {token:?}; choose another label (keys are never overwritten)")]
    KeyExists {
        /// The label.
        label: String,
        /// Token label.
        token: String,
    },
    /// The token's public-key objects for a private key cannot be trusted as its public half:
    /// several claim it, or none is unambiguous.
    #[error("{0}")]
    UntrustedPublicKey(String),
    /// The key's attributes make it unfit to hold a Dfns credential.
    #[error("key {key} is unsafe to hold a Dfns credential: {reasons}")]
    UnsafeKey {
        /// The key (label and id).
        key: String,
        /// What makes it unsafe, comma separated.
        reasons: String,
    },
    /// The key's attributes cannot be turned into a supported public key.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The module cannot do an algorithm on this token.
    #[error("{algorithm} is not available on token {token:?} of PKCS#11 module {module} ({library}): {missing}")]
    AlgorithmUnavailable {
        /// The algorithm.
        algorithm: super::Algorithm,
        /// Token label.
        token: String,
        /// Module path.
        module: PathBuf,
        /// The module's own description (`C_GetInfo`).
        library: String,
        /// What it lacks (mechanisms, or the curve).
        missing: String,
    },
    /// The token returned a signature that does not have the expected shape.
    #[error("the token returned a malformed {algorithm} signature ({len} bytes)")]
    BadSignature {
        /// Algorithm name.
        algorithm: &'static str,
        /// Length returned.
        len: usize,
    },
    /// The token could not be used after the recovery budget was spent.
    #[error("token {token:?} is unusable after {attempts} attempts: {last}")]
    Unusable {
        /// Token label.
        token: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<Error>,
    },
    /// Any other PKCS#11 failure.
    #[error("{op} failed: {}", describe(.source))]
    Pkcs11 {
        /// What we were doing.
        op: String,
        /// The PKCS#11 error.
        source: CkError,
    },
}

/// Result alias of the `hsm` layer.
pub type Result<T> = std::result::Result<T, Error>;

/// How a failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The session (or login) is gone: open a new one, log in, re-find handles, retry once.
    Session,
    /// The token/slot is gone: back off, maybe re-initialize the module.
    Token,
    /// Retrying cannot help.
    Permanent,
}

impl Error {
    /// Wrap a cryptoki error with what we were doing.
    pub fn pkcs11(op: impl Into<String>, source: CkError) -> Self {
        Error::Pkcs11 {
            op: op.into(),
            source,
        }
    }

    /// The PKCS#11 return value behind this error, if any.
    pub fn rv(&self) -> Option<RvError> {
        match self {
            Error::Pkcs11 {
                source: CkError::Pkcs11(rv, _),
                ..
            }
            | Error::Initialize {
                source: CkError::Pkcs11(rv, _),
                ..
            } => Some(*rv),
            Error::Unusable { last, .. } => last.rv(),
            _ => None,
        }
    }

    /// Classify for recovery: a session fault gets a fresh session, a token fault a backoff.
    pub fn fault(&self) -> Fault {
        match self.rv() {
            Some(rv) => classify(rv),
            None => Fault::Permanent,
        }
    }
}

/// Classify a PKCS#11 return value for recovery.
pub fn classify(rv: RvError) -> Fault {
    match rv {
        RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::UserNotLoggedIn
        | RvError::DeviceError
        | RvError::ObjectHandleInvalid
        | RvError::KeyHandleInvalid
        | RvError::SessionCount => Fault::Session,
        // CRYPTOKI_NOT_INITIALIZED: another thread is re-initializing the module right now.
        RvError::TokenNotPresent
        | RvError::DeviceRemoved
        | RvError::TokenNotRecognized
        | RvError::SlotIdInvalid
        | RvError::CryptokiNotInitialized => Fault::Token,
        _ => Fault::Permanent,
    }
}

/// A short `CKR_*` name plus cryptoki's explanation trimmed to its first sentence.
pub fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, func) => {
            let text = rv.to_string();
            let first = text
                .split(". ")
                .next()
                .unwrap_or(&text)
                .trim_end_matches('.');
            format!("{func}: {} ({first})", ckr_name(*rv))
        }
        other => other.to_string(),
    }
}

/// The `CKR_*` name of a return value, as vendors' docs and logs print it.
pub fn ckr_name(rv: RvError) -> String {
    // Debug prints the CamelCase variant (`PinIncorrect`); turn it into `CKR_PIN_INCORRECT`.
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::SessionHandleInvalid),
            "CKR_SESSION_HANDLE_INVALID"
        );
    }

    #[test]
    fn pin_errors_are_permanent() {
        assert_eq!(classify(RvError::PinIncorrect), Fault::Permanent);
        assert_eq!(classify(RvError::PinLocked), Fault::Permanent);
        assert_eq!(classify(RvError::SessionHandleInvalid), Fault::Session);
        assert_eq!(classify(RvError::DeviceError), Fault::Session);
        assert_eq!(classify(RvError::TokenNotPresent), Fault::Token);
    }
}
