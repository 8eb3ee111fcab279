//! Key algorithms dfns-hsm can generate and sign with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An asymmetric key algorithm usable as a Dfns Key credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA over NIST P-256 (secp256r1), the default and Dfns's recommendation.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA over secp256k1.
    #[serde(rename = "ecdsa-secp256k1")]
    EcdsaSecp256k1,
    /// Ed25519 (pure EdDSA).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA 2048-bit, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA 3072-bit, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
}

impl Algorithm {
    /// Every supported algorithm, in the order the CLI lists them.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::EcdsaP256,
        Algorithm::Ed25519,
        Algorithm::Rsa2048,
        Algorithm::Rsa3072,
        Algorithm::EcdsaSecp256k1,
    ];

    /// The CLI / config name (`ecdsa-p256`, `ed25519`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::EcdsaSecp256k1 => "ecdsa-secp256k1",
            Algorithm::Ed25519 => "ed25519",
            Algorithm::Rsa2048 => "rsa-2048",
            Algorithm::Rsa3072 => "rsa-3072",
        }
    }

    /// True for the two ECDSA curves (prehash + DER signatures).
    pub fn is_ecdsa(self) -> bool {
        matches!(self, Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1)
    }

    /// RSA modulus size in bits, for RSA algorithms.
    pub fn rsa_bits(self) -> Option<u64> {
        match self {
            Algorithm::Rsa2048 => Some(2048),
            Algorithm::Rsa3072 => Some(3072),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                format!("unknown algorithm {s:?}; use one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(a));
        }
        assert!("p-384"
            .parse::<Algorithm>()
            .unwrap_err()
            .contains("ecdsa-p256"));
    }
}
