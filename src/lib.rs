//! dfns-hsm: a hardware-backed (PKCS#11) signer for Dfns service accounts.
//!
//! Layers, each usable alone, dependencies pointing one way (`cli -> api -> signer -> hsm`):
//! - [`hsm`]: PKCS#11 module, token, login, session pool, keys, public-key export. Knows
//!   nothing of Dfns.
//! - [`signer`]: the Dfns credential signer ([`signer::Signer`]) over the HSM or a PEM key.
//! - [`api`]: the Dfns HTTP client and user-action flow, over any `Signer`.
//! - [`cli`]: the `dfns-hsm` command line.
#![deny(missing_docs)]

pub mod api;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod config;
pub mod hsm;
pub mod signer;
pub mod workflow;
