//! Where the service listens: unix sockets (owner-only by default) and TCP (client tokens
//! always; TLS unless loopback).

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;

use crate::cli::error::CliError;
use crate::config::ListenSettings;

/// A checked `[[listen]]` entry, not yet bound.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A unix socket.
    Unix {
        /// Socket path.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// Its group id, when one is configured.
        gid: Option<u32>,
    },
    /// A TCP port.
    Tcp {
        /// Address to bind.
        addr: SocketAddr,
        /// TLS files, if any.
        tls: Option<TlsFiles>,
    },
}

/// Certificate, key and optional client CA of a TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

/// A TLS acceptor, and whether its clients must present a certificate on `/v1/*`.
#[derive(Clone)]
pub struct Tls {
    /// The acceptor.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// A client CA is configured: requests to `/v1/*` need a certificate that chains to it.
    /// (The handshake itself admits clients without one, so that health probes work.)
    pub requires_certificate: bool,
}

/// A bound listener.
pub enum Bound {
    /// A unix socket, removed at shutdown.
    Unix(tokio::net::UnixListener, PathBuf),
    /// A TCP port, with its TLS acceptor when configured.
    Tcp(tokio::net::TcpListener, Option<Tls>),
}

impl Listen {
    /// Check an entry. `has_token_clients`: whether any client presents a bearer token (a TCP
    /// listener is useless, and unsafe, without one).
    pub fn parse(entry: &ListenSettings, has_token_clients: bool) -> Result<Self, CliError> {
        let usage = |m: String| CliError::Usage(format!("listen address {:?}: {m}", entry.address));
        if let Some(path) = entry.address.strip_prefix("unix:") {
            if entry.tls_cert.is_some() || entry.tls_key.is_some() || entry.tls_client_ca.is_some()
            {
                return Err(usage("TLS settings apply to tcp: listeners only".into()));
            }
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(usage("a unix socket path must be absolute".into()));
            }
            let mode = match &entry.mode {
                Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| {
                        usage(format!(
                            "mode {m:?} is not an octal file mode such as \"0660\""
                        ))
                    })?,
                None => 0o600,
            };
            if mode & 0o007 != 0 {
                return Err(usage(format!(
                    "mode {mode:04o} lets every local user connect and sign; give the clients a group and use 0660"
                )));
            }
            let gid = entry
                .group
                .as_deref()
                .map(group_id)
                .transpose()
                .map_err(usage)?;
            return Ok(Listen::Unix { path, mode, gid });
        }
        let Some(host_port) = entry.address.strip_prefix("tcp:") else {
            return Err(usage("must start with unix: or tcp:".into()));
        };
        if entry.mode.is_some() || entry.group.is_some() {
            return Err(usage("mode and group apply to unix: listeners only".into()));
        }
        let addr: SocketAddr = host_port
            .replace("localhost:", "127.0.0.1:")
            .parse()
            .map_err(|_| usage("expected tcp:IP:PORT, e.g. tcp:127.0.0.1:8700".into()))?;
        let tls = match (&entry.tls_cert, &entry.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: entry.tls_client_ca.clone(),
            }),
            (None, None) if entry.tls_client_ca.is_none() => None,
            _ => return Err(usage("TLS needs both tls_cert and tls_key".into())),
        };
        if tls.is_none() && !addr.ip().is_loopback() {
            return Err(usage(format!(
                "{} is reachable from other machines: plain HTTP would expose client tokens and signatures; set tls_cert and tls_key, or listen on loopback",
                addr.ip()
            )));
        }
        if !has_token_clients {
            return Err(usage(
                "a TCP listener needs clients with bearer tokens (a [[client]] token_file or --client-token-file): no connection could be authenticated".into(),
            ));
        }
        Ok(Listen::Tcp { addr, tls })
    }

    /// Bind. A unix socket's directory must be the service user's own and writable by no one
    /// else; an old socket there is replaced only when nothing answers on it.
    pub fn bind(&self) -> Result<Bound, CliError> {
        match self {
            Listen::Unix { path, mode, gid } => bind_unix(path, *mode, *gid),
            Listen::Tcp { addr, tls } => {
                let acceptor = tls.as_ref().map(TlsFiles::acceptor).transpose()?;
                let std = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| CliError::Failed(format!("cannot listen on tcp:{addr}: {e}")))?;
                let listener = tokio::net::TcpListener::from_std(std)
                    .map_err(|e| CliError::Failed(format!("cannot listen on tcp:{addr}: {e}")))?;
                Ok(Bound::Tcp(listener, acceptor))
            }
        }
    }
}

