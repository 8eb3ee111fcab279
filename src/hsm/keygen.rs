//! Generating non-extractable key pairs with minimal templates.
//!
//! Private key: token, private, sensitive, non-extractable, sign-only. Public key: no usage
//! attribute asked for (see [`templates`]).
//! Nothing else is asked for: vendors reject attributes they do not expect (YubiHSM refuses
//! `CKA_MODIFIABLE`), and each extra capability is an extra way to misuse the key.

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::algorithm::Algorithm;
use super::error::{Error, Fault, Result};
use super::key::{describe_key, find_one, Key, KeySelector};
use super::public_key::ec_params_for;
use super::token::Token;

impl Key {
    /// Generate a key pair labelled `label`; refuses a label that any object already has.
    pub fn generate(token: &Arc<Token>, label: &str, algorithm: Algorithm) -> Result<Key> {
        if label.is_empty() {
            return Err(Error::Config("a key label must not be empty".into()));
        }
        super::mechanism::require_algorithm(token, algorithm)?;
        let _one_at_a_time = token.creating();
        let public_private = token.options().public_key_private;
        // Set once the pair exists, so a retry after a session fault describes it instead of
        // generating a second one.
        let mut generated: Option<Vec<u8>> = None;
        let (handle, id, info) = token.with_session(|s, _retry| {
            if let Some(id) = &generated {
                let selector = KeySelector::LabelAndId(label.to_owned(), id.clone());
                let handle = find_one(token, s, &selector)?;
                return Ok((handle, id.clone(), describe_key(s, handle)?));
            }
            refuse_existing(token, s, label)?;
            let id = fresh_id(s, token.options().key_id_bytes)?;
            let (mechanism, mut public, mut private) = templates(algorithm, public_private)?;
            for t in [&mut public, &mut private] {
                t.push(Attribute::Id(id.clone()));
                t.push(Attribute::Label(label.as_bytes().to_vec()));
            }
            let (pub_handle, priv_handle) = s
                .generate_key_pair(&mechanism, &public, &private)
                .map_err(|e| {
                    if let cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::CurveNotSupported,
                        _,
                    ) = e
                    {
                        return super::mechanism::unavailable(
                            token,
                            algorithm,
                            "the module does not support its curve (CKR_CURVE_NOT_SUPPORTED)",
                        );
                    }
                    Error::pkcs11(
                        format!(
                            "C_GenerateKeyPair ({algorithm}) on token {:?}",
                            token.label()
                        ),
                        e,
                    )
                })?;
            generated = Some(id.clone());
            match describe_key(s, priv_handle) {
                Ok(info) if info.algorithm.is_some() => {
                    refuse_widened(s, [priv_handle, pub_handle], label, &info)?;
                    Ok((priv_handle, id, info))
                }
                Ok(info) => Err(undo(
                    s,
                    [priv_handle, pub_handle],
                    label,
                    info.problem.unwrap_or_default(),
                )),
                // The session died: the retry finds the pair by label and id.
                Err(e) if e.fault() != Fault::Permanent => Err(e),
                Err(e) => Err(undo(s, [priv_handle, pub_handle], label, e.to_string())),
            }
        })?;
        Key::from_parts(
            token,
            KeySelector::LabelAndId(label.to_owned(), id),
            handle,
            info,
        )
    }
}

fn refuse_existing(token: &Token, s: &Session, label: &str) -> Result<()> {
    let existing = s
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|e| Error::pkcs11("C_FindObjects", e))?;
    if existing.is_empty() {
        Ok(())
    } else {
        Err(Error::KeyExists {
            label: label.to_owned(),
            token: token.label().to_owned(),
        })
    }
}

