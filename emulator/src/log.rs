//! Log lines that a request cannot forge: every control character in an event (a `%0A` in a
//! path decodes to a newline, an account name may hold ESC) is written escaped, and only the
//! event's own final newline ends its line.

use std::io::{self, Write};

/// Writes each formatted event to stderr with its control characters escaped.
pub struct EscapingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for EscapingStderr {
    type Writer = Escaping<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping(io::stderr())
    }
}

/// A writer that escapes control characters, keeping a trailing newline.
pub struct Escaping<W>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing-subscriber writes one whole event per call, ending with its newline.
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let text = String::from_utf8_lossy(body);
        let mut out = String::with_capacity(text.len() + 2);
        for c in text.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        self.0.write_all(out.as_bytes())?;
        self.0.write_all(end)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_inside_an_event_cannot_start_a_forged_line() {
        let mut w = Escaping(Vec::new());
        w.write_all(b"request path=/x\nINFO forged\x1b[2K\n")
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "request path=/x\\nINFO forged\\u{1b}[2K\n");
        assert_eq!(out.lines().count(), 1);
    }
}
