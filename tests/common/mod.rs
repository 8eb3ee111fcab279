//! Shared test helpers: a real SoftHSM2 token, the CLI binary, independent verification.
#![allow(dead_code)]

pub mod emulator;
pub mod faulty;
pub mod softhsm;
pub mod verify;