fn fresh_id(s: &Session, len: usize) -> Result<Vec<u8>> {
    // Short ids (YubiHSM maps CKA_ID to a 16-bit object id) collide more: try harder.
    for _ in 0..16 {
        let id: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        // An all-zero id is object 0 on YubiHSM, which is reserved.
        if id.iter().all(|b| *b == 0) {
            continue;
        }
        let clash = s
            .find_objects(&[Attribute::Id(id.clone())])
            .map_err(|e| Error::pkcs11("C_FindObjects", e))?;
        if clash.is_empty() {
            return Ok(id);
        }
    }
    Err(Error::Config("could not pick an unused CKA_ID".into()))
}

/// The mechanism and the (public, private) templates for `algorithm`.
///
/// The public template sets no usage attribute (`CKA_VERIFY`, `CKA_ENCRYPT`, `CKA_WRAP`):
/// tpm2-pkcs11 maps them onto the TPM object's attributes, shared with the private half (its
/// verify to decrypt, encrypt to sign), so an explicit `CKA_VERIFY=true`/`CKA_ENCRYPT=false`
/// pair fails with `CKR_GENERAL_ERROR` ("attr mismatch"); every implementation accepts the
/// module's defaults. What limits the pair is the private half, which states every usage:
/// sign only, no decrypt, unwrap or derive.
pub(super) fn templates(
    algorithm: Algorithm,
    public_private: bool,
) -> Result<(Mechanism<'static>, Vec<Attribute>, Vec<Attribute>)> {
    let mut public = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Token(true),
        Attribute::Private(public_private),
    ];
    let mut private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
    ];
    let mechanism = match algorithm {
        Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => {
            public.push(Attribute::EcParams(ec_params_for(algorithm)?));
            private.push(Attribute::Derive(false));
            Mechanism::EccKeyPairGen
        }
        Algorithm::Ed25519 => {
            public.push(Attribute::EcParams(ec_params_for(algorithm)?));
            private.push(Attribute::Derive(false));
            Mechanism::EccEdwardsKeyPairGen
        }
        Algorithm::Rsa2048 | Algorithm::Rsa3072 => {
            let bits = algorithm.rsa_bits().unwrap_or(2048);
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
    };
    Ok((mechanism, public, private))
}

/// The attributes the token gave a freshly generated private key, read back: a token may
/// silently widen a template (make the key extractable, or able to decrypt or derive). Such a
/// pair is destroyed and refused, and the error says whether the destruction worked.
fn refuse_widened(
    s: &Session,
    handles: [ObjectHandle; 2],
    label: &str,
    info: &super::key::KeyInfo,
) -> Result<()> {
    let reasons = info.attributes.unsafe_reasons();
    if reasons.is_empty() {
        return Ok(());
    }
    let failed = destroy(s, handles);
    let outcome = if failed.is_empty() {
        "the pair was destroyed".to_owned()
    } else {
        format!(
            "destroying it FAILED ({}): remove the objects labelled {label:?} by hand",
            failed.join("; ")
        )
    };
    Err(Error::UnsafeKey {
        key: format!("{label:?} (id {}), just generated,", info.id),
        reasons: format!(
            "{}; the token did not apply the requested attributes; {outcome}",
            reasons.join(", ")
        ),
    })
}

/// Destroy `handles`; the failures, described.
pub(super) fn destroy<const N: usize>(s: &Session, handles: [ObjectHandle; N]) -> Vec<String> {
    handles
        .into_iter()
        .filter_map(|h| {
            s.destroy_object(h)
                .err()
                .map(|e| super::error::describe(&e))
        })
        .collect()
}

/// Destroy a pair whose public key we cannot read; say loudly if even that fails.
fn undo(s: &Session, handles: [ObjectHandle; 2], label: &str, why: String) -> Error {
    let failed = destroy(s, handles);
    if failed.is_empty() {
        Error::UnsupportedKey(format!(
            "generated {label:?} but could not read its public key ({why}); the pair was destroyed"
        ))
    } else {
        Error::UnsupportedKey(format!(
            "generated {label:?} but could not read its public key ({why}); destroying it FAILED ({}): remove the objects labelled {label:?} by hand",
            failed.join("; ")
        ))
    }
}
