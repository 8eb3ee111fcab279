//! The function list handed to applications: one wrapper per PKCS#11 2.40 function.
//!
//! Most wrappers are generated: they route the call through [`dispatch`] and forward it
//! unchanged. The lifecycle functions and those whose results the module rewrites (slot list and
//! slot info during an absence, token info under a session cap, opened and closed sessions,
//! EC points, key-generation templates) are written out below.
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use cryptoki_sys::*;

use crate::attributes;
use crate::config::Config;
use crate::functions::{Func, Scope};
use crate::real;
use crate::state::{active, dispatch, guard, replace_active, Active};
use crate::stats::stats;

macro_rules! scope {
    (general, $first:ident) => {
        Scope::General
    };
    (slot, $first:ident) => {
        Scope::Slot($first)
    };
    (session, $first:ident) => {
        Scope::Session($first)
    };
}

macro_rules! forward {
    ($(
        $scope:ident $func:ident $name:ident($first:ident: $fty:ty $(, $arg:ident: $ty:ty)* $(,)?)
        $(query $q:ident)?;
    )*) => {$(
        unsafe extern "C" fn $name($first: $fty $(, $arg: $ty)*) -> CK_RV {
            guard(|| {
                let length_query = false $(|| $q.is_null())?;
                dispatch(Func::$func, scope!($scope, $first), length_query, |a| {
                    match a.list().$name {
                        // SAFETY: the caller's arguments go unchanged to the real module's
                        // entry point with the same signature; PKCS#11 makes the caller
                        // responsible for their validity.
                        Some(f) => unsafe { f($first $(, $arg)*) },
                        None => CKR_FUNCTION_NOT_SUPPORTED,
                    }
                })
            })
        }
    )*};
}

