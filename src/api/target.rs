//! A request target: the path (what a user action signs) and the optional query string.

use std::fmt;

/// A checked request target such as `/auth/service-accounts/us-1?force=true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    path: String,
    query: Option<String>,
}

impl RequestTarget {
    /// Split and check `path_with_query`.
    ///
    /// The path must start with `/`, must not start with `//`, must not contain `.`/`..`
    /// segments, whitespace, control characters or a `#` fragment. An empty query (`/x?`) is
    /// dropped.
    pub fn parse(path_with_query: &str) -> Result<Self, String> {
        let s = path_with_query;
        if !s.starts_with('/') {
            return Err(format!(
                "path {s:?} must start with `/`, e.g. /auth/service-accounts"
            ));
        }
        if s.starts_with("//") {
            return Err(format!("path {s:?} must not start with `//`"));
        }
        if s.contains('#') {
            return Err(format!("path {s:?} must not contain a `#` fragment"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "path {s:?} contains whitespace or control characters; percent-encode them"
            ));
        }
        let (path, query) = match s.split_once('?') {
            Some((p, q)) => (p, (!q.is_empty()).then(|| q.to_owned())),
            None => (s, None),
        };
        // Percent-decoded too: `%2e%2e` is normalized to `..` by servers and proxies after the
        // signature was made over the encoded form, so the path sent would not be the one signed.
        if path.split('/').any(is_dot_segment) {
            return Err(format!(
                "path {s:?} must not contain `.` or `..` segments, plain or percent-encoded"
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            query,
        })
    }

    /// Build from a path and optional query without re-parsing (for typed calls).
    pub(crate) fn from_parts(path: String, query: Option<String>) -> Self {
        Self { path, query }
    }

    /// The path without the query: this is the `userActionHttpPath`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string without `?`, if any. Requests use the whole target (`Display`); only
    /// tests look at the query alone.
    #[cfg(test)]
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// `.` or `..`, with any of its dots written as `%2e` / `%2E`: a segment that servers and
/// proxies resolve after a check of the path as sent (the proxy of `serve` refuses them too).
pub fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let decoded = lower.replace("%2e", ".");
    decoded == "." || decoded == ".."
}

impl fmt::Display for RequestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.query {
            Some(q) => write!(f, "{}?{}", self.path, q),
            None => f.write_str(&self.path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_dot_segments_are_refused() {
        for path in [
            "/x/%2e%2e/auth/service-accounts",
            "/x/%2E%2E/y",
            "/x/.%2e/y",
            "/x/%2e./y",
            "/x/%2e/y",
            "/x/%2E",
        ] {
            let e = RequestTarget::parse(path).unwrap_err();
            assert!(e.contains("percent-encoded"), "{path}: {e}");
        }
        assert!(RequestTarget::parse("/x/%2e%2ex/y").is_ok());
        assert!(RequestTarget::parse("/x/a.b/y").is_ok());
    }

    #[test]
    fn splits_path_and_query() {
        let t = RequestTarget::parse("/auth/service-accounts/us-1?force=true").expect("target");
        assert_eq!(t.path(), "/auth/service-accounts/us-1");
        assert_eq!(t.query(), Some("force=true"));
        assert_eq!(t.to_string(), "/auth/service-accounts/us-1?force=true");

        let t = RequestTarget::parse("/wallets?limit=2&paginationToken=a%3Db").expect("target");
        assert_eq!(t.path(), "/wallets");
        assert_eq!(t.query(), Some("limit=2&paginationToken=a%3Db"));

        let t = RequestTarget::parse("/auth/pats").expect("target");
        assert_eq!(t.query(), None);
        let t = RequestTarget::parse("/auth/pats?").expect("target");
        assert_eq!((t.path(), t.query()), ("/auth/pats", None));
        let t = RequestTarget::parse("/a?b=c?d").expect("target");
        assert_eq!((t.path(), t.query()), ("/a", Some("b=c?d")));
    }

    #[test]
    fn refuses_bad_targets() {
        for bad in [
            "auth/pats",
            "https://evil.example/auth/pats",
            "//evil.example/x",
            "/a#b",
            "/a b",
            "/a\nb",
            "/a/../b",
            "/a/./b",
            "",
        ] {
            assert!(RequestTarget::parse(bad).is_err(), "{bad:?}");
        }
    }
}
