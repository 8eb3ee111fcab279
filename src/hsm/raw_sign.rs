//! `C_SignInit` + one `C_Sign` into a buffer of the known signature size.
//!
//! cryptoki's `Session::sign` always calls `C_Sign` twice (length, then signature). On a
//! network HSM each call is a round trip, so that doubles the latency of every signature.
//! The signature size of our algorithms is known in advance (64 bytes for ECDSA over 256-bit
//! curves and Ed25519, the modulus size for RSA), so one call suffices; a token that answers
//! `CKR_BUFFER_TOO_SMALL` (which leaves the operation active) gets the second call.

use std::path::Path;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, Rv};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki_sys::{CK_C_Sign, CK_C_SignInit, CK_FUNCTION_LIST_PTR, CK_MECHANISM, CK_RV, CK_ULONG};

/// The module's own `C_SignInit` and `C_Sign`.
pub(super) struct RawSign {
    sign_init: CK_C_SignInit,
    sign: CK_C_Sign,
    // Keeps the library mapped while the pointers are in use (dlopen of an already loaded
    // library returns the same mapping cryptoki uses).
    _library: libloading::Library,
}

impl RawSign {
    /// Look the entry points up through the module's `C_GetFunctionList`; `None` if anything
    /// is missing (callers then use cryptoki's two-call path).
    pub(super) fn load(path: &Path) -> Option<RawSign> {
        // SAFETY: loading a PKCS#11 module that cryptoki has already loaded from the same
        // path; C_GetFunctionList has the PKCS#11 signature and returns a pointer to a
        // function list owned by the module, valid while it is loaded (we keep it loaded).
        unsafe {
            let library = libloading::Library::new(path).ok()?;
            let get: libloading::Symbol<unsafe extern "C" fn(*mut CK_FUNCTION_LIST_PTR) -> CK_RV> =
                library.get(b"C_GetFunctionList\0").ok()?;
            let mut list: CK_FUNCTION_LIST_PTR = std::ptr::null_mut();
            if get(&mut list) != cryptoki_sys::CKR_OK || list.is_null() {
                return None;
            }
            let sign_init = (*list).C_SignInit;
            let sign = (*list).C_Sign;
            sign_init?;
            sign?;
            Some(RawSign {
                sign_init,
                sign,
                _library: library,
            })
        }
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
        let (Some(sign_init), Some(sign)) = (self.sign_init, self.sign) else {
            return Err(CkError::NullFunctionPointer);
        };
        let mut mech: CK_MECHANISM = mechanism.into();
        let data_len = CK_ULONG::try_from(data.len())?;
        let mut signature = vec![0u8; expected_len];
        let mut len = CK_ULONG::try_from(expected_len)?;
        // SAFETY: the session and key handles are live (the caller holds the session);
        // `mech` points into `mechanism`, which outlives both calls; the data and output
        // buffers are valid for the lengths passed, and `len` tells the module the output size.
        unsafe {
            Rv::from(sign_init(session.handle(), &mut mech, key.handle()))
                .into_result(Function::SignInit)?;
            let mut rv = sign(
                session.handle(),
                data.as_ptr() as *mut u8,
                data_len,
                signature.as_mut_ptr(),
                &mut len,
            );
            if rv == cryptoki_sys::CKR_BUFFER_TOO_SMALL {
                // `len` now holds the size needed; the operation is still active.
                signature.resize(usize::try_from(len)?, 0);
                rv = sign(
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
