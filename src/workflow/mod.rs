//! Workflows: the product's multi-step operations, as library calls that return typed
//! results. The CLI only drives and renders them, so a Rust program can run them too.
//!
//! - [`enroll`]: an HSM key becomes a Dfns service account, proven to work.
//! - [`create_account`]: a service account for a public key, its one-time token kept.
//! - [`rotate`]: a new account, key and token take an old account's place with its
//!   permissions; the old one is retired last, so a failure leaves it working.
//! - [`prove_identity`]: a token, a credential id and a key shown to belong together by a
//!   signed round trip that changes nothing.
//!
//! A token is handed out once, at creation: every workflow takes a [`TokenStore`] checked
//! beforehand, and errors after the create name the account that now exists.
//!
//! Every workflow also takes an [`Interrupt`], on which a caller (the CLI's SIGINT and
//! SIGTERM handler) asks it to stop: at once before the create starts, and only once the
//! token is stored when the create may be in flight.

mod account;
mod enroll;
mod error;
mod identity;
mod interrupt;
mod rotate;
mod store;
mod token_file;
mod token_object;

pub use account::{create_account, AccountRequest, CreatedAccount};
pub use enroll::{enroll, EnrollRequest, Enrolled, Enrollment};
pub use error::WorkflowError;
pub use identity::{prove_identity, IdentityProof, ProofTarget};
pub use interrupt::{Interrupt, StopRequest};
pub use rotate::{rotate, RotateRequest, Rotation, Step, StepStatus};
pub use store::TokenStore;
pub use token_file::{TokenFile, TokenFileError};
pub use token_object::TokenObject;
