//! A minimal HTTP/1.1 keep-alive client over a unix socket, for the `serve` section: one
//! request in flight per connection, `Content-Length` bodies only (what the service answers).
//! Hand-written so that the client's own cost per request stays small and visible.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

/// Largest answer head or body read (the service's answers are a few hundred bytes).
const MAX_ANSWER: usize = 1024 * 1024;
/// Limit for one request and its answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One kept-alive connection.
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (for error messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Conn {
    /// Connect to the socket at `path`.
    pub async fn connect(path: &Path) -> std::io::Result<Conn> {
        Ok(Conn {
            stream: UnixStream::connect(path).await?,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Send one request and read its answer (bounded by [`REQUEST_TIMEOUT`]).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| format!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<Answer, String> {
        let mut req = Vec::with_capacity(256 + body.map_or(0, <[u8]>::len));
        req.extend_from_slice(
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n").as_bytes(),
        );
        if let Some(b) = body {
            req.extend_from_slice(
                format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n",
                    b.len()
                )
                .as_bytes(),
            );
        }
        req.extend_from_slice(b"\r\n");
        if let Some(b) = body {
            req.extend_from_slice(b);
        }
        self.stream
            .write_all(&req)
            .await
            .map_err(|e| format!("{method} {path}: write: {e}"))?;
        // The head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_ANSWER {
                return Err(format!(
                    "{method} {path}: answer head over {MAX_ANSWER} bytes"
                ));
            }
            self.fill(method, path).await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| format!("{method} {path}: answer head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
        let mut length = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!(
                    "{method} {path}: a {value} answer (this client reads Content-Length only)"
                ));
            }
        }
        let length = length.unwrap_or(0);
        if length > MAX_ANSWER {
            return Err(format!(
                "{method} {path}: answer body over {MAX_ANSWER} bytes"
            ));
        }
        while self.buf.len() < head_end + length {
            self.fill(method, path).await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Answer { status, body })
    }

    async fn fill(&mut self, method: &str, path: &str) -> Result<(), String> {
        let mut chunk = [0u8; 8192];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("{method} {path}: read: {e}"))?;
        if n == 0 {
            return Err(format!(
                "{method} {path}: the service closed the connection"
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
