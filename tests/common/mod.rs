//! What only the root package's suites share; tokens, the emulator and verifiers are in
//! `testkit`.
#![allow(dead_code)]

pub mod lifecycle;
