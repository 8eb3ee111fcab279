//! Public keys from PKCS#11 attributes, exported as SubjectPublicKeyInfo (what Dfns registers).
//!
//! EC keys come as `CKA_EC_PARAMS` (the curve) + `CKA_EC_POINT`. Tokens disagree on both: the
//! curve is an OID, or for Ed25519 sometimes the PrintableString `edwards25519`; the point should
//! be a DER OCTET STRING around the raw point (SoftHSM: `04 41 04..`, `04 20 ..`) but some tokens
//! return it bare (kryoptic for Ed25519). We decide by exact length, never by "does it parse as
//! DER": a bare point can start with bytes that look like a DER header (pkcs11-provider#766).

use der::asn1::{ObjectIdentifier, PrintableStringRef};
use der::oid::AssociatedOid as _;
use der::{Decode, Encode};
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use rsa::BigUint;

use super::algorithm::Algorithm;
use super::error::{Error, Result};

/// Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The curve name SoftHSM and Luna expect in `CKA_EC_PARAMS` for Ed25519.
const EDWARDS25519: &str = "edwards25519";

/// Raw point sizes: SEC1 uncompressed (`04||X||Y`) then compressed for the 256-bit Weierstrass
/// curves; the 32-byte encoding for Ed25519.
const WEIERSTRASS_256_POINT: &[usize] = &[65, 33];
const ED25519_POINT: &[usize] = &[32];

/// The DER `CKA_EC_PARAMS` to send at key generation for an EC algorithm: the named-curve OID
/// for P-256 and secp256k1, the PrintableString `edwards25519` for Ed25519 (SoftHSM and Luna
/// reject the OID form at generation).
pub fn ec_params_for(algorithm: Algorithm) -> Result<Vec<u8>> {
    let encoded = match algorithm {
        Algorithm::EcdsaP256 => p256::NistP256::OID.to_der(),
        Algorithm::EcdsaSecp256k1 => k256::Secp256k1::OID.to_der(),
        Algorithm::Ed25519 => PrintableStringRef::new(EDWARDS25519).and_then(|s| s.to_der()),
        Algorithm::Rsa2048 | Algorithm::Rsa3072 => {
            return Err(Error::UnsupportedKey(format!(
                "{algorithm} is not an EC algorithm and has no CKA_EC_PARAMS"
            )))
        }
    };
    encoded.map_err(|e| Error::UnsupportedKey(format!("cannot encode the {algorithm} curve: {e}")))
}

/// The algorithm and SPKI DER of an EC public key given its `CKA_EC_PARAMS` and `CKA_EC_POINT`.
///
/// Accepts the curve as an OID (P-256, secp256k1, Ed25519) or the PrintableString
/// `edwards25519`, and the point bare, as a DER OCTET STRING, or as a DER BIT STRING. The point
/// must be on the curve.
pub fn spki_from_ec(ec_params: &[u8], ec_point: &[u8]) -> Result<(Algorithm, Vec<u8>)> {
    let algorithm = curve_of(ec_params)?;
    let spki = match algorithm {
        Algorithm::EcdsaP256 => {
            let point = point_body(algorithm, ec_point, WEIERSTRASS_256_POINT)?;
            p256::PublicKey::from_sec1_bytes(point)
                .map_err(|_| not_on_curve(algorithm))?
                .to_public_key_der()
        }
        Algorithm::EcdsaSecp256k1 => {
            let point = point_body(algorithm, ec_point, WEIERSTRASS_256_POINT)?;
            k256::PublicKey::from_sec1_bytes(point)
                .map_err(|_| not_on_curve(algorithm))?
                .to_public_key_der()
        }
        Algorithm::Ed25519 => {
            let point = point_body(algorithm, ec_point, ED25519_POINT)?;
            let bytes: &[u8; 32] = point.try_into().map_err(|_| not_on_curve(algorithm))?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
                .map_err(|_| not_on_curve(algorithm))?;
            // A small-order key verifies forged signatures; no token generates one.
            if key.is_weak() {
                return Err(Error::UnsupportedKey(
                    "the Ed25519 public key has small order (a weak key); refusing it".into(),
                ));
            }
            key.to_public_key_der()
        }
        Algorithm::Rsa2048 | Algorithm::Rsa3072 => unreachable_rsa()?,
    };
    spki.map(|doc| (algorithm, doc.into_vec()))
        .map_err(|e| Error::UnsupportedKey(format!("cannot encode the {algorithm} key: {e}")))
}

