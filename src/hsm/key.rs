//! Finding keys on a token, describing them, and signing with them.

use std::sync::{Arc, Mutex};

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::algorithm::Algorithm;
use super::ec_signature::raw_to_der;
use super::error::{Error, Result};
use super::public_key::{spki_from_ec, spki_from_rsa, spki_pem};
use super::token::Token;
use super::uri::Pkcs11Uri;

/// How a key is referenced on its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySelector {
    /// `CKA_LABEL`.
    Label(String),
    /// `CKA_ID`.
    Id(Vec<u8>),
    /// Both must match.
    LabelAndId(String, Vec<u8>),
}

impl KeySelector {
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![Attribute::Class(class)];
        match self {
            KeySelector::Label(l) => t.push(Attribute::Label(l.as_bytes().to_vec())),
            KeySelector::Id(id) => t.push(Attribute::Id(id.clone())),
            KeySelector::LabelAndId(l, id) => {
                t.push(Attribute::Label(l.as_bytes().to_vec()));
                t.push(Attribute::Id(id.clone()));
            }
        }
        t
    }

    fn matches(&self, label: &[u8], id: &[u8]) -> bool {
        match self {
            KeySelector::Label(l) => l.as_bytes() == label,
            KeySelector::Id(i) => i.as_slice() == id,
            KeySelector::LabelAndId(l, i) => l.as_bytes() == label && i.as_slice() == id,
        }
    }

    fn describe(&self) -> String {
        match self {
            KeySelector::Label(l) => format!("private key labelled {l:?}"),
            KeySelector::Id(id) => format!("private key with id {}", hex::encode(id)),
            KeySelector::LabelAndId(l, id) => {
                format!("private key labelled {l:?} with id {}", hex::encode(id))
            }
        }
    }
}

/// What we know about a key pair; what `key list` and `doctor` print.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// Algorithm, when supported.
    pub algorithm: Option<Algorithm>,
    /// SPKI PEM of the public key as the token reports it, when exactly one public object
    /// (or the private object itself) holds it. Not proven: anyone with a public session can
    /// create public objects, so export or register it only after a signature by the private
    /// key verifies against it (`HsmSigner::prove_pair` does that).
    pub public_key_pem: Option<String>,
    /// Safety-relevant attributes of the private key.
    pub attributes: KeyAttributes,
    /// Why the key cannot be used, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    #[serde(skip)]
    spki_der: Vec<u8>,
    // Set when several public objects claim the key: the problem is a trust failure, not an
    // unsupported key.
    #[serde(skip)]
    untrusted_public: bool,
}

impl KeyInfo {
    /// The public key as SPKI DER (empty when unreadable).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// `CKA_ID` as bytes.
    pub fn id_bytes(&self) -> Vec<u8> {
        hex::decode(&self.id).unwrap_or_default()
    }

    /// SHA-256 of the public key's SPKI DER, lowercase hex (empty when the public key is
    /// unreadable): the fingerprint that tells keys apart.
    pub fn spki_sha256_hex(&self) -> String {
        if self.spki_der.is_empty() {
            return String::new();
        }
        hex::encode(Sha256::digest(&self.spki_der))
    }
}

/// Private-key attributes that decide whether a key is safe to use.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyAttributes {
    /// `CKA_SENSITIVE`.
    pub sensitive: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    pub extractable: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: Option<bool>,
    /// `CKA_SIGN`.
    pub sign: Option<bool>,
    /// `CKA_DECRYPT`.
    pub decrypt: Option<bool>,
    /// `CKA_DERIVE`.
    pub derive: Option<bool>,
    /// `CKA_UNWRAP`.
    pub unwrap: Option<bool>,
}

impl KeyAttributes {
    /// Problems that make the key unfit to hold a Dfns credential, in words.
    pub fn unsafe_reasons(&self) -> Vec<&'static str> {
        let mut r = Vec::new();
        if self.sensitive != Some(true) {
            r.push("not CKA_SENSITIVE");
        }
        if self.extractable != Some(false) {
            r.push("CKA_EXTRACTABLE");
        }
        if self.always_sensitive != Some(true) {
            r.push("was not sensitive at some point (CKA_ALWAYS_SENSITIVE false)");
        }
        if self.never_extractable != Some(true) {
            r.push("was extractable at some point (CKA_NEVER_EXTRACTABLE false)");
        }
        // Not reported means the key type has no such capability.
        if self.decrypt == Some(true) {
            r.push("can decrypt (CKA_DECRYPT)");
        }
        if self.unwrap == Some(true) {
            r.push("can unwrap keys (CKA_UNWRAP)");
        }
        if self.derive == Some(true) {
            r.push("can derive keys (CKA_DERIVE)");
        }
        if self.sign != Some(true) {
            r.push("cannot sign (CKA_SIGN false)");
        }
        r
    }
}

