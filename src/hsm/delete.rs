//! Destroying a key pair: the private key a [`Key`] resolves to and its public-key object,
//! nothing else.

use cryptoki::object::ObjectHandle;

use super::error::{Error, Result};
use super::key::{describe_key, find_one, public_candidates, Key, KeyInfo, KeySelector};
use super::keygen::destroy;
use super::uri::Pkcs11Uri;

/// A key pair that [`Key::delete`] destroyed.
#[derive(Debug, Clone)]
pub struct DeletedKey {
    /// The key's URI, as it was.
    pub uri: Pkcs11Uri,
    /// The key as it was found: label, id, algorithm, public key.
    pub info: KeyInfo,
    /// Whether a public-key object was destroyed with the private key (some tokens keep the
    /// public part on the private object only, and then there is none).
    pub public_object_destroyed: bool,
}

impl Key {
    /// Destroy this key pair on its token: the private key with exactly this key's label and
    /// `CKA_ID`, and the one public-key object with its `CKA_ID`. Other objects that merely
    /// share the label are left alone.
    ///
    /// Refused, with nothing destroyed, when the pair on the token is no longer the one this
    /// key was found as (its public key changed since). A public-key object left behind
    /// because its destruction failed is named in the error.
    pub fn delete(self) -> Result<DeletedKey> {
        let uri = self.uri();
        let info = self.info().clone();
        let id = info.id_bytes();
        let exact = if info.label.is_empty() {
            KeySelector::Id(id.clone())
        } else {
            KeySelector::LabelAndId(info.label.clone(), id.clone())
        };
        let token = self.token();
        // Set once the private key is gone, so a retry after a session fault only looks for
        // the public object.
        let mut private_destroyed = false;
        let public_object_destroyed = token.with_session(|s, _retry| {
            if !private_destroyed {
                let private = find_one(token, s, &exact)?;
                let now = describe_key(s, private)?;
                if now.spki_der() != info.spki_der() || now.id != info.id {
                    return Err(Error::UntrustedPublicKey(format!(
                        "the key labelled {:?} with id {} changed on token {:?} since it was found \
                         (its public key is not the same); nothing was destroyed",
                        info.label,
                        info.id,
                        token.label()
                    )));
                }
                s.destroy_object(private).map_err(|e| {
                    Error::pkcs11(
                        format!(
                            "C_DestroyObject (private key labelled {:?} with id {})",
                            info.label, info.id
                        ),
                        e,
                    )
                })?;
                private_destroyed = true;
            }
            let public: Option<ObjectHandle> = public_candidates(s, &info.label, &id)?;
            let Some(public) = public else {
                return Ok(false);
            };
            let failed = destroy(s, [public]);
            if failed.is_empty() {
                Ok(true)
            } else {
                Err(Error::Config(format!(
                    "the private key labelled {:?} with id {} was destroyed, but destroying its \
                     public-key object FAILED ({}); that object is left on token {:?}",
                    info.label,
                    info.id,
                    failed.join("; "),
                    token.label()
                )))
            }
        })?;
        Ok(DeletedKey {
            uri,
            info,
            public_object_destroyed,
        })
    }
}
