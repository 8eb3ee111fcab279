//! The kit's token on the implementation `DFNS_TEST_PKCS11` names: made, PIN file private,
//! capabilities read from the module, reachable by an independent client.

use std::os::unix::fs::PermissionsExt as _;

use testkit::{run, token, Implementation, KeyAlgorithm};

#[test]
fn the_pin_file_is_private_and_holds_the_pin() {
    let t = token();
    let meta = std::fs::metadata(&t.pin_file).expect("PIN file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let pin = std::fs::read_to_string(&t.pin_file).expect("read the PIN file");
    assert_eq!(pin.trim_end(), t.pin);
    assert_ne!(t.pin, t.so_pin);
}

#[test]
fn capabilities_come_from_the_module() {
    let t = token();
    if t.implementation == Implementation::SoftHsm2 {
        for alg in KeyAlgorithm::ALL {
            assert_eq!(t.unsupported(alg), None, "SoftHSM2 signs {alg}");
        }
    }
    assert!(!t.has_mechanism(0x8000_FFFF, "NO-SUCH-MECHANISM"));
}

#[test]
fn pkcs11_tool_logs_in_to_the_token() {
    let (ok, _, err) = run(token().pkcs11_tool().arg("--list-objects"));
    assert!(ok, "{err}");
}
