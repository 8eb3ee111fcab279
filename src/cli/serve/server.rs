//! Accepting connections: a shared connection cap, a header timeout, TLS where configured,
//! and a graceful stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Semaphore};

use super::listen::{Bound, Tls};
use super::routes::Peer;

/// Limits every listener shares.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A request's head (and a TLS handshake) must arrive within this.
    pub header_timeout: Duration,
    /// How long in-flight requests may take to finish after the stop.
    pub shutdown_grace: Duration,
}

/// Serve every listener until `stop` turns true, then let in-flight requests finish (within
/// the grace) and return. Unix sockets are removed at once when the stop begins, so new
/// clients are refused instead of queued.
pub async fn serve(
    listeners: Vec<Bound>,
    router: axum::Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut tasks = Vec::new();
    for bound in listeners {
        let router = router.clone();
        let slots = Arc::clone(&slots);
        let stop = stop.clone();
        tasks.push(tokio::spawn(accept_loop(
            bound, router, slots, limits, stop,
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {}s: stopping anyway",
            limits.shutdown_grace.as_secs()
        );
    }
}

async fn accept_loop(
    bound: Bound,
    router: axum::Router,
    slots: Arc<Semaphore>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // A slot first, then accept: at the cap new clients wait in the backlog, and a flood
        // of idle connections cannot take the slots of the next real request for long (each
        // held connection is closed by the header timeout).
        let permit = tokio::select! {
            () = stopped(&mut stop) => break,
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            () = stopped(&mut stop) => break,
            a = accept(&bound) => a,
        };
        match accepted {
            Ok(Accepted::Unix(stream)) => {
                let (router, stop) = (router.clone(), stop.clone());
                tokio::spawn(async move {
                    connection(stream, Peer::Unix, router, limits, stop).await;
                    drop(permit);
                });
            }
            Ok(Accepted::Tcp(stream, tls)) => {
                let (router, stop) = (router.clone(), stop.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(tls) => {
                            match tokio::time::timeout(
                                limits.header_timeout,
                                tls.acceptor.accept(stream),
                            )
                            .await
                            {
                                Ok(Ok(stream)) => {
                                    let presented = stream
                                        .get_ref()
                                        .1
                                        .peer_certificates()
                                        .is_some_and(|c| !c.is_empty());
                                    let peer = Peer::Tcp {
                                        certificate_missing: tls.requires_certificate && !presented,
                                    };
                                    connection(stream, peer, router, limits, stop).await
                                }
                                Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
                        None => {
                            let peer = Peer::Tcp {
                                certificate_missing: false,
                            };
                            connection(stream, peer, router, limits, stop).await
                        }
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                tracing::warn!("accept failed on {}: {e}", bound.describe());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Bound::Unix(_, path) = &bound {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("could not remove the socket {}: {e}", path.display());
        }
    }
}

/// Resolves once the stop is asked for (the watch's guard is not held across an await).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, Option<Tls>),
}

async fn accept(bound: &Bound) -> std::io::Result<Accepted> {
    match bound {
        Bound::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        Bound::Tcp(l, tls) => l.accept().await.map(|(s, _)| Accepted::Tcp(s, tls.clone())),
    }
}

/// Serve one connection; on stop, finish the request in flight and close.
async fn connection<IO>(
    io: IO,
    peer: Peer,
    router: axum::Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(peer);
            tower::ServiceExt::oneshot(router.clone(), request)
        });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection ended: {e}");
            }
        }
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
