//! An opt-in audit trail: one JSON line per signature, for regulated users.
//!
//! Each line says when, with which key and credential, for which request (when known), how it
//! ended and how long it took. The challenge identifier is a bearer-like JWT, so only its
//! SHA-256 is written. The file is created 0600 and only ever appended to.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{FirstFactor, Signer, SignerError, UserActionChallenge};
use sha2::{Digest as _, Sha256};

/// One audit line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord<'a> {
    /// UTC time the signature was requested, RFC 3339.
    pub time: String,
    /// `pkcs11:` URI of the key (or `file:PATH` for a software key).
    pub key_uri: &'a str,
    /// Dfns credential id.
    pub cred_id: &'a str,
    /// HTTP method of the request the user action authorizes, when known.
    pub method: Option<&'a str>,
    /// Path of that request, when known.
    pub path: Option<&'a str>,
    /// SHA-256 (hex) of the challenge identifier.
    pub challenge_identifier_sha256: String,
    /// `ok`, or `error: <message>`.
    pub outcome: String,
    /// Milliseconds spent signing.
    pub duration_ms: f64,
}

impl<'a> AuditRecord<'a> {
    /// Build a record; `started` is when signing began.
    pub fn new(
        started: SystemTime,
        elapsed: Duration,
        key_uri: &'a str,
        cred_id: &'a str,
        request: Option<(&'a str, &'a str)>,
        challenge_identifier: &str,
        outcome: Result<(), String>,
    ) -> Self {
        let time = time::OffsetDateTime::from(started)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Self {
            time,
            key_uri,
            cred_id,
            method: request.map(|r| r.0),
            path: request.map(|r| r.1),
            challenge_identifier_sha256: hex::encode(Sha256::digest(
                challenge_identifier.as_bytes(),
            )),
            outcome: match outcome {
                Ok(()) => "ok".into(),
                Err(e) => format!("error: {e}"),
            },
            duration_ms: (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        }
    }
}

/// Sign `challenge`, appending an audit line to `log` when one is given. `request` is the
/// method and path the user action authorizes, when known.
///
/// The outer error is a failure to write the audit line: a regulated deployment would rather
/// stop than sign without a trail. The inner result is the signing outcome.
pub async fn sign_audited(
    signer: &dyn Signer,
    challenge: &UserActionChallenge,
    log: Option<&AuditLog>,
    request: Option<(&str, &str)>,
) -> std::io::Result<Result<FirstFactor, SignerError>> {
    let started = (SystemTime::now(), std::time::Instant::now());
    let signed = signer.sign(challenge).await;
    if let Some(log) = log {
        let record = AuditRecord::new(
            started.0,
            started.1.elapsed(),
            signer.key_uri(),
            signer.cred_id(),
            request,
            &challenge.challenge_identifier,
            signed.as_ref().map(|_| ()).map_err(|e| e.to_string()),
        );
        log.record(&record).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot write the audit log {}: {e}", log.path().display()),
            )
        })?;
    }
    Ok(signed)
}

/// An append-only JSON-lines audit file, shared by all signing tasks.
///
/// [`AuditLog::tagged`] gives views of the same file whose lines also name the client a
/// service signed for and, for a proxied request, the SHA-256 of its body.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: std::sync::Arc<Mutex<File>>,
    client: Option<String>,
    body_sha256: Option<String>,
}

impl AuditLog {
    /// Open (creating with mode 0600) the audit file for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        // Created 0600; refused if it is a link or others could rewrite the trail.
        let file = crate::private_file::open_private_append(path).map_err(|e| match e {
            crate::private_file::Refusal::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::sync::Arc::new(Mutex::new(file)),
            client: None,
            body_sha256: None,
        })
    }

    /// A view of this log whose lines also carry `client` and, when given, `bodySha256` (hex
    /// SHA-256 of the request body the signature authorizes).
    pub fn tagged(&self, client: &str, body: Option<&[u8]>) -> Self {
        Self {
            path: self.path.clone(),
            file: std::sync::Arc::clone(&self.file),
            client: Some(client.to_owned()),
            body_sha256: body.map(|b| hex::encode(Sha256::digest(b))),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line. A failure to audit is reported to the caller: a regulated deployment
    /// would rather stop than sign without a trail.
    pub fn record(&self, record: &AuditRecord<'_>) -> std::io::Result<()> {
        let mut value = serde_json::to_value(record).map_err(std::io::Error::other)?;
        if let Some(map) = value.as_object_mut() {
            if let Some(client) = &self.client {
                map.insert("client".into(), client.clone().into());
            }
            if let Some(digest) = &self.body_sha256 {
                map.insert("bodySha256".into(), digest.clone().into());
            }
        }
        let mut line = serde_json::to_vec(&value).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit log lock poisoned"))?;
        // One write per line, so concurrent processes appending to the same file don't interleave.
        file.write_all(&line)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_one_private_json_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..3 {
            let r = AuditRecord::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                Duration::from_micros(1500),
                "pkcs11:token=t;object=k",
                "cred",
                Some(("POST", "/auth/service-accounts")),
                "eyJsecret-challenge-identifier",
                if i == 2 { Err("boom".into()) } else { Ok(()) },
            );
            log.record(&r).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["time"], "2027-01-15T08:00:00Z");
        assert_eq!(lines[0]["method"], "POST");
        assert_eq!(lines[0]["durationMs"], 1.5);
        assert_eq!(lines[2]["outcome"], "error: boom");
        assert!(
            !text.contains("eyJsecret"),
            "the identifier itself must not be logged"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let tagged = log.tagged("payments-app", Some(b"{}"));
        let r = AuditRecord::new(
            SystemTime::UNIX_EPOCH,
            Duration::ZERO,
            "k",
            "c",
            None,
            "x",
            Ok(()),
        );
        tagged.record(&r).unwrap();
        log.record(&r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[3]["client"], "payments-app");
        assert_eq!(
            lines[3]["bodySha256"],
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(
            lines[4].get("client").is_none(),
            "the untagged log stays as it was"
        );
    }
}
