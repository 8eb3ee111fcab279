//! A bounded loopback HTTP/1.1 responder for wire tests.
//!
//! It listens on 127.0.0.1, answers exactly the canned responses given (one request per
//! connection, `Connection: close`), records each request, and stops by itself: after the
//! last response, or when no client shows up within `IDLE_LIMIT`.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const IDLE_LIMIT: Duration = Duration::from_secs(10);
const MAX_REQUEST: usize = 1024 * 1024;

/// A request as the responder saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status and JSON (or any) body.
    Status(u16, String),
    /// Status, extra headers and body.
    WithHeaders(u16, Vec<(&'static str, &'static str)>, String),
    /// Read the request, then say nothing for this long and close.
    Stall(Duration),
    /// Read the request, then close the connection without a word (a lost response).
    Close,
}

pub fn ok(body: impl Into<String>) -> Reply {
    Reply::Status(200, body.into())
}

/// Start a responder; returns its base URL and a handle yielding the recorded requests.
pub async fn serve(replies: Vec<Reply>) -> (String, JoinHandle<Vec<Recorded>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let handle = tokio::spawn(async move {
        let mut seen = Vec::new();
        for reply in replies {
            let Ok(Ok((stream, _))) = tokio::time::timeout(IDLE_LIMIT, listener.accept()).await
            else {
                break;
            };
            match handle_one(stream, reply).await {
                Some(r) => seen.push(r),
                None => break,
            }
        }
        seen
    });
    (format!("http://{addr}"), handle)
}

async fn handle_one(mut stream: TcpStream, reply: Reply) -> Option<Recorded> {
    let recorded = read_request(&mut stream).await?;
    let (status, headers, body) = match reply {
        Reply::Status(s, b) => (s, Vec::new(), b),
        Reply::WithHeaders(s, h, b) => (s, h, b),
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            return Some(recorded);
        }
        Reply::Close => return Some(recorded),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    stream.write_all(body.as_bytes()).await.ok()?;
    stream.shutdown().await.ok()?;
    Some(recorded)
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = tokio::time::timeout(IDLE_LIMIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 || buf.len() > MAX_REQUEST {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let method = start.next()?.to_owned();
    let target = start.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    assert!(
        !headers.iter().any(|(n, _)| n == "transfer-encoding"),
        "the client should send a content-length, not a chunked body"
    );
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(Some(0), |(_, v)| v.parse().ok())?;
    if len > MAX_REQUEST {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(IDLE_LIMIT, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Some(Recorded {
        method,
        target,
        headers,
        body,
    })
}
