//! Recovery against a real SoftHSM2 token. In a process of its own: closing every session of
//! the application (what a network HSM dropping its link does) would disturb other tests.

use dfns_hsm::hsm::{Algorithm, Key};
use testkit::verify::verify_p256;
use testkit::{token, unique_label};

#[test]
fn a_dead_session_is_replaced_and_the_signature_still_made() {
    let t = token();
    let tok = t.open();
    let key = Key::generate(&tok, &unique_label("recover"), Algorithm::EcdsaP256).expect("gen");
    key.sign(b"warm up the pool").expect("first sign");
    // Close every session of this application on the slot: the pooled worker and the login
    // session die, and the token logs us out, as a network HSM dropping its link would.
    close_all_sessions(&t.module, tok.slot().id());
    let sig = key.sign(b"after the drop").expect("recovered sign");
    let spki = key.info().spki_der().to_vec();
    assert!(verify_p256(&spki, b"after the drop", &sig));
}

/// `C_CloseAllSessions` straight from the module (cryptoki does not wrap it). dlopen of the
/// same path returns the already-loaded library, so this acts on our own sessions.
fn close_all_sessions(module: &std::path::Path, slot: u64) {
    // SAFETY: C_CloseAllSessions(CK_SLOT_ID) -> CK_RV is the PKCS#11 signature; the library
    // is initialized (the token is open) and stays loaded for the whole call.
    unsafe {
        let lib = libloading::Library::new(module).expect("dlopen");
        let f: libloading::Symbol<
            unsafe extern "C" fn(std::os::raw::c_ulong) -> std::os::raw::c_ulong,
        > = lib.get(b"C_CloseAllSessions").expect("symbol");
        assert_eq!(f(slot as std::os::raw::c_ulong), 0, "CKR_OK");
    }
}
