//! Test support shared by every dfns-hsm suite and the benchmark.
//!
//! - [`token`](mod@token): a throwaway PKCS#11 token per process, on the implementation chosen by
//!   `DFNS_TEST_PKCS11` (see [`Implementation`]), with capability questions so that a test can
//!   skip with a printed reason on a module that lacks an algorithm.
//! - [`cli`]: the `dfns-hsm` CLI and `pkcs11-tool` configured for that token, and running them.
//! - [`emulator`]: start `dfns-emulator` on loopback in a temp state dir.
//! - [`service`]: `dfns-hsm serve` as a child process and a minimal HTTP client for it.
//! - [`verify`]: signature checks independent of dfns-hsm (the `openssl` command line and
//!   RustCrypto), so no suite trusts the code it tests.
//! - [`artifact`]: binaries and libraries the workspace builds next to the test executable.
//!
//! The `hsm` feature adds conveniences typed with the dfns-hsm library (opening the token
//! through it, `From<dfns_hsm::hsm::Algorithm>`); without it the kit does not depend on the
//! library, so the emulator's tests build without it.

pub mod artifact;
pub mod cli;
pub mod emulator;
#[cfg(feature = "hsm")]
pub mod hsm;
pub mod key_algorithm;
pub mod service;
pub mod token;
pub mod verify;

pub use cli::{run, serial};
pub use emulator::Emulator;
pub use key_algorithm::KeyAlgorithm;
pub use token::{token, unique_label, Implementation, TestToken, LABEL};
