//! `faulty-pkcs11`: a PKCS#11 module for tests that loads a real module (SoftHSM2), forwards
//! every call to it, and on demand makes chosen calls fail the way network HSMs do: sessions
//! dropped, device errors, the token unplugged for a while, latency, a session cap, idle
//! expiry, EC points without their DER wrapper.
//!
//! Load `libfaulty_pkcs11.so` wherever a PKCS#11 module path is expected. It exports only
//! `C_GetFunctionList` (PKCS#11 2.40; no `C_GetInterface`, so 3.x loaders fall back to it).
//! Configuration is read from the environment at every `C_Initialize`; an unknown `FAULTY_*`
//! variable or a malformed value makes `C_Initialize` fail with `CKR_GENERAL_ERROR` and a
//! message on stderr, as does a real module that cannot be loaded.
//!
//! ```text
//! FAULTY_PKCS11_MODULE=PATH        the real module (default: SoftHSM2's usual paths)
//! FAULTY_<FUNC>_EVERY[_x]=N[@F]:CKR[:EFFECT] fail operations N, 2N, 3N, ... of C_<Func>
//!                                  (with @F: F, F+N, F+2N, ...; 2@1 fails every other from the 1st)
//! FAULTY_<FUNC>_NTH[_x]=A,B,..:CKR[:EFFECT] fail exactly operations A, B, ...
//! FAULTY_<FUNC>_AFTER[_x]=N:CKR[:EFFECT]    fail every operation after the first N
//! FAULTY_<FUNC>_RATE[_x]=P:CKR[:EFFECT]     fail each operation with probability P (0..1)
//! FAULTY_SEED=N                    seed of the RATE rules (default 0: runs are reproducible)
//! FAULTY_LATENCY_MS=MS             sleep before every call
//! FAULTY_<FUNC>_LATENCY_MS=MS      sleep before every call of C_<Func> (adds to the above)
//! FAULTY_MAX_SESSIONS=N            C_OpenSession fails with CKR_SESSION_COUNT beyond N open
//!                                  sessions; C_GetTokenInfo reports N as ulMax(Rw)SessionCount
//! FAULTY_IDLE_TIMEOUT_MS=MS        sessions unused this long are closed underneath
//! FAULTY_EC_POINT_RAW=1            CKA_EC_POINT without its DER OCTET STRING wrapper
//! FAULTY_KEYGEN_EXTRACTABLE=1      C_GenerateKeyPair makes the private key extractable
//! FAULTY_TOKEN_ABSENT_AFTER=N      after the Nth C_Sign operation the token is absent ...
//! FAULTY_TOKEN_ABSENT_FOR_MS=MS    ... for this long (required with the above)
//! FAULTY_TOKEN_ABSENT_RV=CKR       what session calls answer while absent (TOKEN_NOT_PRESENT)
//! FAULTY_TOKEN_ABSENT_KEEPS_SESSIONS=1  sessions survive an absence (default: all closed)
//! FAULTY_CONTROL_DIR=DIR           DIR/absent exists: token absent; DIR/drop-sessions
//!                                  appears: every session closed once (the file is removed)
//! FAULTY_STATS_FILE=PATH           JSON counters, rewritten atomically after every call
//! FAULTY_LOG=1                     print each injected fault and absence to stderr
//! ```
//!
//! `<FUNC>` is the function name without `C_` in upper snake case: `SIGN`, `SIGN_INIT`,
//! `LOGIN`, `OPEN_SESSION`, `FIND_OBJECTS_INIT`, `GET_ATTRIBUTE_VALUE`, `INIT_PIN`, ...
//! `_x` is any suffix, so that one function can carry several independent rules
//! (`FAULTY_SIGN_EVERY=7:...` and `FAULTY_SIGN_EVERY_2=11:...`); rules are tried in variable-name
//! order and the first that fires wins. Rules count operations, numbered from 1 after each
//! `C_Initialize`:
//! calls that are not length queries (a call whose output buffer is NULL only asks for a size
//! and always passes through). `CKR` is a name with or without `CKR_` (`DEVICE_ERROR`) or a
//! number (`0x30`). `EFFECT` is what happens underneath:
//!
//! - `close`: the session is closed in the real module (later calls on it fail with
//!   `CKR_SESSION_HANDLE_INVALID`); default for `SESSION_HANDLE_INVALID`, `SESSION_CLOSED`,
//!   `DEVICE_REMOVED`;
//! - `logout`: the application is logged out in the real module (after the real call, for
//!   single-part and final calls); default for `USER_NOT_LOGGED_IN`;
//! - `finish`: the real call runs, then its result is replaced, so no half-finished operation
//!   is left behind; default for single-part and final calls (`C_Sign`, `C_SignFinal`, ...);
//! - `answer`: only the code is returned; default for everything else (on a single-part or
//!   final call this leaves the real operation active, which no conforming token does).
//!
//! While the token is absent, `C_GetSlotList(tokenPresent=TRUE)` omits every slot,
//! `C_GetSlotInfo` clears `CKF_TOKEN_PRESENT`, other slot calls return
//! `CKR_TOKEN_NOT_PRESENT` and session calls `FAULTY_TOKEN_ABSENT_RV`; `C_CloseSession` is
//! always forwarded. When the token goes away every session is closed underneath (which also
//! logs the application out), unless `FAULTY_TOKEN_ABSENT_KEEPS_SESSIONS=1`.

mod absence;
pub mod attributes;
pub mod ckr;
pub mod config;
mod entry;
pub mod faults;
pub mod functions;
mod real;
mod sessions;
mod state;
pub mod stats;

pub use absence::{ABSENT_FILE, DROP_SESSIONS_FILE};

use cryptoki_sys::{CKR_ARGUMENTS_BAD, CKR_OK, CK_FUNCTION_LIST_PTR_PTR, CK_RV};

/// The module's only export: the PKCS#11 2.40 function list, whose entries forward to the real
/// module through the fault injector.
///
/// # Safety
/// `list` must be NULL or point to writable storage for one pointer (the PKCS#11 contract).
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    state::guard(|| {
        stats::stats().call(functions::Func::GetFunctionList, false);
        if list.is_null() {
            return CKR_ARGUMENTS_BAD;
        }
        // SAFETY: checked non-NULL; the caller provides storage for one pointer. The list is a
        // static that callers only read, as the standard requires.
        unsafe { *list = std::ptr::addr_of!(entry::FUNCTION_LIST).cast_mut() };
        CKR_OK
    })
}