impl Bound {
    /// `unix:PATH` or `tcp:IP:PORT` (the real port when 0 was asked for).
    pub fn describe(&self) -> String {
        match self {
            Bound::Unix(_, path) => format!("unix:{}", path.display()),
            Bound::Tcp(l, tls) => {
                let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                format!("tcp:{addr}{}", if tls.is_some() { " (TLS)" } else { "" })
            }
        }
    }
}

fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let c = std::ffi::CString::new(name).map_err(|_| format!("group {name:?} is not a name"))?;
    // SAFETY: getgrnam takes a NUL-terminated string and returns a pointer into static storage
    // (or null); it is read at once, at startup, before other threads look groups up.
    let entry = unsafe { libc::getgrnam(c.as_ptr()) };
    if entry.is_null() {
        return Err(format!("group {name:?} does not exist"));
    }
    // SAFETY: non-null, so it points at a valid group record.
    Ok(unsafe { (*entry).gr_gid })
}

fn bind_unix(path: &Path, mode: u32, gid: Option<u32>) -> Result<Bound, CliError> {
    let shown = path.display();
    let dir = path
        .parent()
        .ok_or_else(|| CliError::Usage(format!("unix:{shown} has no directory")))?;
    let meta = std::fs::metadata(dir).map_err(|e| {
        CliError::Usage(format!(
            "the socket directory {} cannot be used: {e}; create it, owned by the service user, mode 0700 or 0750",
            dir.display()
        ))
    })?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me || meta.permissions().mode() & 0o022 != 0 {
        return Err(CliError::Usage(format!(
            "the socket directory {} must be a directory owned by this user (uid {me}) that no one else can write (it is uid {}, mode {:04o}): someone who can write it could replace the socket",
            dir.display(),
            meta.uid(),
            meta.permissions().mode() & 0o7777
        )));
    }
    match std::fs::symlink_metadata(path) {
        Ok(old) if old.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(CliError::Usage(format!(
                    "unix:{shown}: another process answers on this socket; stop it or choose another path"
                )));
            }
            std::fs::remove_file(path)
                .map_err(|e| CliError::Failed(format!("cannot remove the stale socket {shown}: {e}")))?;
        }
        Ok(_) => {
            return Err(CliError::Usage(format!(
                "unix:{shown} exists and is not a socket; it is left alone: remove it or choose another path"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::Failed(format!("cannot inspect {shown}: {e}"))),
    }
    // Created owner-only (umask), so no one connects before the mode and group are set.
    // SAFETY: umask only changes this process's file-creation mask; restored right after.
    let old_mask = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old_mask) };
    let std = bound.map_err(|e| CliError::Failed(format!("cannot listen on unix:{shown}: {e}")))?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| CliError::Failed(format!("cannot give {shown} to group {gid}: {e}")))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| CliError::Failed(format!("cannot set the mode of {shown}: {e}")))?;
    std.set_nonblocking(true)
        .map_err(|e| CliError::Failed(format!("cannot listen on unix:{shown}: {e}")))?;
    let listener = tokio::net::UnixListener::from_std(std)
        .map_err(|e| CliError::Failed(format!("cannot listen on unix:{shown}: {e}")))?;
    Ok(Bound::Unix(listener, path.to_path_buf()))
}

impl TlsFiles {
    fn acceptor(&self) -> Result<Tls, CliError> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad =
            |what: &Path, e: String| CliError::Usage(format!("TLS file {}: {e}", what.display()));
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|i| i.collect())
            .map_err(|e| bad(&self.cert, e.to_string()))?;
        if certs.is_empty() {
            return Err(bad(&self.cert, "holds no certificate".into()));
        }
        // The key is a secret: private file, never through a link.
        let key_pem = crate::private_file::read_secret(&self.key, 1 << 20)
            .map_err(|e| bad(&self.key, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(&self.key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| CliError::Failed(format!("TLS: {e}")))?;
        let builder = match &self.client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, e.to_string()))? {
                    roots
                        .add(cert.map_err(|e| bad(ca, e.to_string()))?)
                        .map_err(|e| bad(ca, e.to_string()))?;
                }
                // A certificate that is presented must chain to the CA; one that is not is
                // refused per request (`/v1/*`), not at the handshake.
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| bad(ca, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| bad(&self.key, e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            requires_certificate: self.client_ca.is_some(),
        })
    }
}
