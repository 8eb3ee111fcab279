//! Conveniences typed with the dfns-hsm library (feature `hsm`): the test token opened through
//! it, and its `Algorithm` accepted wherever the kit takes a [`KeyAlgorithm`].

use std::path::Path;
use std::sync::Arc;

use dfns_hsm::hsm::{Algorithm, Module, PinSource, Token, TokenOptions, TokenSelector};

use crate::{KeyAlgorithm, TestToken};

impl From<Algorithm> for KeyAlgorithm {
    fn from(a: Algorithm) -> KeyAlgorithm {
        match a {
            Algorithm::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            Algorithm::EcdsaSecp256k1 => KeyAlgorithm::EcdsaSecp256k1,
            Algorithm::Ed25519 => KeyAlgorithm::Ed25519,
            Algorithm::Rsa2048 => KeyAlgorithm::Rsa2048,
            Algorithm::Rsa3072 => KeyAlgorithm::Rsa3072,
        }
    }
}

/// Load `module` and log in to the token labelled `label` with the PIN in `pin_file`.
///
/// # Panics
/// When the module does not load or the token does not open.
pub fn open(module: &Path, label: &str, pin_file: &Path, options: TokenOptions) -> Arc<Token> {
    let module = Module::load(module, None)
        .unwrap_or_else(|e| panic!("load the PKCS#11 module {}: {e}", module.display()));
    Token::open(
        module,
        &TokenSelector::Label(label.into()),
        &PinSource::File(pin_file.to_path_buf()),
        options,
    )
    .unwrap_or_else(|e| panic!("open and log in to token {label:?}: {e}"))
}

impl TestToken {
    /// The token, logged in through the library with default options.
    pub fn open(&self) -> Arc<Token> {
        self.open_with(&self.module, TokenOptions::default())
    }

    /// The token through `module` (e.g. the fault-injecting one in front of it) with `options`.
    pub fn open_with(&self, module: &Path, options: TokenOptions) -> Arc<Token> {
        open(module, &self.label, &self.pin_file, options)
    }
}
