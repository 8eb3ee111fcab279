//! Command-line options of `dfns-emulator`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::approval::Operation;
use crate::faults::{DropMode, FaultConfig, RouteFilter};

/// A local Dfns-compatible API server (service accounts + user-action signing) that verifies
/// user-action signatures for real. Loopback only unless --allow-non-loopback is given.
///
/// On first start with an empty --state-dir it creates one organization and one admin user
/// (CustomerEmployee) and writes DIR/admin.token, DIR/admin.cred-id, DIR/admin.key.pem (when
/// no --admin-public-key is given) and, last, DIR/ready holding the base URL.
#[derive(Debug, Clone, Parser)]
#[command(name = "dfns-emulator", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (the real URL goes to DIR/ready).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,

    /// Allow a non-loopback --listen address (the emulator has no TLS and weak secrets policy).
    #[arg(long)]
    pub allow_non_loopback: bool,

    /// Connections served at once; more wait until one closes (a flood of slow clients
    /// cannot take every slot for longer than --header-timeout-ms).
    #[arg(long, default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,

    /// A request's headers must arrive within this many milliseconds, or the connection is
    /// closed.
    #[arg(long, default_value_t = 10_000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,

    /// State directory (created if missing); holds state.json, the admin files and `ready`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,

    /// SPKI PEM public key (P-256, secp256k1, Ed25519 or RSA) of the admin's Key credential.
    /// Without it, a P-256 key is generated and written to DIR/admin.key.pem (PKCS#8, 0600).
    /// Used on first start only; a restart keeps the registered key.
    #[arg(long, value_name = "FILE")]
    pub admin_public_key: Option<PathBuf>,

    /// Exit by itself after this many seconds (tests pass it so a leaked server stops).
    #[arg(long, value_name = "SECS")]
    pub max_lifetime: Option<u64>,

    /// Lifetime of a user-action challenge (POST /auth/action/init) in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub challenge_ttl_secs: u64,

    /// Lifetime of a user-action token (POST /auth/action) in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub user_action_ttl_secs: u64,

    /// Lifetime of the admin's bearer token in seconds. Applied when the token is minted: on
    /// first start, and on a restart whose DIR/admin.token is missing or expired. 0 mints an
    /// already-expired token (for 401 tests).
    #[arg(long, default_value_t = 365 * 24 * 3600, value_name = "SECS")]
    pub admin_token_ttl_secs: u64,

    /// Lifetime in seconds of new service-account tokens, overriding the request's `daysValid`
    /// (which is still validated). 0 mints already-expired tokens.
    #[arg(long, value_name = "SECS")]
    pub token_ttl_secs_override: Option<u64>,

    /// `daysValid` applied when a create request leaves it out.
    #[arg(long, default_value_t = 365, value_name = "DAYS")]
    pub default_days_valid: u64,

    /// Make an operation answer 202 (pending approval) instead of executing; repeatable.
    /// One of ServiceAccounts:Create, :Update, :Activate, :Deactivate, :Archive (alias :Delete).
    /// Deactivate with body {"force":true} and archive with ?force=true bypass the approval.
    #[arg(long = "approval-required", value_name = "OP")]
    pub approval_required: Vec<Operation>,

    /// Fault injection: answer this fraction (0 to 1) of requests with an error status
    /// (--fail-status) BEFORE doing anything, e.g. 0.2. About half of the 429 and 503 answers
    /// carry a Retry-After (--fail-retry-after), as seconds or as an HTTP date.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Fault injection"
    )]
    pub fail_rate: f64,

    /// Status of an injected refusal; repeatable (one of 429, 500, 502, 503, 504; picked
    /// uniformly). Default: 429, 500 and 503.
    #[arg(
        long = "fail-status",
        value_name = "CODE",
        help_heading = "Fault injection"
    )]
    pub fail_status: Vec<u16>,

    /// Retry-After seconds sent with injected 429/503 answers (0 is allowed).
    #[arg(
        long,
        default_value_t = 1,
        value_name = "SECS",
        help_heading = "Fault injection"
    )]
    pub fail_retry_after: u64,

    /// Restrict injected refusals to requests matching "METHOD PATH_PREFIX" (method optional), e.g.
    /// "POST /auth/service-accounts" or "/auth/action"; repeatable. Default: every endpoint.
    #[arg(
        long = "fail-route",
        value_name = "ROUTE",
        help_heading = "Fault injection"
    )]
    pub fail_route: Vec<RouteFilter>,

    /// Fault injection: handle this fraction (0 to 1) of requests IN FULL (mutations are
    /// committed) and then lose the response (--drop-response-mode).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "FRACTION",
        help_heading = "Fault injection"
    )]
    pub drop_response_rate: f64,

    /// How a response is lost; repeatable (picked uniformly): `close` (the connection ends
    /// without a complete answer; default), `500` (a 500 replaces the real answer), `hang`
    /// (no answer until the client times out; at most 60 s).
    #[arg(
        long = "drop-response-mode",
        value_name = "MODE",
        help_heading = "Fault injection"
    )]
    pub drop_response_mode: Vec<DropMode>,

    /// Restrict lost responses to requests matching "METHOD PATH_PREFIX" (method optional); repeatable.
    /// Default: every endpoint.
    #[arg(
        long = "drop-response-route",
        value_name = "ROUTE",
        help_heading = "Fault injection"
    )]
    pub drop_response_route: Vec<RouteFilter>,

    /// Seed of the fault choices, for reproducible runs (a client sending the same requests in
    /// the same order meets the same faults). Default: random, logged at start and served at
    /// GET /_emulator/stats.
    #[arg(long, value_name = "N", help_heading = "Fault injection")]
    pub fail_seed: Option<u64>,
}

impl Args {
    /// Reject option combinations that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() && !self.allow_non_loopback {
            return Err(format!(
                "--listen {} is not a loopback address; pass --allow-non-loopback to expose the emulator",
                self.listen
            ));
        }
        if !(1..=730).contains(&self.default_days_valid) {
            return Err("--default-days-valid must be between 1 and 730".into());
        }
        self.faults().validate()
    }

    /// The fault-injection options.
    pub fn faults(&self) -> FaultConfig {
        FaultConfig {
            fail_rate: self.fail_rate,
            fail_statuses: self.fail_status.clone(),
            retry_after_secs: self.fail_retry_after,
            fail_routes: self.fail_route.clone(),
            drop_rate: self.drop_response_rate,
            drop_modes: self.drop_response_mode.clone(),
            drop_routes: self.drop_response_route.clone(),
            seed: self.fail_seed,
        }
    }
}
