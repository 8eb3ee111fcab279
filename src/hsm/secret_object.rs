//! Secrets kept on the token itself: a private data object (`CKO_DATA`, `CKA_TOKEN`,
//! `CKA_PRIVATE`), readable only after login, so that a service account's Dfns token need not
//! sit in a file beside the key. Written once, never overwritten.

use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use super::error::{Error, Result};
use super::token::Token;

/// The application tag dfns-hsm puts on the data objects it writes (`CKA_APPLICATION`).
pub const SECRET_APPLICATION: &str = "dfns-hsm";

fn find(s: &Session, label: &str) -> Result<Vec<ObjectHandle>> {
    s.find_objects(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
    .map_err(|e| Error::pkcs11("C_FindObjects", e))
}

/// The one private data object labelled `label`. Only private objects count: anyone with a
/// public session can create a public data object with any label, and a token read from one
/// would be the planter's.
fn one(token: &Token, s: &Session, label: &str) -> Result<ObjectHandle> {
    let private = s
        .find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Private(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(|e| Error::pkcs11("C_FindObjects", e))?;
    match private.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::KeyNotFound {
            what: format!("data object labelled {label:?}"),
            token: token.label().to_owned(),
        }),
        many => Err(Error::AmbiguousKey {
            what: format!("data object labelled {label:?}"),
            token: token.label().to_owned(),
            count: many.len(),
        }),
    }
}

impl Token {
    /// Store `value` as a private data object labelled `label`; refuses a label a data
    /// object already has (a one-time secret is never overwritten).
    pub fn store_secret(self: &Arc<Self>, label: &str, value: &[u8]) -> Result<()> {
        if label.is_empty() {
            return Err(Error::Config(
                "a data object label must not be empty".into(),
            ));
        }
        let _one_at_a_time = self.creating();
        // Set once created, so a retry after a session fault does not create a second one.
        let mut created = false;
        self.with_session(|s, _retry| {
            if !find(s, label)?.is_empty() {
                return if created {
                    Ok(())
                } else {
                    Err(Error::KeyExists {
                        label: label.to_owned(),
                        token: self.label().to_owned(),
                    })
                };
            }
            s.create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Application(SECRET_APPLICATION.as_bytes().to_vec()),
                Attribute::Value(value.to_vec()),
            ])
            .map_err(|e| Error::pkcs11("C_CreateObject", e))?;
            created = true;
            Ok(())
        })
    }

    /// Whether a data object labelled `label` exists (visible to the logged-in user).
    pub fn has_secret(self: &Arc<Self>, label: &str) -> Result<bool> {
        self.with_session(|s, _| Ok(!find(s, label)?.is_empty()))
    }

    /// Read the value of the one data object labelled `label`.
    pub fn read_secret(self: &Arc<Self>, label: &str) -> Result<Zeroizing<Vec<u8>>> {
        self.with_session(|s, _| {
            let handle = one(self, s, label)?;
            let attrs = s
                .get_attributes(handle, &[AttributeType::Value])
                .map_err(|e| Error::pkcs11("C_GetAttributeValue", e))?;
            attrs
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(Zeroizing::new(v)),
                    _ => None,
                })
                .ok_or_else(|| Error::KeyNotFound {
                    what: format!("value of the data object labelled {label:?}"),
                    token: self.label().to_owned(),
                })
        })
    }

    /// Destroy the one data object labelled `label`.
    pub fn delete_secret(self: &Arc<Self>, label: &str) -> Result<()> {
        self.with_session(|s, _| {
            let handle = one(self, s, label)?;
            s.destroy_object(handle)
                .map_err(|e| Error::pkcs11("C_DestroyObject", e))
        })
    }
}
