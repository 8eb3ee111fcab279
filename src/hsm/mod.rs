//! PKCS#11: module, token, login, session pool, keys and public-key export.
//!
//! Knows nothing of Dfns. One [`Module`] per library per process; a [`Token`] holds the
//! logged-in session and a bounded pool of worker sessions.

mod algorithm;
mod error;

pub use algorithm::Algorithm;
pub use error::{ckr_name, classify, describe, Error, Fault, Result};
