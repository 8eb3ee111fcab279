//! Which PKCS#11 mechanisms each algorithm needs, and which a token offers.

use cryptoki::mechanism::MechanismType;

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

/// For every algorithm, the mechanisms the token lacks (empty = fully supported).
pub fn missing_mechanisms(token: &Token) -> Result<Vec<(Algorithm, Vec<&'static str>)>> {
    let offered = token
        .module()
        .ctx()
        .get_mechanism_list(token.slot())
        .map_err(|e| Error::pkcs11("C_GetMechanismList", e))?;
    Ok(Algorithm::ALL
        .into_iter()
        .map(|a| {
            let missing = mechanisms_for(a)
                .into_iter()
                .filter(|(m, _)| !offered.contains(m))
                .map(|(_, name)| name)
                .collect();
            (a, missing)
        })
        .collect())
}