/// A usable signing key on a token.
pub struct Key {
    token: Arc<Token>,
    selector: KeySelector,
    info: KeyInfo,
    algorithm: Algorithm,
    // Cached private handle; looked up again after a session fault.
    handle: Mutex<ObjectHandle>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("token", &self.token.label())
            .field("label", &self.info.label)
            .field("id", &self.info.id)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl Key {
    /// Find exactly one private key matching `selector` and read its public key.
    pub fn find(token: &Arc<Token>, selector: KeySelector) -> Result<Key> {
        let (handle, info) = token.with_session(|s, _| {
            let handle = find_one(token, s, &selector)?;
            Ok((handle, describe_key(s, handle)?))
        })?;
        Self::from_parts(token, selector, handle, info)
    }

    pub(super) fn from_parts(
        token: &Arc<Token>,
        selector: KeySelector,
        handle: ObjectHandle,
        info: KeyInfo,
    ) -> Result<Key> {
        if info.untrusted_public {
            return Err(Error::UntrustedPublicKey(
                info.problem.clone().unwrap_or_default(),
            ));
        }
        let algorithm = info.algorithm.ok_or_else(|| {
            Error::UnsupportedKey(format!(
                "key {:?}: {}",
                info.label,
                info.problem
                    .clone()
                    .unwrap_or_else(|| "unknown key type".into())
            ))
        })?;
        if info.spki_der.is_empty() {
            return Err(Error::UnsupportedKey(format!(
                "key {:?}: its public key cannot be read ({})",
                info.label,
                info.problem.clone().unwrap_or_default()
            )));
        }
        Ok(Key {
            token: Arc::clone(token),
            selector,
            info,
            algorithm,
            handle: Mutex::new(handle),
        })
    }

    /// The key's description.
    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// `Ok` when the key is fit to hold a Dfns credential (see
    /// [`KeyAttributes::unsafe_reasons`]), else [`Error::UnsafeKey`] with every reason.
    pub fn ensure_safe(&self) -> Result<()> {
        let reasons = self.info.attributes.unsafe_reasons();
        if reasons.is_empty() {
            return Ok(());
        }
        Err(Error::UnsafeKey {
            key: format!(
                "{:?} (id {}) on token {:?}",
                self.info.label,
                self.info.id,
                self.token.label()
            ),
            reasons: reasons.join(", "),
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key's `pkcs11:` URI (token label, object label, id and module path).
    pub fn uri(&self) -> Pkcs11Uri {
        Pkcs11Uri::key(
            self.token.label(),
            &self.info.label,
            &self.info.id_bytes(),
            Some(self.token.module().path()),
        )
    }

    /// The token the key lives on.
    pub fn token(&self) -> &Arc<Token> {
        &self.token
    }

    /// Sign `message` on the token. Returns the standard encoding: ECDSA as ASN.1 DER over
    /// SHA-256 (hashed here, since many tokens lack `CKM_ECDSA_SHA256`), Ed25519 as 64 raw
    /// bytes (`CKM_EDDSA`), RSA as PKCS#1 v1.5 with SHA-256 (`CKM_SHA256_RSA_PKCS`).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let digest;
        let (mechanism, input) = match self.algorithm {
            Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => {
                digest = Sha256::digest(message);
                (Mechanism::Ecdsa, &digest[..])
            }
            Algorithm::Ed25519 => (
                Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                message,
            ),
            Algorithm::Rsa2048 | Algorithm::Rsa3072 => (Mechanism::Sha256RsaPkcs, message),
        };
        let expected_len = match self.algorithm {
            Algorithm::Rsa2048 | Algorithm::Rsa3072 => {
                usize::try_from(self.algorithm.rsa_bits().unwrap_or(2048) / 8).unwrap_or(256)
            }
            // r||s of a 256-bit curve, or R||S of Ed25519.
            _ => 64,
        };
        let module = self.token.module();
        let raw = self.token.with_session(|s, retry| {
            let handle = self.handle(s, retry)?;
            module
                .sign(s, &mechanism, handle, input, expected_len)
                .map_err(|e| Error::pkcs11(format!("C_Sign with key {:?}", self.info.label), e))
        })?;
        match self.algorithm {
            Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => raw_to_der(self.algorithm, &raw),
            Algorithm::Ed25519 if raw.len() != 64 => Err(Error::BadSignature {
                algorithm: "Ed25519",
                len: raw.len(),
            }),
            _ => Ok(raw),
        }
    }

    fn handle(&self, session: &Session, refresh: bool) -> Result<ObjectHandle> {
        let mut cached = self
            .handle
            .lock()
            .map_err(|_| Error::Config("key handle lock poisoned".into()))?;
        if refresh {
            *cached = find_one(&self.token, session, &self.selector)?;
        }
        Ok(*cached)
    }
}

pub(super) fn find_one(token: &Token, s: &Session, selector: &KeySelector) -> Result<ObjectHandle> {
    let found = s
        .find_objects(&selector.template(ObjectClass::PRIVATE_KEY))
        .map_err(|e| Error::pkcs11("C_FindObjects", e))?;
    // A module's search is not trusted to honour every attribute of the template: keep only
    // the objects whose label and id are exactly those asked for.
    let mut matching = Vec::with_capacity(found.len());
    for handle in found {
        let (label, id) = label_and_id(s, handle)?;
        if selector.matches(&label, &id) {
            matching.push(handle);
        }
    }
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::KeyNotFound {
            what: selector.describe(),
            token: token.label().to_owned(),
        }),
        many => Err(Error::AmbiguousKey {
            what: selector.describe(),
            token: token.label().to_owned(),
            count: many.len(),
        }),
    }
}

impl Key {
    /// Every private key on the token, described.
    pub fn list(token: &Arc<Token>) -> Result<Vec<KeyInfo>> {
        token.with_session(|s, _| {
            let handles = s
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(|e| Error::pkcs11("C_FindObjects", e))?;
            let mut keys = handles
                .into_iter()
                .map(|h| describe_key(s, h))
                .collect::<Result<Vec<_>>>()?;
            keys.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
            Ok(keys)
        })
    }
}

/// Read a private key's attributes and its public key (from the matching public-key object,
/// or from the private object itself as CloudHSM exposes it).
pub(super) fn describe_key(s: &Session, private: ObjectHandle) -> Result<KeyInfo> {
    use AttributeType as T;
    let attrs = s
        .get_attributes(
            private,
            &[
                T::Label,
                T::Id,
                T::KeyType,
                T::Sensitive,
                T::AlwaysSensitive,
                T::Extractable,
                T::NeverExtractable,
                T::Sign,
                T::Decrypt,
                T::Derive,
                T::Unwrap,
            ],
        )
        .map_err(|e| Error::pkcs11("C_GetAttributeValue (private key)", e))?;
    let mut label = String::new();
    let mut id = Vec::new();
    let mut key_type = None;
    let mut a = KeyAttributes::default();
    for attr in attrs {
        match attr {
            Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
            Attribute::Id(i) => id = i,
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::Sensitive(v) => a.sensitive = Some(v),
            Attribute::AlwaysSensitive(v) => a.always_sensitive = Some(v),
            Attribute::Extractable(v) => a.extractable = Some(v),
            Attribute::NeverExtractable(v) => a.never_extractable = Some(v),
            Attribute::Sign(v) => a.sign = Some(v),
            Attribute::Decrypt(v) => a.decrypt = Some(v),
            Attribute::Derive(v) => a.derive = Some(v),
            Attribute::Unwrap(v) => a.unwrap = Some(v),
            _ => {}
        }
    }
    let label_text = label.clone();
    let public = match key_type {
        Some(k) if k == KeyType::EC || k == KeyType::EC_EDWARDS || k == KeyType::RSA => {
            read_public(s, private, &label_text, &id, k)
        }
        Some(k) => Err(Error::UnsupportedKey(format!(
            "key type {k} is not supported"
        ))),
        None => Err(Error::UnsupportedKey(
            "the token did not report CKA_KEY_TYPE".into(),
        )),
    };
    let untrusted_public = matches!(public, Err(Error::UntrustedPublicKey(_)));
    let (algorithm, spki_der, problem) = match public {
        Ok((alg, der)) => (Some(alg), der, None),
        Err(e) => (None, Vec::new(), Some(e.to_string())),
    };
    Ok(KeyInfo {
        label,
        id: hex::encode(&id),
        algorithm,
        public_key_pem: (!spki_der.is_empty()).then(|| spki_pem(&spki_der)),
        attributes: a,
        problem,
        spki_der,
        untrusted_public,
    })
}

/// `CKA_LABEL` and `CKA_ID` of an object (empty when the token reports none).
fn label_and_id(s: &Session, handle: ObjectHandle) -> Result<(Vec<u8>, Vec<u8>)> {
    let attrs = s
        .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
        .map_err(|e| Error::pkcs11("C_GetAttributeValue (label, id)", e))?;
    let mut label = Vec::new();
    let mut id = Vec::new();
    for attr in attrs {
        match attr {
            Attribute::Label(l) => label = l,
            Attribute::Id(i) => id = i,
            _ => {}
        }
    }
    Ok((label, id))
}

/// The public-key objects that claim the private key `label`/`id`: every public key with its
/// `CKA_ID`, whatever its label. More than one is an error naming them; the caller never
/// picks.
pub(super) fn public_candidates(
    s: &Session,
    label: &str,
    id: &[u8],
) -> Result<Option<ObjectHandle>> {
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id.to_vec()),
        ])
        .map_err(|e| Error::pkcs11("C_FindObjects (public key)", e))?;
    let mut candidates = Vec::with_capacity(found.len());
    for handle in found {
        let (l, i) = label_and_id(s, handle)?;
        // The search is not trusted to have matched the id exactly.
        if i.as_slice() == id {
            candidates.push((handle, l));
        }
    }
    match candidates.as_slice() {
        [] => Ok(None),
        [(one, _)] => Ok(Some(*one)),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(_, l)| {
                    format!(
                        "labelled {:?} with id {}",
                        String::from_utf8_lossy(l),
                        hex::encode(id)
                    )
                })
                .collect();
            Err(Error::UntrustedPublicKey(format!(
                "{} public-key objects claim the private key labelled {label:?} with id {} \
                 ({}); none is used, since any session without the PIN can create public \
                 objects: remove the ones that do not belong to this key",
                many.len(),
                hex::encode(id),
                names.join("; ")
            )))
        }
    }
}

