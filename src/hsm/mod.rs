//! PKCS#11: module, token, login, session pool, keys and public-key export.
//!
//! Knows nothing of Dfns. One [`Module`] per library per process; a [`Token`] holds the
//! logged-in session and a bounded pool of worker sessions; a [`Key`] signs on it.

mod algorithm;
mod ec_signature;
mod error;
mod key;
mod keygen;
mod mechanism;
mod module;
mod pin;
mod public_key;
mod raw_sign;
mod session;
mod slot;
mod uri;

pub use algorithm::Algorithm;
pub use ec_signature::raw_to_der;
pub use error::{ckr_name, classify, describe, Error, Fault, Result};
pub use key::{list_keys, Key, KeyAttributes, KeyInfo, KeySelector};
pub use keygen::generate_key;
pub use mechanism::{mechanisms_for, missing_mechanisms};
pub use module::Module;
pub use pin::{check_private_file, PinSource, DEFAULT_PIN_ENV};
pub use public_key::{ec_params_for, spki_from_ec, spki_from_rsa, spki_pem};
pub use session::{Token, TokenOptions};
pub use slot::{find_slot, list_tokens, pin_flags, TokenSummary};
pub use uri::{ObjectType, Pkcs11Uri, TokenSelector};
