//! Which PKCS#11 mechanisms each algorithm needs, and which a token offers.
//!
//! A mechanism list cannot tell curves apart: a TPM offers `CKM_EC_KEY_PAIR_GEN` and
//! `CKM_ECDSA` but only NIST curves, no secp256k1. So the full check ([`missing_mechanisms`])
//! also generates a throwaway key pair (a session key pair, or on a module without session
//! keys a token key pair labelled [`PROBE_LABEL`], destroyed at once) on each ECDSA curve
//! whose mechanisms are offered; [`require_algorithm`], run before every
//! key generation, asks the mechanism list only (the generation itself then tells about the
//! curve).

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::MechanismType;
use cryptoki::object::Attribute;

use super::algorithm::Algorithm;
use super::error::{Error, Result};
use super::token::Token;

/// The (key-generation, signing) mechanisms dfns-hsm uses for `algorithm`.
///
/// ECDSA uses `CKM_ECDSA` over a locally computed SHA-256 digest: SoftHSM2 and older CloudHSM
/// SDKs have no working `CKM_ECDSA_SHA256`.
pub fn mechanisms_for(algorithm: Algorithm) -> [(MechanismType, &'static str); 2] {
    match algorithm {
        Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => [
            (MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"),
            (MechanismType::ECDSA, "CKM_ECDSA"),
        ],
        Algorithm::Ed25519 => [
            (
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                "CKM_EC_EDWARDS_KEY_PAIR_GEN",
            ),
            (MechanismType::EDDSA, "CKM_EDDSA"),
        ],
        Algorithm::Rsa2048 | Algorithm::Rsa3072 => [
            (
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
            ),
            (MechanismType::SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"),
        ],
    }
}

/// What a token lacks for `algorithm`, by mechanism list only (empty = nothing missing).
fn lacking(offered: &[MechanismType], algorithm: Algorithm) -> Vec<&'static str> {
    mechanisms_for(algorithm)
        .into_iter()
        .filter(|(m, _)| !offered.contains(m))
        .map(|(_, name)| name)
        .collect()
}

fn mechanism_list(token: &Token) -> Result<Vec<MechanismType>> {
    token
        .module()
        .ctx()
        .get_mechanism_list(token.slot())
        .map_err(|e| Error::pkcs11("C_GetMechanismList", e))
}

/// For every algorithm, what the token lacks (empty = fully supported): the mechanisms it
/// does not list, or, for an ECDSA curve whose mechanisms it lists, the curve itself when a
/// session key pair on it cannot be generated.
pub fn missing_mechanisms(token: &Token) -> Result<Vec<(Algorithm, Vec<&'static str>)>> {
    let offered = mechanism_list(token)?;
    let mut out = Vec::new();
    for a in Algorithm::ALL {
        let mut missing = lacking(&offered, a);
        if missing.is_empty() && a.is_ecdsa() && !curve_works(token, a)? {
            missing.push(match a {
                Algorithm::EcdsaSecp256k1 => {
                    "the secp256k1 curve (no key pair could be generated on it)"
                }
                _ => "the P-256 curve (no key pair could be generated on it)",
            });
        }
        out.push((a, missing));
    }
    Ok(out)
}

/// Refuse `algorithm` up front, naming it and the module, when the token's mechanism list
/// lacks what it needs.
pub fn require_algorithm(token: &Token, algorithm: Algorithm) -> Result<()> {
    let missing = lacking(&mechanism_list(token)?, algorithm);
    if missing.is_empty() {
        return Ok(());
    }
    Err(unavailable(
        token,
        algorithm,
        &format!("the module offers no {}", missing.join(", ")),
    ))
}

/// The error for `algorithm` missing on `token`, `why` saying what is lacking.
pub(super) fn unavailable(token: &Token, algorithm: Algorithm, why: &str) -> Error {
    Error::AlgorithmUnavailable {
        algorithm,
        token: token.label().to_owned(),
        module: token.module().path().to_path_buf(),
        library: token.module().describe(),
        missing: why.to_owned(),
    }
}

/// Label of the key pair the curve probe makes when the module refuses session keys.
pub const PROBE_LABEL: &str = "dfns-hsm-curve-probe";

/// Generate and destroy a key pair on the curve of `algorithm`: a session key pair
/// (`CKA_TOKEN` false) first; a module that refuses session keys (tpm2-pkcs11) for a reason
/// other than the curve gets a token key pair labelled [`PROBE_LABEL`], destroyed at once.
/// A session fault is an error; any other refusal means the curve is not available.
fn curve_works(token: &Token, algorithm: Algorithm) -> Result<bool> {
    let (mechanism, public, private) =
        super::keygen::templates(algorithm, token.options().public_key_private)?;
    let with = |t: &[Attribute], on_token: bool| -> Vec<Attribute> {
        let mut t: Vec<Attribute> = t
            .iter()
            .map(|a| match a {
                Attribute::Token(_) => Attribute::Token(on_token),
                other => other.clone(),
            })
            .collect();
        if on_token {
            t.push(Attribute::Label(PROBE_LABEL.as_bytes().to_vec()));
        }
        t
    };
    token.with_session(|s, _| {
        let mut last = None;
        for on_token in [false, true] {
            match s.generate_key_pair(&mechanism, &with(&public, on_token), &with(&private, on_token)) {
                Ok((pub_handle, priv_handle)) => {
                    for h in [priv_handle, pub_handle] {
                        if let Err(e) = s.destroy_object(h) {
                            tracing::warn!(%algorithm, error = %e, label = PROBE_LABEL, "could not destroy a probe key; remove it by hand");
                        }
                    }
                    return Ok(true);
                }
                Err(e) => {
                    let curve = matches!(
                        e,
                        CkError::Pkcs11(RvError::CurveNotSupported | RvError::DomainParamsInvalid, _)
                    );
                    let e = Error::pkcs11("C_GenerateKeyPair (curve probe)", e);
                    if e.fault() != super::error::Fault::Permanent {
                        return Err(e);
                    }
                    tracing::debug!(%algorithm, on_token, error = %e, "curve probe refused");
                    if curve {
                        return Ok(false);
                    }
                    last = Some(e);
                }
            }
        }
        tracing::debug!(%algorithm, error = ?last, "no key pair on this curve");
        Ok(false)
    })
}