fn read_public(
    s: &Session,
    private: ObjectHandle,
    label: &str,
    id: &[u8],
    key_type: KeyType,
) -> Result<(Algorithm, Vec<u8>)> {
    let wanted: &[AttributeType] = if key_type == KeyType::RSA {
        &[AttributeType::Modulus, AttributeType::PublicExponent]
    } else {
        &[AttributeType::EcParams, AttributeType::EcPoint]
    };
    let public_object = public_candidates(s, label, id)?;
    // The public object first; the private object as a fallback (CloudHSM keeps EC_POINT there).
    for handle in public_object.into_iter().chain(std::iter::once(private)) {
        let attrs = s
            .get_attributes(handle, wanted)
            .map_err(|e| Error::pkcs11("C_GetAttributeValue (public key)", e))?;
        let mut first = None;
        let mut second = None;
        for attr in attrs {
            match attr {
                Attribute::Modulus(v) | Attribute::EcParams(v) => first = Some(v),
                Attribute::PublicExponent(v) | Attribute::EcPoint(v) => second = Some(v),
                _ => {}
            }
        }
        if let (Some(a), Some(b)) = (first, second) {
            return if key_type == KeyType::RSA {
                spki_from_rsa(&a, &b)
            } else {
                spki_from_ec(&a, &b)
            };
        }
    }
    Err(Error::UnsupportedKey(
        "no public-key object with the same CKA_ID, and the private key does not expose its public part".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safe() -> KeyAttributes {
        KeyAttributes {
            sensitive: Some(true),
            always_sensitive: Some(true),
            extractable: Some(false),
            never_extractable: Some(true),
            sign: Some(true),
            decrypt: Some(false),
            derive: Some(false),
            unwrap: None,
        }
    }

    type Widen = fn(&mut KeyAttributes);

    #[test]
    fn every_capability_beyond_signing_is_unsafe() {
        assert!(
            safe().unsafe_reasons().is_empty(),
            "{:?}",
            safe().unsafe_reasons()
        );
        let cases: [(Widen, &str); 7] = [
            (|a| a.decrypt = Some(true), "CKA_DECRYPT"),
            (|a| a.unwrap = Some(true), "CKA_UNWRAP"),
            (|a| a.derive = Some(true), "CKA_DERIVE"),
            (|a| a.extractable = Some(true), "CKA_EXTRACTABLE"),
            (
                |a| a.never_extractable = Some(false),
                "CKA_NEVER_EXTRACTABLE",
            ),
            (|a| a.always_sensitive = Some(false), "CKA_ALWAYS_SENSITIVE"),
            (|a| a.sensitive = None, "CKA_SENSITIVE"),
        ];
        for (widen, named) in cases {
            let mut a = safe();
            widen(&mut a);
            let reasons = a.unsafe_reasons();
            assert_eq!(reasons.len(), 1, "{named}: {reasons:?}");
            assert!(reasons[0].contains(named), "{named}: {reasons:?}");
        }
    }

    #[test]
    fn selectors_match_exactly() {
        let both = KeySelector::LabelAndId("k".into(), vec![1, 2]);
        assert!(both.matches(b"k", &[1, 2]));
        assert!(!both.matches(b"k", &[1, 3]));
        assert!(!both.matches(b"k2", &[1, 2]));
        assert!(KeySelector::Label("k".into()).matches(b"k", &[9]));
        assert!(!KeySelector::Label("k".into()).matches(b"kk", &[9]));
        assert!(KeySelector::Id(vec![7]).matches(b"any", &[7]));
        assert!(!KeySelector::Id(vec![7]).matches(b"any", &[7, 0]));
    }
}
