//! Binding, the ready file, and shutdown (signal or `--max-lifetime`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{App, Settings};
use crate::bootstrap::{self, BootstrapOptions, READY_FILE};
use crate::cli::Args;
use crate::faults::Faults;
use crate::files;
use crate::routes;

/// How long open connections may delay exit after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Bootstrap the state dir, listen, write `ready`, serve until a signal or the lifetime ends.
pub async fn run(args: Args) -> Result<(), String> {
    args.validate()?;
    let (state, key, _lock) = bootstrap::prepare(&BootstrapOptions {
        state_dir: args.state_dir.clone(),
        admin_public_key: args.admin_public_key.clone(),
        admin_token_ttl_secs: args.admin_token_ttl_secs,
    })?;
    let settings = Settings {
        state_dir: args.state_dir.clone(),
        challenge_ttl_ms: args.challenge_ttl_secs.saturating_mul(1000),
        user_action_ttl_ms: args.user_action_ttl_secs.saturating_mul(1000),
        token_ttl_override_secs: args.token_ttl_secs_override,
        default_days_valid: args.default_days_valid,
        approval_required: args.approval_required.clone(),
    };
    let faults = Faults::new(args.faults());
    if faults.active() {
        tracing::warn!(
            fail_rate = args.fail_rate,
            drop_response_rate = args.drop_response_rate,
            seed = faults.seed(),
            "fault injection is on"
        );
    }
    let app = Arc::new(App::new(settings, key, state, faults));

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let base_url = format!("http://{addr}");
    let ready = args.state_dir.join(READY_FILE);
    files::write_atomic(&ready, base_url.as_bytes(), files::PUBLIC)
        .map_err(|e| format!("cannot write {}: {e}", ready.display()))?;
    tracing::info!(url = %base_url, state_dir = %args.state_dir.display(), "dfns-emulator ready");

    let limits = Limits {
        max_connections: args.max_connections as usize,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
    };
    serve(
        listener,
        routes::router(app),
        limits,
        shutdown_signal(args.max_lifetime, ready.clone()),
    )
    .await;
    remove_ready(ready);
    Ok(())
}

/// What one client may hold: slow or half-open connections cannot starve the others.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    max_connections: usize,
    /// A request's head must arrive within this, or the connection is closed.
    header_timeout: Duration,
}

/// Accept and serve until `shutdown` resolves, then give open connections the grace period.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        // A slot first, then accept: at the cap, new clients wait in the backlog instead of
        // being taken in and starved.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = http.serve_connection(io, service).await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
        });
    }
    // Wait for in-flight requests (every slot back), bounded by the grace period.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await;
}

fn remove_ready(ready: PathBuf) {
    if let Err(e) = files::remove_if_exists(&ready) {
        tracing::warn!("could not remove {}: {e}", ready.display());
    }
}

/// Resolves on Ctrl-C, SIGTERM, or after `max_lifetime` seconds.
async fn shutdown_signal(max_lifetime: Option<u64>, ready: PathBuf) {
    let lifetime = async {
        match max_lifetime {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending::<()>().await,
        }
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = lifetime => tracing::info!("--max-lifetime reached, shutting down"),
        () = ctrl_c => tracing::info!("interrupted, shutting down"),
        () = terminate => tracing::info!("terminated, shutting down"),
    }
    // Stop advertising the URL at once; open connections get the grace period in `serve`.
    remove_ready(ready);
}
