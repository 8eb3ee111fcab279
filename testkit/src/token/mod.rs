//! A throwaway PKCS#11 token per test process.
//!
//! PKCS#11 modules read their configuration (`SOFTHSM2_CONF`, ...) once, at `C_Initialize`,
//! and `C_Initialize` is process-wide, so every test in one binary shares one token (created
//! on first use, before any module is loaded); tests use unique key labels. Child processes
//! (the CLI, `pkcs11-tool`) get the same token through [`TestToken::env`].

mod implementation;
mod p11kit;
pub mod softhsm2;
mod tpm2;

use std::ffi::{OsStr, OsString};
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use implementation::{Implementation, VARIABLE};

use crate::KeyAlgorithm;

/// Label of the per-process token.
pub const LABEL: &str = "dfns-hsm-test";

/// The per-process token: its module, label, PINs and files.
pub struct TestToken {
    /// The implementation it was made on.
    pub implementation: Implementation,
    /// Its temp dir (configuration, token files, PIN file).
    pub dir: tempfile::TempDir,
    /// The PKCS#11 library to load.
    pub module: PathBuf,
    /// Its label ([`LABEL`]).
    pub label: String,
    /// The user PIN.
    pub pin: String,
    /// The security officer PIN.
    pub so_pin: String,
    /// The user PIN in a file, mode 0600, newline-terminated.
    pub pin_file: PathBuf,
    env: Vec<(OsString, OsString)>,
    mechanisms: Vec<String>,
}

/// The shared token on the implementation `DFNS_TEST_PKCS11` names, created on first use.
pub fn token() -> &'static TestToken {
    static TOKEN: OnceLock<TestToken> = OnceLock::new();
    TOKEN.get_or_init(|| TestToken::create(Implementation::from_env(), LABEL))
}

impl TestToken {
    /// Provision the token and export its environment to this process. Private: the
    /// environment is process-wide, so a second token would change the first one's.
    fn create(implementation: Implementation, label: &str) -> TestToken {
        let dir = tempfile::tempdir().expect("create the token temp dir");
        let pin = random_digits();
        let so_pin = random_digits();
        let made = implementation.provision(dir.path(), label, &so_pin, &pin);
        let pin_file = dir.path().join("user.pin");
        std::fs::write(&pin_file, format!("{pin}\n")).expect("write the PIN file");
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the PIN file");
        // Before any C_Initialize in this process (the OnceLock in `token` runs first).
        for (k, v) in &made.env {
            std::env::set_var(k, v);
        }
        let mut token = TestToken {
            implementation,
            dir,
            module: made.module,
            label: label.to_owned(),
            pin,
            so_pin,
            pin_file,
            env: made.env,
            mechanisms: Vec::new(),
        };
        // Asked now, while no test writes to the token: a module enumerating a token that
        // another process is rewriting can miss it (SoftHSM2's file store).
        token.mechanisms = token.list_mechanisms();
        token
    }

    /// The token's temp dir, for a test's scratch files.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Variables the module reads at `C_Initialize`, for a child process that loads it.
    pub fn env(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// True when the module offers mechanism `ckm` (`pkcs11-tool` prints `name`, or
    /// `mechtype-0x…` for one it has no name for).
    pub fn has_mechanism(&self, ckm: u64, name: &str) -> bool {
        let hex = format!("mechtype-0x{ckm:X}");
        self.mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name) || m.eq_ignore_ascii_case(&hex))
    }

    /// Why `algorithm` cannot be tested on this token, or `None` when it can.
    ///
    /// The mechanisms are asked of the module; an implementation that offers ECDSA but not
    /// every curve (tpm2-pkcs11: no secp256k1) answers for its curves here.
    pub fn unsupported(&self, algorithm: impl Into<KeyAlgorithm>) -> Option<String> {
        let algorithm = algorithm.into();
        if self.implementation == Implementation::Tpm2 && algorithm == KeyAlgorithm::EcdsaSecp256k1
        {
            return Some(format!(
                "{} has no secp256k1 curve (a TPM 2.0 offers NIST curves only; CKR_CURVE_NOT_SUPPORTED)",
                self.implementation
            ));
        }
        let missing: Vec<&str> = algorithm
            .mechanisms()
            .into_iter()
            .filter(|&(ckm, name)| !self.has_mechanism(ckm, name))
            .map(|(_, name)| name)
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "{} offers no {} (needed for {algorithm})",
                self.implementation,
                missing.join(", ")
            )
        })
    }

    /// True when the token can generate and sign with `algorithm`.
    pub fn supports(&self, algorithm: impl Into<KeyAlgorithm>) -> bool {
        self.unsupported(algorithm).is_none()
    }

    /// For a test that only SoftHSM2 loaded directly can run (it wraps or counts the module's
    /// calls, or uses SoftHSM2's own tools): prints `skipped TEST: REASON` and returns false
    /// on any other implementation.
    pub fn require_softhsm2(&self, test: &str, why: &str) -> bool {
        if self.implementation.is_softhsm2_direct() {
            return true;
        }
        eprintln!(
            "skipped {test}: SoftHSM2-only ({why}); this run is on {}",
            self.implementation
        );
        false
    }

    /// For a test to skip with its reason: prints `skipped TEST: REASON` to stderr (shown by
    /// `cargo test`) and returns false when `algorithm` is unsupported.
    pub fn require(&self, test: &str, algorithm: impl Into<KeyAlgorithm>) -> bool {
        match self.unsupported(algorithm) {
            Some(reason) => {
                eprintln!("skipped {test}: {reason}");
                false
            }
            None => true,
        }
    }

    /// The mechanism names `pkcs11-tool --list-mechanisms` prints for the token's slot.
    fn list_mechanisms(&self) -> Vec<String> {
        let out = self
            .pkcs11_tool_without_login()
            .arg("--list-mechanisms")
            .output()
            .expect("pkcs11-tool is not installed: run scripts/test.sh (it installs opensc)");
        assert!(
            out.status.success(),
            "pkcs11-tool --list-mechanisms failed on {}: {}",
            self.implementation,
            String::from_utf8_lossy(&out.stderr)
        );
        parse_mechanisms(&String::from_utf8_lossy(&out.stdout))
    }
}

/// `  ECDSA, keySize={112,521}, sign, verify` -> `ECDSA`, one per indented line.
fn parse_mechanisms(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| l.starts_with(' '))
        .filter_map(|l| l.split(',').next())
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// A label no other test of this process (or of a concurrent one) uses.
pub fn unique_label(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

/// Eight random digits, for a PIN nobody else knows.
fn random_digits() -> String {
    let mut buf = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    format!("{:08}", u64::from_le_bytes(buf) % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_listing_is_parsed() {
        let listing = "Using slot 0 with a present token (0x1)\nSupported mechanisms:\n  ECDSA, keySize={112,521}, sign, verify\n  mechtype-0x1055, generate_key_pair\n  EDDSA, keySize={256,456}, sign, verify\n";
        assert_eq!(
            parse_mechanisms(listing),
            ["ECDSA", "mechtype-0x1055", "EDDSA"]
        );
    }

    #[test]
    fn an_unknown_implementation_lists_the_choices() {
        for i in Implementation::ALL {
            assert_eq!(Implementation::parse(i.name()), Ok(i));
        }
        let e = Implementation::parse("softhsm").unwrap_err();
        assert!(
            e.contains("DFNS_TEST_PKCS11") && e.contains("softhsm2"),
            "{e}"
        );
    }
}