/// The algorithm and SPKI DER of an RSA public key given `CKA_MODULUS` and
/// `CKA_PUBLIC_EXPONENT` (big-endian, leading zeros allowed). Only 2048- and 3072-bit moduli.
pub fn spki_from_rsa(modulus: &[u8], public_exponent: &[u8]) -> Result<(Algorithm, Vec<u8>)> {
    let bits = bit_length(modulus);
    let algorithm = match bits {
        2048 => Algorithm::Rsa2048,
        3072 => Algorithm::Rsa3072,
        _ => {
            return Err(Error::UnsupportedKey(format!(
                "RSA key with a {bits}-bit modulus; dfns-hsm supports rsa-2048 and rsa-3072 only"
            )))
        }
    };
    let n = BigUint::from_bytes_be(modulus);
    let e = BigUint::from_bytes_be(public_exponent);
    let key = rsa::RsaPublicKey::new(n, e)
        .map_err(|err| Error::UnsupportedKey(format!("invalid RSA public key: {err}")))?;
    if key.n().bits() != bits {
        return Err(Error::UnsupportedKey("invalid RSA public key".into()));
    }
    key.to_public_key_der()
        .map(|doc| (algorithm, doc.into_vec()))
        .map_err(|err| Error::UnsupportedKey(format!("cannot encode the RSA key: {err}")))
}

/// PEM `PUBLIC KEY` block of an SPKI DER: 64-character lines, LF endings, trailing newline.
pub fn spki_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    // Base64 output is ASCII, so byte chunks are whole characters.
    for line in b64.as_bytes().chunks(64) {
        pem.extend(line.iter().map(|&b| char::from(b)));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// The algorithm named by `CKA_EC_PARAMS`.
fn curve_of(ec_params: &[u8]) -> Result<Algorithm> {
    if let Ok(oid) = ObjectIdentifier::from_der(ec_params) {
        return match oid {
            oid if oid == p256::NistP256::OID => Ok(Algorithm::EcdsaP256),
            oid if oid == k256::Secp256k1::OID => Ok(Algorithm::EcdsaSecp256k1),
            oid if oid == ED25519_OID => Ok(Algorithm::Ed25519),
            other => Err(Error::UnsupportedKey(format!(
                "EC curve {other} is not supported; use P-256 (1.2.840.10045.3.1.7), secp256k1 \
                 (1.3.132.0.10) or Ed25519 (1.3.101.112)"
            ))),
        };
    }
    match PrintableStringRef::from_der(ec_params) {
        Ok(name) if name.as_str() == EDWARDS25519 => Ok(Algorithm::Ed25519),
        Ok(name) => Err(Error::UnsupportedKey(format!(
            "EC curve {:?} is not supported; of the named Edwards curves only {EDWARDS25519} is",
            name.as_str()
        ))),
        Err(_) => Err(Error::UnsupportedKey(format!(
            "CKA_EC_PARAMS ({} bytes) is neither a named-curve OID nor a curve name",
            ec_params.len()
        ))),
    }
}

/// The raw point inside `ec_point`, chosen by exact length: bare (`size`), DER OCTET STRING
/// (`04 size ..`) or DER BIT STRING (`03 size+1 00 ..`). All sizes are below 127, so the DER
/// length is a single byte, and every candidate length is distinct.
fn point_body<'a>(algorithm: Algorithm, ec_point: &'a [u8], sizes: &[usize]) -> Result<&'a [u8]> {
    for &size in sizes {
        let len = ec_point.len();
        if len == size {
            return Ok(ec_point);
        }
        let octet = [0x04, size as u8];
        if len == size + 2 && ec_point.starts_with(&octet) {
            return Ok(&ec_point[2..]);
        }
        let bits = [0x03, size as u8 + 1, 0x00];
        if len == size + 3 && ec_point.starts_with(&bits) {
            return Ok(&ec_point[3..]);
        }
    }
    let expected = match algorithm {
        Algorithm::Ed25519 => "32 bytes, or 34 DER-wrapped",
        _ => "65 bytes 04||X||Y, or 67 DER-wrapped",
    };
    Err(Error::UnsupportedKey(format!(
        "CKA_EC_POINT of {} bytes is not a {algorithm} point (expected {expected})",
        ec_point.len()
    )))
}

