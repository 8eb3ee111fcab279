//! PKCS#11: module, token, login, session pool, keys and public-key export.
//!
//! Knows nothing of Dfns. One [`Module`] per library per process; a [`Token`] holds the
//! logged-in session and a bounded pool of worker sessions.

mod algorithm;
mod ec_signature;
mod error;
mod public_key;
mod uri;

pub use algorithm::Algorithm;
pub use ec_signature::raw_to_der;
pub use error::{ckr_name, classify, describe, Error, Fault, Result};
pub use public_key::{ec_params_for, spki_from_ec, spki_from_rsa, spki_pem};
pub use uri::{ObjectType, Pkcs11Uri, TokenSelector};
