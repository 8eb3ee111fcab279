//! Proxy routes a client may use: `"METHOD /path/pattern"`, `*` matching one path segment.

use std::fmt;

use crate::api::is_dot_segment;

/// One allowed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: String,
    segments: Vec<String>,
}

impl Route {
    /// Parse `"POST /wallets/*/transfers"`. The method is upper-cased; the pattern must be a
    /// plain absolute path (no query, no dot segments, no empty segment).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (method, path) = text.trim().split_once(' ').ok_or_else(|| {
            format!("route {text:?} must be \"METHOD /path\", e.g. \"GET /wallets/*\"")
        })?;
        let method = method.trim().to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!("route {text:?}: {method:?} is not an HTTP method"));
        }
        let path = path.trim();
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(format!(
                "route {text:?}: the pattern must be an absolute path without query, e.g. /wallets/*"
            ));
        }
        let segments: Vec<String> = path[1..].split('/').map(str::to_owned).collect();
        if segments.iter().any(|s| s.is_empty() || is_dot_segment(s)) {
            return Err(format!(
                "route {text:?}: empty, `.` and `..` segments cannot be allowed"
            ));
        }
        Ok(Self { method, segments })
    }

    /// Whether `method path` (path without query, as sent) is this route.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let given: Vec<&str> = rest.split('/').collect();
        given.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(&given)
                .all(|(want, got)| !got.is_empty() && (want == "*" || want == got))
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} /{}", self.method, self.segments.join("/"))
    }
}

/// Why a proxied path is refused before any policy lookup, if it is.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.split('/').any(is_dot_segment) {
        return Some("the path has a `.` or `..` segment (plain or percent-encoded)");
    }
    // An encoded slash or backslash would let one segment become two after decoding.
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
        return Some("the path has an encoded `/` or a `\\`");
    }
    if path.contains("//") {
        return Some("the path has an empty segment");
    }
    None
}

/// Headers some servers honour to change the method after the policy saw it.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_is_one_segment_and_the_method_must_match() {
        let r = Route::parse("post /wallets/*/transfers").expect("route");
        assert!(r.matches("POST", "/wallets/wa-1/transfers"));
        assert!(!r.matches("GET", "/wallets/wa-1/transfers"));
        assert!(!r.matches("POST", "/wallets/wa-1/x/transfers"));
        assert!(!r.matches("POST", "/wallets//transfers"));
        assert!(!r.matches("POST", "/wallets/wa-1/transfers/extra"));
        assert_eq!(r.to_string(), "POST /wallets/*/transfers");
    }

    #[test]
    fn bad_routes_and_paths_are_named() {
        for bad in [
            "GET",
            "GET wallets",
            "GET /a/../b",
            "GET /a?x=1",
            "G3T /a",
            "GET /a//b",
        ] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "/a/../b",
            "/a/%2e%2E/b",
            "/a/./b",
            "/a%2fb",
            "/a\\b",
            "/a//b",
        ] {
            assert!(unsafe_path(bad).is_some(), "{bad}");
        }
        assert_eq!(unsafe_path("/auth/service-accounts/us-1"), None);
    }
}