fn not_on_curve(algorithm: Algorithm) -> Error {
    Error::UnsupportedKey(format!(
        "CKA_EC_POINT is not a valid {algorithm} public key (not on the curve)"
    ))
}

/// `curve_of` never yields an RSA algorithm; kept as an error rather than a panic.
fn unreachable_rsa<T>() -> Result<T> {
    Err(Error::UnsupportedKey(
        "internal: EC parameters resolved to an RSA algorithm".into(),
    ))
}

/// Bit length of a big-endian unsigned integer, ignoring leading zero bytes.
fn bit_length(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        Some(i) => (be.len() - i) * 8 - be[i].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k256::elliptic_curve::sec1::ToEncodedPoint as _;
    use proptest::prelude::*;

    /// `13 0c "edwards25519"`.
    const EDWARDS25519_PARAMS: &str = "130c656477617264733235353139";

    // FIPS 186 style test scalar; any valid scalar works, this one is fixed for reproducibility.
    const SCALAR: [u8; 32] = [
        0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16, 0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6,
        0x93, 0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12, 0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f,
        0x67, 0x21,
    ];

    fn wrap(point: &[u8]) -> Vec<u8> {
        let mut v = vec![0x04, point.len() as u8];
        v.extend_from_slice(point);
        v
    }

    #[test]
    fn ec_params_have_the_expected_bytes() {
        assert_eq!(
            hex::encode(ec_params_for(Algorithm::EcdsaP256).unwrap()),
            "06082a8648ce3d030107"
        );
        assert_eq!(
            hex::encode(ec_params_for(Algorithm::EcdsaSecp256k1).unwrap()),
            "06052b8104000a"
        );
        assert_eq!(
            hex::encode(ec_params_for(Algorithm::Ed25519).unwrap()),
            EDWARDS25519_PARAMS
        );
        assert!(ec_params_for(Algorithm::Rsa2048).is_err());
    }

    #[test]
    fn p256_point_as_softhsm_returns_it() {
        let secret = p256::SecretKey::from_slice(&SCALAR).unwrap();
        let public = secret.public_key();
        let raw = public.to_encoded_point(false);
        let wrapped = wrap(raw.as_bytes());
        assert_eq!(&wrapped[..3], &[0x04, 0x41, 0x04]);
        let params = hex::decode("06082a8648ce3d030107").unwrap();
        let expected = public.to_public_key_der().unwrap().into_vec();
        assert_eq!(
            spki_from_ec(&params, &wrapped).unwrap(),
            (Algorithm::EcdsaP256, expected.clone())
        );
        assert_eq!(spki_from_ec(&params, raw.as_bytes()).unwrap().1, expected);
        let compressed = public.to_encoded_point(true);
        assert_eq!(
            spki_from_ec(&params, compressed.as_bytes()).unwrap().1,
            expected
        );
        let mut bits = vec![0x03, 0x42, 0x00];
        bits.extend_from_slice(raw.as_bytes());
        assert_eq!(spki_from_ec(&params, &bits).unwrap().1, expected);
    }

    #[test]
    fn secp256k1_point() {
        let secret = k256::SecretKey::from_slice(&SCALAR).unwrap();
        let public = secret.public_key();
        let raw = public.to_encoded_point(false);
        let params = hex::decode("06052b8104000a").unwrap();
        let (alg, spki) = spki_from_ec(&params, &wrap(raw.as_bytes())).unwrap();
        assert_eq!(alg, Algorithm::EcdsaSecp256k1);
        assert_eq!(spki, public.to_public_key_der().unwrap().into_vec());
    }

    #[test]
    fn ed25519_both_param_forms_and_point_forms() {
        // RFC 8032 §7.1 test 1 public key.
        let point = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
        let expected =
            hex::decode(format!("302a300506032b6570032100{}", hex::encode(&point))).unwrap();
        let wrapped = wrap(&point);
        assert_eq!(&wrapped[..2], &[0x04, 0x20]);
        let printable = hex::decode(EDWARDS25519_PARAMS).unwrap();
        let oid = hex::decode("06032b6570").unwrap();
        for params in [&printable, &oid] {
            for p in [&point, &wrapped] {
                assert_eq!(
                    spki_from_ec(params, p).unwrap(),
                    (Algorithm::Ed25519, expected.clone())
                );
            }
        }
    }

    #[test]
    fn raw_point_that_looks_like_der_is_read_as_raw() {
        // Bare points that also parse as DER OCTET STRINGs (`04 3f ..`, `04 1e ..`): a DER-first
        // decoder would take 63 or 30 bytes of them. Length decides: they are bare points.
        let p256 = (1u8..=255)
            .filter_map(|i| p256::SecretKey::from_slice(&[i; 32]).ok())
            .map(|s| s.public_key())
            .find(|k| k.to_encoded_point(false).as_bytes()[1] == 0x3f)
            .unwrap();
        let raw = p256.to_encoded_point(false);
        assert!(der::asn1::OctetStringRef::from_der(raw.as_bytes()).is_ok());
        let params = hex::decode("06082a8648ce3d030107").unwrap();
        assert_eq!(
            spki_from_ec(&params, raw.as_bytes()).unwrap().1,
            p256.to_public_key_der().unwrap().into_vec()
        );

        let ed = (0u8..=255)
            .filter_map(|i| {
                let mut b = [i; 32];
                b[..2].copy_from_slice(&[0x04, 0x1e]);
                ed25519_dalek::VerifyingKey::from_bytes(&b).ok()
            })
            .find(|k| !k.is_weak())
            .unwrap();
        assert!(der::asn1::OctetStringRef::from_der(ed.as_bytes()).is_ok());
        let oid = hex::decode("06032b6570").unwrap();
        assert_eq!(
            spki_from_ec(&oid, ed.as_bytes()).unwrap().1,
            ed.to_public_key_der().unwrap().into_vec()
        );
    }

    /// Attributes of keys made by `pkcs11-tool --keypairgen` on SoftHSM 2.6.1, with the public
    /// key OpenSC exported for each (`--read-object --type pubkey`).
    #[test]
    fn softhsm_observed_vectors() {
        let cases = [
            (
                "06082a8648ce3d030107",
                "0441044607afb55fb85b07f70a2069fce28ecb8ccdf0190e1f92bb34d877e6c28cce3a91833c03fcfc8afcf71f8d67dbc68b9dd6fb18a08d87ed8a58d7840b3f945c92",
                Algorithm::EcdsaP256,
                "3059301306072a8648ce3d020106082a8648ce3d030107034200044607afb55fb85b07f70a2069fce28ecb8ccdf0190e1f92bb34d877e6c28cce3a91833c03fcfc8afcf71f8d67dbc68b9dd6fb18a08d87ed8a58d7840b3f945c92",
            ),
            (
                "06052b8104000a",
                "044104ae65f8991fa50ba26f1f5076898228b7caecb5df9a2617f601958a8003f04ea36fa28d5405051d3cae993ccabdbb240acef2e480ac67b0518da24f71eb606fd8",
                Algorithm::EcdsaSecp256k1,
                "3056301006072a8648ce3d020106052b8104000a03420004ae65f8991fa50ba26f1f5076898228b7caecb5df9a2617f601958a8003f04ea36fa28d5405051d3cae993ccabdbb240acef2e480ac67b0518da24f71eb606fd8",
            ),
            (
                EDWARDS25519_PARAMS,
                "04209e442b9e9c4e707dd388465b473a6dca01774ad0d8cf5622c2ee905a72995c68",
                Algorithm::Ed25519,
                "302a300506032b65700321009e442b9e9c4e707dd388465b473a6dca01774ad0d8cf5622c2ee905a72995c68",
            ),
        ];
        for (params, point, algorithm, spki) in cases {
            let got = spki_from_ec(&hex::decode(params).unwrap(), &hex::decode(point).unwrap());
            assert_eq!(got.unwrap(), (algorithm, hex::decode(spki).unwrap()));
        }
        // OpenSC's PEM for the Ed25519 key, byte for byte.
        assert_eq!(
            spki_pem(&hex::decode(cases[2].3).unwrap()),
            "-----BEGIN PUBLIC KEY-----\n\
             MCowBQYDK2VwAyEAnkQrnpxOcH3TiEZbRzptygF3StDYz1Yiwu6QWnKZXGg=\n\
             -----END PUBLIC KEY-----\n"
        );
    }

    #[test]
    fn bad_inputs_are_clear_errors() {
        let p256 = hex::decode("06082a8648ce3d030107").unwrap();
        let e = spki_from_ec(&p256, &[0x04; 64]).unwrap_err().to_string();
        assert!(e.contains("64 bytes is not a ecdsa-p256 point"), "{e}");
        let off_curve = [vec![0x04], vec![1u8; 64]].concat();
        let e = spki_from_ec(&p256, &off_curve).unwrap_err().to_string();
        assert!(e.contains("not on the curve"), "{e}");
        let p384 = hex::decode("06052b81040022").unwrap();
        let e = spki_from_ec(&p384, &[0; 97]).unwrap_err().to_string();
        assert!(e.contains("1.3.132.0.34 is not supported"), "{e}");
        let ed448 = PrintableStringRef::new("edwards448")
            .unwrap()
            .to_der()
            .unwrap();
        assert!(spki_from_ec(&ed448, &[0; 57]).is_err());
    }

    #[test]
    fn rsa_sizes() {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let public = key.to_public_key();
        let n = public.n().to_bytes_be();
        let e = public.e().to_bytes_be();
        let expected = public.to_public_key_der().unwrap().into_vec();
        assert_eq!(
            spki_from_rsa(&n, &e).unwrap(),
            (Algorithm::Rsa2048, expected.clone())
        );
        // Leading zero bytes (some tokens pad) change nothing.
        let padded = [vec![0, 0], n.clone()].concat();
        assert_eq!(spki_from_rsa(&padded, &e).unwrap().1, expected);
        let e = spki_from_rsa(&n[1..], &e).unwrap_err().to_string();
        assert!(e.contains("rsa-2048 and rsa-3072 only"), "{e}");
        let mut n3072 = vec![0xc5u8; 384];
        n3072[383] |= 1;
        assert_eq!(
            spki_from_rsa(&n3072, &[1, 0, 1]).unwrap().0,
            Algorithm::Rsa3072
        );
    }

    #[test]
    fn pem_matches_the_pkcs8_encoder() {
        use p256::pkcs8::LineEnding;
        let public = p256::SecretKey::from_slice(&SCALAR).unwrap().public_key();
        let der = public.to_public_key_der().unwrap();
        assert_eq!(
            spki_pem(der.as_bytes()),
            public.to_public_key_pem(LineEnding::LF).unwrap()
        );
        let pem = spki_pem(&[0u8; 100]);
        assert!(pem.lines().skip(1).all(|l| l.len() <= 64));
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    }

    fn params() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(hex::decode("06082a8648ce3d030107").unwrap()),
            Just(hex::decode("06052b8104000a").unwrap()),
            Just(hex::decode("06032b6570").unwrap()),
            Just(hex::decode(EDWARDS25519_PARAMS).unwrap()),
            proptest::collection::vec(any::<u8>(), 0..16),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(params in params(), point in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = spki_from_ec(&params, &point);
        }

        #[test]
        fn rsa_never_panics(n in proptest::collection::vec(any::<u8>(), 0..300), e in proptest::collection::vec(any::<u8>(), 0..8)) {
            let _ = spki_from_rsa(&n, &e);
        }

        #[test]
        fn raw_and_wrapped_points_agree(scalar in any::<[u8; 32]>()) {
            let cases: Vec<(Vec<u8>, Vec<u8>)> = [
                p256::SecretKey::from_slice(&scalar).ok().map(|s| (
                    hex::decode("06082a8648ce3d030107").unwrap(),
                    s.public_key().to_encoded_point(false).as_bytes().to_vec(),
                )),
                k256::SecretKey::from_slice(&scalar).ok().map(|s| (
                    hex::decode("06052b8104000a").unwrap(),
                    s.public_key().to_encoded_point(false).as_bytes().to_vec(),
                )),
                Some((
                    hex::decode("06032b6570").unwrap(),
                    ed25519_dalek::SigningKey::from_bytes(&scalar).verifying_key().as_bytes().to_vec(),
                )),
            ]
            .into_iter()
            .flatten()
            .collect();
            for (params, raw) in cases {
                let a = spki_from_ec(&params, &raw).unwrap();
                let b = spki_from_ec(&params, &wrap(&raw)).unwrap();
                prop_assert_eq!(a, b);
            }
        }
    }
}
