//! The key algorithms the suites exercise, named as dfns-hsm names them.
//!
//! The kit has its own type so that it needs no dfns-hsm library without the `hsm` feature;
//! with it, `dfns_hsm::hsm::Algorithm` converts into this (so helpers take either).

use std::fmt;

/// A key algorithm: what a token must support and how a signature is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA over NIST P-256, DER signature over SHA-256.
    EcdsaP256,
    /// ECDSA over secp256k1, DER signature over SHA-256.
    EcdsaSecp256k1,
    /// Ed25519 (pure EdDSA over the message).
    Ed25519,
    /// RSA 2048-bit, PKCS#1 v1.5 with SHA-256.
    Rsa2048,
    /// RSA 3072-bit, PKCS#1 v1.5 with SHA-256.
    Rsa3072,
}

impl KeyAlgorithm {
    /// Every algorithm.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::EcdsaSecp256k1,
    ];

    /// dfns-hsm's name for it (`ecdsa-p256`, `ed25519`, ...).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaSecp256k1 => "ecdsa-secp256k1",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
        }
    }

    /// The PKCS#11 mechanisms a token needs for it (key-pair generation, then signing), as
    /// `(CKM_ value, name pkcs11-tool prints)`: the same pairs dfns-hsm uses.
    pub fn mechanisms(self) -> [(u64, &'static str); 2] {
        match self {
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaSecp256k1 => {
                [(0x1040, "ECDSA-KEY-PAIR-GEN"), (0x1041, "ECDSA")]
            }
            KeyAlgorithm::Ed25519 => [(0x1055, "EC-EDWARDS-KEY-PAIR-GEN"), (0x1057, "EDDSA")],
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => [
                (0x0000, "RSA-PKCS-KEY-PAIR-GEN"),
                (0x0040, "SHA256-RSA-PKCS"),
            ],
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
