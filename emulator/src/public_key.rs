//! Credential public keys: the PEM forms Dfns accepts, parsed into a key that can verify.
//!
//! Accepted input, as the spec's `publicKey` pattern allows: `-----BEGIN PUBLIC KEY-----` (SPKI:
//! P-256, secp256k1, Ed25519 or RSA) or `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1). The body may
//! be wrapped at any width, and newlines may also arrive as the two characters `\n` (the pattern
//! admits backslashes, so a JSON-escaped PEM pasted into a string still parses).

use std::sync::OnceLock;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use regex::Regex;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use sha2::Sha256;

/// The `publicKey` pattern of `CreateServiceAccountBody` in Dfns's OpenAPI description.
const PUBLIC_KEY_PATTERN: &str =
    r"^-----BEGIN (RSA )?PUBLIC KEY-----[A-Za-z0-9+/=\n\r\\]+-----END (RSA )?PUBLIC KEY-----\s?$";

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Standard base64 that accepts the body with or without `=` padding.
const PEM_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn pattern() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(PUBLIC_KEY_PATTERN).ok())
        .as_ref()
}

/// A credential's public key, ready to verify assertion signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// ECDSA on NIST P-256 with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on secp256k1 with SHA-256.
    Secp256k1(k256::ecdsa::VerifyingKey),
    /// Pure Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
}

impl PublicKey {
    /// Check `pem` against the spec's pattern, then parse it. The error names the problem.
    pub fn from_dfns_pem(pem: &str) -> Result<Self, String> {
        let Some(re) = pattern() else {
            return Err("internal error: the publicKey pattern does not compile".into());
        };
        if !re.is_match(pem) {
            return Err("publicKey must be a PEM public key matching ^-----BEGIN (RSA )?PUBLIC KEY-----[A-Za-z0-9+/=\\n\\r\\\\]+-----END (RSA )?PUBLIC KEY-----\\s?$".into());
        }
        Self::from_pem(pem)
    }

    /// Parse an SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM without the pattern check.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let text = pem.replace("\\n", "\n").replace("\\r", "\r");
        let text = text.trim();
        let (label, rest) = text
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.split_once("-----"))
            .ok_or("publicKey has no -----BEGIN ...----- line")?;
        let footer = format!("-----END {label}-----");
        let body = rest
            .strip_suffix(footer.as_str())
            .ok_or_else(|| format!("publicKey does not end with {footer}"))?;
        let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = PEM_BASE64
            .decode(compact.as_bytes())
            .map_err(|e| format!("publicKey PEM body is not valid base64: {e}"))?;
        match label {
            "PUBLIC KEY" => Self::from_spki_der(&der),
            "RSA PUBLIC KEY" => {
                let key = rsa::RsaPublicKey::from_pkcs1_der(&der)
                    .map_err(|e| format!("publicKey is not a PKCS#1 RSA public key: {e}"))?;
                Self::from_rsa(key)
            }
            other => Err(format!(
                "publicKey PEM label is {other:?}; expected \"PUBLIC KEY\" or \"RSA PUBLIC KEY\""
            )),
        }
    }

    /// Parse a DER SubjectPublicKeyInfo of a supported algorithm.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::P256(key));
        }
        if let Ok(key) = k256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::Secp256k1(key));
        }
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(Self::Ed25519(key));
        }
        if let Ok(key) = rsa::RsaPublicKey::from_public_key_der(der) {
            return Self::from_rsa(key);
        }
        Err("publicKey is not a P-256, secp256k1, Ed25519 or RSA SubjectPublicKeyInfo".into())
    }

    fn from_rsa(key: rsa::RsaPublicKey) -> Result<Self, String> {
        let bits = key.size() * 8;
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "publicKey is a {bits}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
            ));
        }
        Ok(Self::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(key))))
    }

    /// Short algorithm name for logs and messages.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::P256(_) => "ECDSA P-256",
            Self::Secp256k1(_) => "ECDSA secp256k1",
            Self::Ed25519(_) => "Ed25519",
            Self::Rsa(_) => "RSA PKCS#1 v1.5",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    fn p256_pem() -> String {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        sk.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    #[test]
    fn parses_spki_p256() {
        let key = PublicKey::from_dfns_pem(&p256_pem()).expect("parse");
        assert_eq!(key.algorithm(), "ECDSA P-256");
    }

    #[test]
    fn accepts_escaped_newlines_and_one_trailing_newline() {
        let pem = p256_pem();
        let escaped = pem.trim_end().replace('\n', "\\n");
        assert!(PublicKey::from_dfns_pem(&escaped).is_ok());
        assert!(PublicKey::from_dfns_pem(&pem).is_ok()); // ends with exactly one "\n"
        assert!(PublicKey::from_dfns_pem(&format!("{pem}\n")).is_err());
    }

    #[test]
    fn rejects_garbage_that_matches_the_pattern() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
        let err = PublicKey::from_dfns_pem(pem).expect_err("must fail");
        assert!(err.contains("SubjectPublicKeyInfo"), "{err}");
    }

    #[test]
    fn rejects_a_private_key() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert!(PublicKey::from_dfns_pem(pem).is_err());
    }
}
