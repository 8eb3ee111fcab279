//! ECDSA signatures from PKCS#11's fixed-length `r||s` to the ASN.1 DER form Dfns verifies.
//!
//! P-256 signatures are kept exactly as the token produced them: Dfns verifies standard ECDSA,
//! which accepts either `s`.
//!
//! secp256k1 signatures are normalized to low-S (`s <= n/2`). The token's raw output has a high
//! `s` half of the time, and the secp256k1 ecosystem's verifiers (the `k256` crate used by our
//! own verify-after-sign and the emulator, libsecp256k1) reject high-S as malleable. `(r, n-s)`
//! verifies under standard ECDSA too, so normalizing loses nothing with a lenient verifier and
//! avoids a 50% failure rate with a strict one.

use super::algorithm::Algorithm;
use super::error::{Error, Result};

/// Length of `r||s` for the 256-bit curves.
const RAW_LEN: usize = 64;

/// Convert a raw PKCS#11 ECDSA signature (`r||s`, 64 bytes) to DER.
///
/// Errors with [`Error::BadSignature`] on a wrong length or an out-of-range scalar (zero or
/// `>= n`), and with [`Error::UnsupportedKey`] for a non-ECDSA algorithm.
pub fn raw_to_der(algorithm: Algorithm, raw: &[u8]) -> Result<Vec<u8>> {
    let bad = || Error::BadSignature {
        algorithm: algorithm.name(),
        len: raw.len(),
    };
    if algorithm.is_ecdsa() && raw.len() != RAW_LEN {
        return Err(bad());
    }
    match algorithm {
        Algorithm::EcdsaP256 => {
            let sig = p256::ecdsa::Signature::from_slice(raw).map_err(|_| bad())?;
            Ok(sig.to_der().as_bytes().to_vec())
        }
        Algorithm::EcdsaSecp256k1 => {
            let sig = k256::ecdsa::Signature::from_slice(raw).map_err(|_| bad())?;
            let sig = sig.normalize_s().unwrap_or(sig);
            Ok(sig.to_der().as_bytes().to_vec())
        }
        Algorithm::Ed25519 | Algorithm::Rsa2048 | Algorithm::Rsa3072 => Err(Error::UnsupportedKey(
            format!("{algorithm} signatures are not ECDSA and need no DER conversion"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        let mut raw = [0u8; 64];
        raw[31] = 1;
        raw[63] = 2;
        // SEQUENCE { INTEGER 1, INTEGER 2 }
        assert_eq!(
            raw_to_der(Algorithm::EcdsaP256, &raw).unwrap(),
            [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]
        );
        // A high first byte gets a leading zero so the INTEGER stays positive.
        raw[0] = 0x80;
        let der = raw_to_der(Algorithm::EcdsaP256, &raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
    }

    #[test]
    fn rejects_bad_shapes() {
        let e = raw_to_der(Algorithm::EcdsaP256, &[1; 63]).unwrap_err();
        assert!(matches!(e, Error::BadSignature { len: 63, .. }), "{e}");
        let e = raw_to_der(Algorithm::EcdsaSecp256k1, &[0; 64]).unwrap_err();
        assert!(matches!(e, Error::BadSignature { len: 64, .. }), "{e}");
        // r = n is out of range.
        let n = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
            .unwrap();
        let raw = [n.clone(), vec![1; 32]].concat();
        assert!(raw_to_der(Algorithm::EcdsaP256, &raw).is_err());
        assert!(matches!(
            raw_to_der(Algorithm::Ed25519, &[1; 64]),
            Err(Error::UnsupportedKey(_))
        ));
    }

    #[test]
    fn p256_keeps_high_s_and_secp256k1_normalizes() {
        // s = n - 1: valid, and high.
        let mut raw = [0x11u8; 64];
        raw[32..].copy_from_slice(
            &hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550")
                .unwrap(),
        );
        let p = p256::ecdsa::Signature::from_der(&raw_to_der(Algorithm::EcdsaP256, &raw).unwrap())
            .unwrap();
        assert_eq!(&p.to_bytes()[..], &raw[..]);

        raw[32..].copy_from_slice(
            &hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140")
                .unwrap(),
        );
        let der = raw_to_der(Algorithm::EcdsaSecp256k1, &raw).unwrap();
        let k = k256::ecdsa::Signature::from_der(&der).unwrap();
        assert!(k.normalize_s().is_none(), "s must be low");
        assert_eq!(k.s().to_bytes()[31], 1);
    }

    #[test]
    fn token_style_signatures_verify() {
        use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let digest = [0x5au8; 32];

        let key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let der = raw_to_der(Algorithm::EcdsaP256, &sig.to_bytes()).unwrap();
        let back = p256::ecdsa::Signature::from_der(&der).unwrap();
        assert!(key.verifying_key().verify_prehash(&digest, &back).is_ok());

        // A token may return (r, n-s); k256 verification refuses that unless normalized.
        let key = k256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        let sig: k256::ecdsa::Signature = key.sign_prehash(&digest).unwrap();
        let high = k256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), (-*sig.s()).to_bytes())
            .unwrap();
        assert!(key.verifying_key().verify_prehash(&digest, &high).is_err());
        let der = raw_to_der(Algorithm::EcdsaSecp256k1, &high.to_bytes()).unwrap();
        let back = k256::ecdsa::Signature::from_der(&der).unwrap();
        assert!(key.verifying_key().verify_prehash(&digest, &back).is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(alg in proptest::sample::select(Algorithm::ALL.to_vec()),
                        raw in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = raw_to_der(alg, &raw);
        }

        #[test]
        fn p256_round_trips(raw in any::<[u8; 32]>().prop_flat_map(|r| (Just(r), any::<[u8; 32]>()))) {
            let raw = [raw.0, raw.1].concat();
            let expected = p256::ecdsa::Signature::from_slice(&raw);
            prop_assume!(expected.is_ok());
            let der = raw_to_der(Algorithm::EcdsaP256, &raw).unwrap();
            prop_assert_eq!(p256::ecdsa::Signature::from_der(&der).unwrap(), expected.unwrap());
        }

        #[test]
        fn secp256k1_round_trips_low_s(raw in any::<[u8; 32]>().prop_flat_map(|r| (Just(r), any::<[u8; 32]>()))) {
            let raw = [raw.0, raw.1].concat();
            let sig = k256::ecdsa::Signature::from_slice(&raw);
            prop_assume!(sig.is_ok());
            let sig = sig.unwrap();
            let der = raw_to_der(Algorithm::EcdsaSecp256k1, &raw).unwrap();
            let back = k256::ecdsa::Signature::from_der(&der).unwrap();
            prop_assert_eq!(back, sig.normalize_s().unwrap_or(sig));
            prop_assert_eq!(back.r().to_bytes(), sig.r().to_bytes());
        }
    }
}
