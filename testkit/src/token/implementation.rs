//! Which PKCS#11 implementation the suites run on: the `DFNS_TEST_PKCS11` variable.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::{p11kit, softhsm2, tpm2};

/// The variable that chooses the implementation (default `softhsm2`).
pub const VARIABLE: &str = "DFNS_TEST_PKCS11";

/// A PKCS#11 implementation a throwaway token can be made on.
///
/// Each has a file beside this one whose `provision` makes the token and returns the module
/// and the environment it needs:
///
/// - `softhsm2`: SoftHSM2, loaded directly.
/// - `tpm2`: tpm2-pkcs11 on the swtpm simulator (a TPM 2.0: P-256 and RSA, no EdDSA, no
///   secp256k1, strict about public-key usage attributes, every token serial
///   `0000000000000000`). The TPM stack comes from `scripts/setup-tpm.sh`; the curve its
///   mechanism list cannot rule out (ECDSA is offered, secp256k1 is not) is answered in
///   [`super::TestToken::unsupported`].
/// - `p11kit`: SoftHSM2 behind `p11-kit server`, loaded through `p11-kit-client.so` (an RPC
///   hop like a network HSM; a new module instance per `C_GetFunctionList`; no EdDSA through
///   its 0.24 RPC, which its mechanism list shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    /// SoftHSM2, loaded directly (`DFNS_TEST_PKCS11=softhsm2`).
    SoftHsm2,
    /// tpm2-pkcs11 on swtpm through tpm2-abrmd (`DFNS_TEST_PKCS11=tpm2`).
    Tpm2,
    /// SoftHSM2 served by `p11-kit server` to `p11-kit-client.so` (`DFNS_TEST_PKCS11=p11kit`).
    P11KitSoftHsm2,
}

/// What provisioning a token produced.
pub(crate) struct Provisioned {
    /// The PKCS#11 library to load.
    pub module: PathBuf,
    /// Variables the module reads at `C_Initialize` (this process and every child need them).
    pub env: Vec<(OsString, OsString)>,
}

impl Implementation {
    /// Every implementation, by its `DFNS_TEST_PKCS11` name.
    pub const ALL: [Implementation; 3] = [
        Implementation::SoftHsm2,
        Implementation::Tpm2,
        Implementation::P11KitSoftHsm2,
    ];

    /// Its `DFNS_TEST_PKCS11` name.
    pub fn name(self) -> &'static str {
        match self {
            Implementation::SoftHsm2 => "softhsm2",
            Implementation::Tpm2 => "tpm2",
            Implementation::P11KitSoftHsm2 => "p11kit",
        }
    }

    /// True for SoftHSM2 loaded directly: what tests that wrap or count the module's calls
    /// (pkcs11-spy, the fault-injecting module) and SoftHSM2's own tools need.
    pub fn is_softhsm2_direct(self) -> bool {
        self == Implementation::SoftHsm2
    }

    /// Parse a `DFNS_TEST_PKCS11` value; the error lists the choices.
    pub fn parse(value: &str) -> Result<Implementation, String> {
        Implementation::ALL
            .into_iter()
            .find(|i| i.name() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Implementation::ALL.iter().map(|i| i.name()).collect();
                format!(
                    "{VARIABLE}={value:?} is not a PKCS#11 implementation the tests know; use one of: {}",
                    names.join(", ")
                )
            })
    }

    /// The implementation `DFNS_TEST_PKCS11` names (SoftHSM2 when unset or empty).
    ///
    /// # Panics
    /// On a value that names no implementation: a typo must not silently test SoftHSM2.
    pub fn from_env() -> Implementation {
        match std::env::var(VARIABLE) {
            Ok(v) if !v.is_empty() => Implementation::parse(&v).unwrap_or_else(|e| panic!("{e}")),
            _ => Implementation::SoftHsm2,
        }
    }

    /// Make a token labelled `label` with these PINs, its files under `dir`.
    pub(crate) fn provision(self, dir: &Path, label: &str, so_pin: &str, pin: &str) -> Provisioned {
        match self {
            Implementation::SoftHsm2 => softhsm2::provision(dir, label, so_pin, pin),
            Implementation::Tpm2 => tpm2::provision(dir, label, so_pin, pin),
            Implementation::P11KitSoftHsm2 => p11kit::provision(dir, label, so_pin, pin),
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
