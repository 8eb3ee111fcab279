//! `C_SignInit` + one `C_Sign` into a buffer of the known signature size.
//!
//! cryptoki's `Session::sign` always calls `C_Sign` twice (length, then signature). On a
//! network HSM each call is a round trip, so that doubles the latency of every signature.
//! The signature size of our algorithms is known in advance (64 bytes for ECDSA over 256-bit
//! curves and Ed25519, the modulus size for RSA), so one call suffices; a token that answers
//! `CKR_BUFFER_TOO_SMALL` (which leaves the operation active) gets the second call.
//!
//! The `C_Sign` called must be the one of the module *instance* cryptoki initialized, whose
//! sessions we hold. A second `C_GetFunctionList` is not that: p11-kit's client
//! (`p11-kit-client.so`) and proxy (`p11-kit-proxy.so`) hand out a new, uninitialized
//! instance on every call, whose functions all answer `CKR_CRYPTOKI_NOT_INITIALIZED`.
//! PKCS#11 2.x functions take no instance argument, so an instance is its function pointers:
//! the pointer is read from cryptoki's own copy of the list. cryptoki 0.12 keeps that copy
//! private but prints it in its `Debug` output (`C_Sign: Some(0x…)`); when that text cannot
//! be found (another cryptoki version), there is no one-call path and cryptoki's two-call
//! `sign` is used.

use cryptoki::context::{Function, Pkcs11};
use cryptoki::error::{Error as CkError, Rv};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki_sys::{CK_BYTE_PTR, CK_RV, CK_SESSION_HANDLE, CK_ULONG, CK_ULONG_PTR};

/// The signature of `C_Sign` (PKCS#11 2.40 section 5.11).
type SignFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_BYTE_PTR,
    CK_ULONG,
    CK_BYTE_PTR,
    CK_ULONG_PTR,
) -> CK_RV;

/// The initialized instance's own `C_Sign`.
pub(super) struct RawSign {
    sign: SignFn,
}

impl RawSign {
    /// The `C_Sign` of the instance behind `ctx`, or `None` when it cannot be had (callers
    /// then use cryptoki's two-call path). The pointer stays valid while `ctx` (which keeps
    /// the library loaded) lives; `Module` holds both.
    pub(super) fn from_context(ctx: &Pkcs11) -> Option<RawSign> {
        let address = sign_address(&format!("{ctx:?}"))?;
        if address == 0 || !ctx.is_fn_supported(Function::Sign) {
            return None;
        }
        // SAFETY: `address` is the value of cryptoki's `C_Sign` field, of type
        // `Option<SignFn>` (`CK_C_Sign`), as printed by its derived `Debug`; a non-null
        // function pointer converts back to the same function pointer type.
        let sign = unsafe { std::mem::transmute::<usize, SignFn>(address) };
        Some(RawSign { sign })
    }

    /// Sign `data` with `key` on `session`, expecting a signature of `expected_len` bytes.
    pub(super) fn sign(
        &self,
        session: &Session,
        mechanism: &Mechanism,
        key: ObjectHandle,
        data: &[u8],
        expected_len: usize,
    ) -> Result<Vec<u8>, CkError> {
        // Through cryptoki, on the same instance: only C_Sign needs the raw pointer.
        session.sign_init(mechanism, key)?;
        let data_len = CK_ULONG::try_from(data.len())?;
        let mut signature = vec![0u8; expected_len];
        let mut len = CK_ULONG::try_from(expected_len)?;
        // SAFETY: the session handle is live (the caller holds the session) and belongs to
        // the instance `self.sign` is from; the data and output buffers are valid for the
        // lengths passed, and `len` tells the module the output size.
        unsafe {
            let mut rv = (self.sign)(
                session.handle(),
                data.as_ptr() as *mut u8,
                data_len,
                signature.as_mut_ptr(),
                &mut len,
            );
            if rv == cryptoki_sys::CKR_BUFFER_TOO_SMALL {
                // `len` now holds the size needed; the operation is still active.
                signature.resize(usize::try_from(len)?, 0);
                rv = (self.sign)(
                    session.handle(),
                    data.as_ptr() as *mut u8,
                    data_len,
                    signature.as_mut_ptr(),
                    &mut len,
                );
            }
            Rv::from(rv).into_result(Function::Sign)?;
        }
        signature.truncate(usize::try_from(len)?);
        Ok(signature)
    }
}

/// The address in `C_Sign: Some(0x…)` of cryptoki's `Debug` output (the field exactly:
/// `C_SignInit`, `C_SignFinal`, … do not match).
fn sign_address(debug: &str) -> Option<usize> {
    const FIELD: &str = "C_Sign: Some(0x";
    let start = debug.find(FIELD)? + FIELD.len();
    let hex: String = debug[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    if debug[start + hex.len()..].starts_with(')') {
        usize::from_str_radix(&hex, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::sign_address;

    #[test]
    fn the_sign_field_is_read_exactly() {
        let debug = "Pkcs11 { impl_: Pkcs11Impl { function_list: V2(CK_FUNCTION_LIST_3_2 { \
                     C_SignInit: Some(0x1111), C_Sign: Some(0x7f00dead10), C_SignUpdate: \
                     Some(0x2222) }) } }";
        assert_eq!(sign_address(debug), Some(0x007f_00de_ad10));
        assert_eq!(sign_address("C_SignInit: Some(0x1111), C_Sign: None"), None);
        assert_eq!(sign_address("C_Sign: Some(0x12zz)"), None);
    }
}
