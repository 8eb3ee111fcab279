//! dfns-hsm: a hardware-backed (PKCS#11) signer for Dfns service accounts.
//!
//! Layers, each usable alone, dependencies pointing one way
//! (`cli -> workflow -> api -> signer -> hsm`):
//! - [`hsm`]: PKCS#11 module, token, login, session pool, keys, public-key export. Knows
//!   nothing of Dfns.
//! - [`signer`]: the Dfns credential signer ([`signer::Signer`]) over the HSM or a PEM key.
//!   Knows Dfns's challenge and assertion format, no HTTP.
//! - [`api`]: the Dfns HTTP client and user-action flow, over any `Signer`.
//! - [`workflow`]: multi-step operations (enrolling an HSM key as a service account) that
//!   return typed results.
//! - `config` and `cli` (feature `cli`, on by default): the TOML profile, the precedence of
//!   flags, environment and profile, and the `dfns-hsm` command line that renders workflows.
//!
//! `examples/hsm_client.rs` shows an [`signer::HsmSigner`] handed to an [`api::DfnsClient`].
//!
//! # Glossary
//!
//! Three different things are called a *token*:
//! - **HSM token** ([`hsm::Token`]): a PKCS#11 token, the HSM partition or slot's device that
//!   holds the keys, chosen by label or serial and logged in with a PIN.
//! - **Dfns auth token** ([`api::AuthToken`]): the bearer token of a Dfns identity (a user's, or
//!   a service account's access token, which Dfns returns once, when the account is created).
//! - **User-action token** ([`api::UserActionToken`]): the single-use token Dfns returns for a
//!   signed challenge; it goes in the `X-DFNS-USERACTION` header of one mutation.
//!
//! Other words with a precise meaning here:
//! - **Key**: a key pair on the HSM token; its private half never leaves it.
//! - **Credential** (`credId`): the Dfns record of a public key registered for an identity.
//! - **Challenge**: what `POST /auth/action/init` returns; signed into a **first factor**
//!   (an assertion) for `POST /auth/action`.
//! - **Session**: a PKCS#11 session on the HSM token, never an HTTP session.
//! - **Profile**: the TOML file given with `--config`.
#![deny(missing_docs)]

pub mod api;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod config;
pub mod hsm;
mod private_file;
pub mod signer;
pub mod workflow;
