//! `dfns-hsm serve`: the HSM signer as a local service. One process, one login, one session
//! pool, for every app that signs through it (see docs/SERVICE.md).
//!
//! `state` holds who may sign with what, `routes` the endpoints, `server` the accept loops,
//! `listen` the sockets, `policy` the proxy's allow lists.

mod keyring;
mod listen;
mod metered;
mod metrics;
mod policy;
mod readiness;
mod reply;
mod routes;
mod server;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::args::{ApiArgs, CallArgs, HsmArgs, RetryArgs, SigningArgs};
use super::context::{Context, Settings};
use super::error::CliError;
use super::output::Report;
use crate::config::{
    ConfigFile, ListenSettings, DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_GRACE_SECS,
};
use keyring::Keyring;
use listen::Listen;
use routes::Service;
use state::{FlagEntries, State};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen on unix:PATH or tcp:IP:PORT (repeatable; added to the profile's [[listen]])
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// Sign for a credential: CRED_ID=KEY, KEY an HSM key label or pkcs11: URI (repeatable;
    /// added to the profile's [[identity]])
    #[arg(long, value_name = "CRED_ID=KEY")]
    identity: Vec<String>,
    /// File (0600) holding a client's bearer token; that client may sign with every identity
    /// (repeatable)
    #[arg(long, value_name = "FILE")]
    client_token_file: Vec<PathBuf>,
    /// Mode of the unix sockets given by --listen (default 0600)
    #[arg(long, value_name = "MODE")]
    socket_mode: Option<String>,
    /// Group of the unix sockets given by --listen
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// TLS certificate chain (PEM) of the tcp listeners given by --listen
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM, mode 0600) of the tcp listeners given by --listen
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) that TLS client certificates must chain to; clients must then present one
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Connections served at once [default: 512]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Milliseconds a request's head may take to arrive [default: 5000]
    #[arg(long, value_name = "MS")]
    header_timeout_ms: Option<u64>,
    /// Seconds in-flight requests get to finish on SIGTERM [default: 10]
    #[arg(long, value_name = "SECS")]
    shutdown_grace_secs: Option<u64>,
    /// The HSM holding the identities' keys.
    #[command(flatten)]
    hsm: HsmArgs,
    /// The Dfns API, for the proxy.
    #[command(flatten)]
    api: ApiArgs,
    /// Retries of proxied calls.
    #[command(flatten)]
    retry: RetryArgs,
}

impl ServeArgs {
    fn call(&self) -> CallArgs {
        CallArgs {
            signing: SigningArgs::default(),
            hsm: self.hsm.clone(),
            api: self.api.clone(),
            retry: self.retry.clone(),
        }
    }

