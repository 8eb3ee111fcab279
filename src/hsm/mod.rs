//! PKCS#11: module, token, login, session pool, keys and public-key export.
//!
//! Knows nothing of Dfns. One [`Module`] per library per process; a [`Token`] holds the
//! logged-in session and a bounded pool of worker sessions; a [`Key`] signs on it.

mod algorithm;
mod delete;
mod ec_signature;
mod error;
mod key;
mod keygen;
mod mechanism;
mod module;
mod module_path;
mod pin;
mod public_key;
mod raw_sign;
mod secret_object;
mod slot;
mod token;
mod uri;

pub use algorithm::Algorithm;
pub use delete::DeletedKey;
pub use error::{ckr_name, Error, Fault, Result};
pub use key::{Key, KeyAttributes, KeyInfo, KeySelector};
pub use mechanism::{mechanisms_for, missing_mechanisms, require_algorithm};
pub use module::Module;
pub use pin::{PinSource, DEFAULT_PIN_ENV};
pub use public_key::spki_pem;
pub use slot::{pin_flags, Distinct, TokenSummary};
pub use token::{Token, TokenOptions};
pub use uri::{ObjectType, Pkcs11Uri, TokenSelector};