forward! {
    general GetInfo C_GetInfo(info: *mut CK_INFO);
    general WaitForSlotEvent C_WaitForSlotEvent(flags: CK_FLAGS, slot: *mut CK_SLOT_ID, reserved: *mut c_void);
    slot GetMechanismList C_GetMechanismList(slot: CK_SLOT_ID, list: *mut CK_MECHANISM_TYPE, count: *mut CK_ULONG) query list;
    slot GetMechanismInfo C_GetMechanismInfo(slot: CK_SLOT_ID, kind: CK_MECHANISM_TYPE, info: *mut CK_MECHANISM_INFO);
    slot InitToken C_InitToken(slot: CK_SLOT_ID, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, label: *mut CK_UTF8CHAR);
    session InitPin C_InitPIN(h: CK_SESSION_HANDLE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG);
    session SetPin C_SetPIN(h: CK_SESSION_HANDLE, old: *mut CK_UTF8CHAR, old_len: CK_ULONG, new: *mut CK_UTF8CHAR, new_len: CK_ULONG);
    session GetSessionInfo C_GetSessionInfo(h: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO);
    session GetOperationState C_GetOperationState(h: CK_SESSION_HANDLE, state: *mut CK_BYTE, len: *mut CK_ULONG) query state;
    session SetOperationState C_SetOperationState(h: CK_SESSION_HANDLE, state: *mut CK_BYTE, len: CK_ULONG, enc: CK_OBJECT_HANDLE, auth: CK_OBJECT_HANDLE);
    session Login C_Login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG);
    session Logout C_Logout(h: CK_SESSION_HANDLE);
    session CreateObject C_CreateObject(h: CK_SESSION_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG, obj: *mut CK_OBJECT_HANDLE);
    session CopyObject C_CopyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG, new: *mut CK_OBJECT_HANDLE);
    session DestroyObject C_DestroyObject(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE);
    session GetObjectSize C_GetObjectSize(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, size: *mut CK_ULONG);
    session SetAttributeValue C_SetAttributeValue(h: CK_SESSION_HANDLE, obj: CK_OBJECT_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG);
    session FindObjectsInit C_FindObjectsInit(h: CK_SESSION_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG);
    session FindObjects C_FindObjects(h: CK_SESSION_HANDLE, objs: *mut CK_OBJECT_HANDLE, max: CK_ULONG, count: *mut CK_ULONG);
    session FindObjectsFinal C_FindObjectsFinal(h: CK_SESSION_HANDLE);
    session EncryptInit C_EncryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session Encrypt C_Encrypt(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session EncryptUpdate C_EncryptUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session EncryptFinal C_EncryptFinal(h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DecryptInit C_DecryptInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session Decrypt C_Decrypt(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DecryptUpdate C_DecryptUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DecryptFinal C_DecryptFinal(h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DigestInit C_DigestInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM);
    session Digest C_Digest(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DigestUpdate C_DigestUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    session DigestKey C_DigestKey(h: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE);
    session DigestFinal C_DigestFinal(h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session SignInit C_SignInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session Sign C_Sign(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session SignUpdate C_SignUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    session SignFinal C_SignFinal(h: CK_SESSION_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session SignRecoverInit C_SignRecoverInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session SignRecover C_SignRecover(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session VerifyInit C_VerifyInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session Verify C_Verify(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, sig: *mut CK_BYTE, sig_len: CK_ULONG);
    session VerifyUpdate C_VerifyUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG);
    session VerifyFinal C_VerifyFinal(h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sig_len: CK_ULONG);
    session VerifyRecoverInit C_VerifyRecoverInit(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    session VerifyRecover C_VerifyRecover(h: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sig_len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DigestEncryptUpdate C_DigestEncryptUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DecryptDigestUpdate C_DecryptDigestUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session SignEncryptUpdate C_SignEncryptUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session DecryptVerifyUpdate C_DecryptVerifyUpdate(h: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session GenerateKey C_GenerateKey(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, t: *mut CK_ATTRIBUTE, n: CK_ULONG, key: *mut CK_OBJECT_HANDLE);
    session WrapKey C_WrapKey(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, wrapping: CK_OBJECT_HANDLE, key: CK_OBJECT_HANDLE, out: *mut CK_BYTE, out_len: *mut CK_ULONG) query out;
    session UnwrapKey C_UnwrapKey(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, unwrapping: CK_OBJECT_HANDLE, wrapped: *mut CK_BYTE, wrapped_len: CK_ULONG, t: *mut CK_ATTRIBUTE, n: CK_ULONG, key: *mut CK_OBJECT_HANDLE);
    session DeriveKey C_DeriveKey(h: CK_SESSION_HANDLE, m: *mut CK_MECHANISM, base: CK_OBJECT_HANDLE, t: *mut CK_ATTRIBUTE, n: CK_ULONG, key: *mut CK_OBJECT_HANDLE);
    session SeedRandom C_SeedRandom(h: CK_SESSION_HANDLE, seed: *mut CK_BYTE, len: CK_ULONG);
    session GenerateRandom C_GenerateRandom(h: CK_SESSION_HANDLE, out: *mut CK_BYTE, len: CK_ULONG);
    session GetFunctionStatus C_GetFunctionStatus(h: CK_SESSION_HANDLE);
    session CancelFunction C_CancelFunction(h: CK_SESSION_HANDLE);
}

/// Serializes `C_Initialize` and `C_Finalize`.
static LIFECYCLE: Mutex<()> = Mutex::new(());

unsafe extern "C" fn C_Initialize(args: *mut c_void) -> CK_RV {
    guard(|| {
        let rv = initialize(args);
        stats().write();
        rv
    })
}

fn initialize(args: *mut c_void) -> CK_RV {
    let _lifecycle = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
    stats().call(Func::Initialize, false);
    if active().is_some() {
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("faulty-pkcs11: bad configuration: {e}");
            return CKR_GENERAL_ERROR;
        }
    };
    stats().set_file(config.stats_file.clone());
    let real = match real::load(&config.module, C_Initialize as *const () as usize) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "faulty-pkcs11: cannot load the real PKCS#11 module {} (FAULTY_PKCS11_MODULE): {e}",
                config.module.display()
            );
            return CKR_GENERAL_ERROR;
        }
    };
    let Some(init) = real.list.C_Initialize else {
        eprintln!(
            "faulty-pkcs11: the real module {} has no C_Initialize",
            config.module.display()
        );
        return CKR_GENERAL_ERROR;
    };
    // SAFETY: the application's initialization arguments go unchanged to the real module.
    let owns = match unsafe { init(args) } {
        CKR_OK => true,
        // Someone else in this process initialized the real module: share it, never finalize it.
        CKR_CRYPTOKI_ALREADY_INITIALIZED => false,
        rv => return rv,
    };
    replace_active(Some(Arc::new(Active::new(config, real, owns))));
    stats().set_initialized(true);
    CKR_OK
}

unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
        let rv = finalize(reserved);
        stats().write();
        rv
    })
}

fn finalize(reserved: *mut c_void) -> CK_RV {
    let _lifecycle = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
    stats().call(Func::Finalize, false);
    let Some(a) = active() else {
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    };
    if !reserved.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    if a.owns_real_init {
        if let Some(fin) = a.list().C_Finalize {
            // SAFETY: NULL reserved pointer, as the standard requires.
            let rv = unsafe { fin(reserved) };
            if rv != CKR_OK {
                return rv;
            }
        }
    }
    replace_active(None);
    a.sessions.clear();
    stats().set_initialized(false);
    CKR_OK
}

unsafe extern "C" fn C_GetSlotList(
    present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        dispatch(Func::GetSlotList, Scope::General, list.is_null(), |a| {
            if present != CK_FALSE && a.absence.is_absent() {
                if count.is_null() {
                    return CKR_ARGUMENTS_BAD;
                }
                // SAFETY: checked non-NULL; the caller passes a writable CK_ULONG.
                unsafe { *count = 0 };
                return CKR_OK;
            }
            match a.list().C_GetSlotList {
                // SAFETY: the caller's arguments, unchanged.
                Some(f) => unsafe { f(present, list, count) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            }
        })
    })
}

unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    guard(|| {
        dispatch(Func::GetSlotInfo, Scope::Slot(slot), false, |a| {
            let rv = match a.list().C_GetSlotInfo {
                // SAFETY: the caller's arguments, unchanged.
                Some(f) => unsafe { f(slot, info) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            };
            if rv == CKR_OK && !info.is_null() && a.absence.is_absent() {
                // SAFETY: the real module just filled this non-NULL CK_SLOT_INFO.
                unsafe { (*info).flags &= !CKF_TOKEN_PRESENT };
            }
            rv
        })
    })
}

unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    guard(|| {
        dispatch(Func::GetTokenInfo, Scope::Slot(slot), false, |a| {
            let rv = match a.list().C_GetTokenInfo {
                // SAFETY: the caller's arguments, unchanged.
                Some(f) => unsafe { f(slot, info) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            };
            if let (CKR_OK, Some(max)) = (rv, a.sessions.max()) {
                if !info.is_null() {
                    let max = CK_ULONG::try_from(max).unwrap_or(CK_ULONG::MAX);
                    // SAFETY: the real module just filled this non-NULL CK_TOKEN_INFO.
                    unsafe {
                        (*info).ulMaxSessionCount = max;
                        (*info).ulMaxRwSessionCount = max;
                    }
                }
            }
            rv
        })
    })
}

unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    app: *mut c_void,
    notify: CK_NOTIFY,
    handle: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        dispatch(Func::OpenSession, Scope::Slot(slot), false, |a| {
            let opened = a.sessions.open(slot, || {
                let rv = match a.list().C_OpenSession {
                    // SAFETY: the caller's arguments, unchanged.
                    Some(f) => unsafe { f(slot, flags, app, notify, handle) },
                    None => CKR_FUNCTION_NOT_SUPPORTED,
                };
                // SAFETY: on success the real module wrote the new handle to `handle`.
                let h = (rv == CKR_OK && !handle.is_null()).then(|| unsafe { *handle });
                (rv, h)
            });
            opened.unwrap_or_else(|| {
                stats().fault(Func::OpenSession, CKR_SESSION_COUNT);
                CKR_SESSION_COUNT
            })
        })
    })
}