    fn flag_entries(&self) -> Result<FlagEntries, CliError> {
        let identities = self
            .identity
            .iter()
            .map(|s| {
                s.split_once('=')
                    .filter(|(c, k)| !c.is_empty() && !k.is_empty())
                    .map(|(c, k)| (c.to_owned(), k.to_owned()))
                    .ok_or_else(|| {
                        CliError::Usage(format!(
                            "--identity {s:?} must be CRED_ID=KEY (KEY a label or pkcs11: URI)"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(FlagEntries {
            identities,
            client_token_files: self.client_token_file.clone(),
        })
    }

    fn listen_entries(&self, profile: &ConfigFile) -> Vec<ListenSettings> {
        let mut entries = profile.listen.clone();
        for address in &self.listen {
            let unix = address.starts_with("unix:");
            entries.push(ListenSettings {
                address: address.clone(),
                mode: self.socket_mode.clone().filter(|_| unix),
                group: self.socket_group.clone().filter(|_| unix),
                tls_cert: self.tls_cert.clone().filter(|_| !unix),
                tls_key: self.tls_key.clone().filter(|_| !unix),
                tls_client_ca: self.tls_client_ca.clone().filter(|_| !unix),
            });
        }
        entries
    }

    fn limits(&self, profile: &ConfigFile) -> server::Limits {
        let s = &profile.serve;
        server::Limits {
            max_connections: self
                .max_connections
                .or(s.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS)
                .max(1),
            header_timeout: Duration::from_millis(
                self.header_timeout_ms
                    .or(s.header_timeout_ms)
                    .unwrap_or(DEFAULT_HEADER_TIMEOUT_MS)
                    .max(1),
            ),
            shutdown_grace: Duration::from_secs(
                self.shutdown_grace_secs
                    .or(s.shutdown_grace_secs)
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
        }
    }
}

/// Run `serve` until SIGTERM or SIGINT.
pub async fn run(ctx: &Context, args: ServeArgs) -> Result<Report, CliError> {
    let settings = ctx.resolve(&args.call())?;
    let flags = args.flag_entries()?;
    let entries = args.listen_entries(ctx.profile());
    if entries.is_empty() {
        return Err(CliError::Usage(
            "nowhere to listen: give --listen unix:PATH (or tcp:IP:PORT) or a [[listen]] table"
                .into(),
        ));
    }
    // Ctrl-C at a PIN prompt must still leave at once: then the signals are caught after it.
    let prompting = matches!(settings.hsm.pin_source(), Ok(crate::hsm::PinSource::Prompt));
    let early = if prompting {
        None
    } else {
        Some(Watch::install()?)
    };
    let keyring = Arc::new(Keyring::default());
    let metrics = Arc::new(metrics::Metrics::default());
    let state = build(&settings, ctx.profile(), &flags, &keyring, &metrics).await?;
    let listens = entries
        .iter()
        .map(|e| Listen::parse(e, state.has_token_clients()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bound = Vec::new();
    for l in &listens {
        bound.push(l.bind()?);
    }
    for b in &bound {
        tracing::info!("listening on {}", b.describe());
        eprintln!("dfns-hsm serve: listening on {}", b.describe());
    }
    let service = Arc::new(Service::new(state, Arc::clone(&keyring), metrics));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server::serve(
        bound,
        routes::router(Arc::clone(&service)),
        args.limits(ctx.profile()),
        stop_rx,
    ));
    let watch = match early {
        Some(w) => w,
        None => Watch::install()?,
    };
    signals(watch, ctx, &args, &flags, &service).await;
    let _ = stop_tx.send(true);
    server
        .await
        .map_err(|e| CliError::Failed(format!("the service stopped abnormally: {e}")))?;
    eprintln!("dfns-hsm serve: stopped");
    Ok(Report::new(json!({ "stopped": true }), String::new()))
}

async fn build(
    settings: &Settings,
    profile: &ConfigFile,
    flags: &FlagEntries,
    keyring: &Arc<Keyring>,
    metrics: &Arc<metrics::Metrics>,
) -> Result<State, CliError> {
    let (settings, profile, flags, keyring, metrics) = (
        settings.clone(),
        profile.clone(),
        flags.clone(),
        Arc::clone(keyring),
        Arc::clone(metrics),
    );
    tokio::task::spawn_blocking(move || {
        State::build(&settings, &profile, &flags, &keyring, &metrics)
    })
    .await
    .map_err(|e| CliError::Failed(format!("loading the identities was aborted: {e}")))?
}

/// SIGTERM, SIGINT and SIGHUP, caught from the moment this is made: a signal while the token is
/// opened waits until the open is done (a SoftHSM2 token killed mid-open can be destroyed).
struct Watch {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Watch {
    fn install() -> Result<Self, CliError> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |k: SignalKind| {
            signal(k).map_err(|e| CliError::Failed(format!("cannot watch signals: {e}")))
        };
        Ok(Self {
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
            hup: listen(SignalKind::hangup())?,
        })
    }
}

/// Wait for SIGTERM or SIGINT; on SIGHUP, reload the profile and keep the old state if the
/// new one cannot be built.
async fn signals(
    mut watch: Watch,
    ctx: &Context,
    args: &ServeArgs,
    flags: &FlagEntries,
    service: &Arc<Service>,
) {
    loop {
        tokio::select! {
            _ = watch.term.recv() => { tracing::info!("SIGTERM: stopping"); return }
            _ = watch.int.recv() => { tracing::info!("SIGINT: stopping"); return }
            _ = watch.hup.recv() => match reload(ctx, args, flags, service).await {
                Ok(()) => {
                    tracing::info!("SIGHUP: configuration reloaded");
                    eprintln!("dfns-hsm serve: configuration reloaded");
                }
                Err(e) => tracing::error!(
                    "SIGHUP: the new configuration is refused, the old one keeps serving: {e}"
                ),
            },
        }
    }
}

async fn reload(
    ctx: &Context,
    args: &ServeArgs,
    flags: &FlagEntries,
    service: &Arc<Service>,
) -> Result<(), CliError> {
    let fresh = ctx.reloaded()?;
    if fresh.profile().listen != ctx.profile().listen
        || fresh.profile().serve != ctx.profile().serve
    {
        tracing::warn!("[[listen]] and [serve] changes take effect at the next start");
    }
    let settings = fresh.resolve(&args.call())?;
    let state = build(
        &settings,
        fresh.profile(),
        flags,
        &service.keyring,
        &service.metrics,
    )
    .await?;
    // The listeners stay: a TCP listener must still have clients that can authenticate.
    let entries = args.listen_entries(ctx.profile());
    for e in &entries {
        Listen::parse(e, state.has_token_clients())?;
    }
    service.replace(state);
    Ok(())
}