unsafe extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        dispatch(Func::CloseSession, Scope::Session(h), false, |a| {
            let rv = match a.list().C_CloseSession {
                // SAFETY: the caller's handle, unchanged.
                Some(f) => unsafe { f(h) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            };
            a.sessions.forget(h);
            rv
        })
    })
}

unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard(|| {
        dispatch(Func::CloseAllSessions, Scope::Slot(slot), false, |a| {
            let rv = match a.list().C_CloseAllSessions {
                // SAFETY: the caller's slot, unchanged.
                Some(f) => unsafe { f(slot) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            };
            a.sessions.forget_slot(slot);
            rv
        })
    })
}

unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    obj: CK_OBJECT_HANDLE,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let length_query = !template.is_null()
            && usize::try_from(count).is_ok_and(|n| {
                // SAFETY: PKCS#11 requires `count` valid attributes at a non-NULL `template`.
                let attrs = unsafe { std::slice::from_raw_parts(template, n) };
                attrs.iter().all(|a| a.pValue.is_null())
            });
        dispatch(
            Func::GetAttributeValue,
            Scope::Session(h),
            length_query,
            |a| {
                let Some(f) = a.list().C_GetAttributeValue else {
                    return CKR_FUNCTION_NOT_SUPPORTED;
                };
                if a.config.ec_point_raw {
                    // SAFETY: the caller's template under the PKCS#11 contract; `f` is the real
                    // module's C_GetAttributeValue.
                    unsafe { attributes::get_with_raw_ec_point(f, h, obj, template, count) }
                } else {
                    // SAFETY: the caller's arguments, unchanged.
                    unsafe { f(h, obj, template, count) }
                }
            },
        )
    })
}

unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    m: *mut CK_MECHANISM,
    pub_t: *mut CK_ATTRIBUTE,
    pub_n: CK_ULONG,
    priv_t: *mut CK_ATTRIBUTE,
    priv_n: CK_ULONG,
    pub_key: *mut CK_OBJECT_HANDLE,
    priv_key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        dispatch(Func::GenerateKeyPair, Scope::Session(h), false, |a| {
            let Some(f) = a.list().C_GenerateKeyPair else {
                return CKR_FUNCTION_NOT_SUPPORTED;
            };
            if !a.config.keygen_extractable || priv_t.is_null() {
                // SAFETY: the caller's arguments, unchanged.
                return unsafe { f(h, m, pub_t, pub_n, priv_t, priv_n, pub_key, priv_key) };
            }
            let Ok(n) = usize::try_from(priv_n) else {
                return CKR_ARGUMENTS_BAD;
            };
            // A copy of the private template with CKA_EXTRACTABLE forced true (added when
            // absent); the caller's template is left as it was.
            let mut yes: CK_BBOOL = CK_TRUE;
            let yes_ptr: *mut c_void = (&mut yes as *mut CK_BBOOL).cast();
            let extractable = CK_ATTRIBUTE {
                type_: CKA_EXTRACTABLE,
                pValue: yes_ptr,
                ulValueLen: std::mem::size_of::<CK_BBOOL>() as CK_ULONG,
            };
            // SAFETY: PKCS#11 requires `priv_n` valid attributes at a non-NULL `priv_t`.
            let given = unsafe { std::slice::from_raw_parts(priv_t, n) };
            let mut template: Vec<CK_ATTRIBUTE> = given
                .iter()
                .filter(|t| t.type_ != CKA_EXTRACTABLE)
                .copied()
                .collect();
            template.push(extractable);
            // SAFETY: the template points at the caller's values and at `yes`, both alive for
            // the call; the other arguments are the caller's.
            unsafe {
                f(
                    h,
                    m,
                    pub_t,
                    pub_n,
                    template.as_mut_ptr(),
                    template.len() as CK_ULONG,
                    pub_key,
                    priv_key,
                )
            }
        })
    })
}

/// The list returned by `C_GetFunctionList` (version 2.40).
pub static FUNCTION_LIST: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    version: CK_VERSION {
        major: 2,
        minor: 40,
    },
    C_Initialize: Some(C_Initialize),
    C_Finalize: Some(C_Finalize),
    C_GetInfo: Some(C_GetInfo),
    C_GetFunctionList: Some(crate::C_GetFunctionList),
    C_GetSlotList: Some(C_GetSlotList),
    C_GetSlotInfo: Some(C_GetSlotInfo),
    C_GetTokenInfo: Some(C_GetTokenInfo),
    C_GetMechanismList: Some(C_GetMechanismList),
    C_GetMechanismInfo: Some(C_GetMechanismInfo),
    C_InitToken: Some(C_InitToken),
    C_InitPIN: Some(C_InitPIN),
    C_SetPIN: Some(C_SetPIN),
    C_OpenSession: Some(C_OpenSession),
    C_CloseSession: Some(C_CloseSession),
    C_CloseAllSessions: Some(C_CloseAllSessions),
    C_GetSessionInfo: Some(C_GetSessionInfo),
    C_GetOperationState: Some(C_GetOperationState),
    C_SetOperationState: Some(C_SetOperationState),
    C_Login: Some(C_Login),
    C_Logout: Some(C_Logout),
    C_CreateObject: Some(C_CreateObject),
    C_CopyObject: Some(C_CopyObject),
    C_DestroyObject: Some(C_DestroyObject),
    C_GetObjectSize: Some(C_GetObjectSize),
    C_GetAttributeValue: Some(C_GetAttributeValue),
    C_SetAttributeValue: Some(C_SetAttributeValue),
    C_FindObjectsInit: Some(C_FindObjectsInit),
    C_FindObjects: Some(C_FindObjects),
    C_FindObjectsFinal: Some(C_FindObjectsFinal),
    C_EncryptInit: Some(C_EncryptInit),
    C_Encrypt: Some(C_Encrypt),
    C_EncryptUpdate: Some(C_EncryptUpdate),
    C_EncryptFinal: Some(C_EncryptFinal),
    C_DecryptInit: Some(C_DecryptInit),
    C_Decrypt: Some(C_Decrypt),
    C_DecryptUpdate: Some(C_DecryptUpdate),
    C_DecryptFinal: Some(C_DecryptFinal),
    C_DigestInit: Some(C_DigestInit),
    C_Digest: Some(C_Digest),
    C_DigestUpdate: Some(C_DigestUpdate),
    C_DigestKey: Some(C_DigestKey),
    C_DigestFinal: Some(C_DigestFinal),
    C_SignInit: Some(C_SignInit),
    C_Sign: Some(C_Sign),
    C_SignUpdate: Some(C_SignUpdate),
    C_SignFinal: Some(C_SignFinal),
    C_SignRecoverInit: Some(C_SignRecoverInit),
    C_SignRecover: Some(C_SignRecover),
    C_VerifyInit: Some(C_VerifyInit),
    C_Verify: Some(C_Verify),
    C_VerifyUpdate: Some(C_VerifyUpdate),
    C_VerifyFinal: Some(C_VerifyFinal),
    C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
    C_VerifyRecover: Some(C_VerifyRecover),
    C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
    C_GenerateKey: Some(C_GenerateKey),
    C_GenerateKeyPair: Some(C_GenerateKeyPair),
    C_WrapKey: Some(C_WrapKey),
    C_UnwrapKey: Some(C_UnwrapKey),
    C_DeriveKey: Some(C_DeriveKey),
    C_SeedRandom: Some(C_SeedRandom),
    C_GenerateRandom: Some(C_GenerateRandom),
    C_GetFunctionStatus: Some(C_GetFunctionStatus),
    C_CancelFunction: Some(C_CancelFunction),
    C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
};
