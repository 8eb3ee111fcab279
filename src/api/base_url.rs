//! The Dfns API base URL and the rules it must follow.
//!
//! `https` is required; plain `http` is allowed only for loopback hosts (`127.0.0.0/8`, `::1`,
//! `localhost`), which is where the emulator listens. A query, a fragment or user info is
//! refused; a trailing `/` is stripped so paths can be appended as they are written in the docs.

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

/// The production API (Europe). Other regions, e.g. `https://api.uae.dfns.io`, must be chosen
/// explicitly: an organization lives in exactly one region.
pub const DEFAULT_API_URL: &str = "https://api.dfns.io";

/// A validated Dfns API base URL, without a trailing `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiUrl {
    url: Url,
}

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Dfns API URL {url:?}: {reason}")]
pub struct ApiUrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong and what to use instead.
    pub reason: String,
}

impl ApiUrl {
    /// Parse and check a base URL such as `https://api.dfns.io` or `http://127.0.0.1:8080`.
    pub fn parse(input: &str) -> Result<Self, ApiUrlError> {
        let err = |reason: &str| ApiUrlError {
            url: input.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(input.trim()).map_err(|e| ApiUrlError {
            url: input.to_owned(),
            reason: format!("{e}; expected e.g. {DEFAULT_API_URL}"),
        })?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(err(
                    "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost); \
                     use https",
                ))
            }
            _ => return Err(err("the scheme must be https")),
        }
        if url.host().is_none() {
            return Err(err("it has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(err(
                "it must not carry user info; the token is sent in a header, never in the URL",
            ));
        }
        if url.query().is_some() {
            return Err(err("it must not have a query string"));
        }
        if url.fragment().is_some() {
            return Err(err("it must not have a fragment"));
        }
        let mut url = url;
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Self { url })
    }

    /// The URL as a string, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// Whether the host is a loopback address (plain `http` is then allowed).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.url)
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The host, for messages.
    pub fn host(&self) -> String {
        self.url.host_str().unwrap_or_default().to_owned()
    }

    /// `host:port`, the port made explicit (443 for https, 80 for http when not given).
    pub fn authority(&self) -> String {
        match self.url.port_or_known_default() {
            Some(port) => format!("{}:{port}", self.host()),
            None => self.host(),
        }
    }

    /// Append a request path (which starts with `/` and may carry a query) to this base.
    pub(crate) fn join(&self, path_and_query: &str) -> Result<Url, ApiUrlError> {
        let full = format!("{}{}", self.as_str(), path_and_query);
        Url::parse(&full).map_err(|e| ApiUrlError {
            url: full.clone(),
            reason: e.to_string(),
        })
    }
}

impl std::str::FromStr for ApiUrl {
    type Err = ApiUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for ApiUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiUrl({:?})", self.as_str())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        ApiUrl::parse(s).expect(s).to_string()
    }

    fn refused(s: &str) -> String {
        ApiUrl::parse(s).expect_err(s).reason
    }

    #[test]
    fn https_is_accepted_and_trailing_slashes_stripped() {
        assert_eq!(ok("https://api.dfns.io"), "https://api.dfns.io");
        assert_eq!(ok("https://api.dfns.io/"), "https://api.dfns.io");
        assert_eq!(ok("https://api.uae.dfns.io//"), "https://api.uae.dfns.io");
        assert_eq!(
            ok("https://proxy.example/dfns/"),
            "https://proxy.example/dfns"
        );
        assert_eq!(ok(" https://api.dfns.io "), "https://api.dfns.io");
    }

    #[test]
    fn http_only_for_loopback() {
        assert_eq!(ok("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://127.1.2.3"), "http://127.1.2.3");
        assert_eq!(ok("http://[::1]:9000"), "http://[::1]:9000");
        assert_eq!(ok("http://localhost:9000"), "http://localhost:9000");
        assert_eq!(ok("http://LOCALHOST"), "http://localhost");
        assert!(refused("http://api.dfns.io").contains("loopback"));
        assert!(refused("http://10.0.0.1").contains("loopback"));
        assert!(refused("http://localhost.evil.example").contains("loopback"));
        assert!(refused("http://[::2]").contains("loopback"));
    }

    #[test]
    fn other_schemes_and_shapes_are_refused() {
        assert!(refused("ftp://api.dfns.io").contains("https"));
        assert!(refused("api.dfns.io").contains("expected e.g."));
        assert!(refused("https://api.dfns.io/?x=1").contains("query"));
        assert!(refused("https://api.dfns.io/#frag").contains("fragment"));
        assert!(refused("https://user:pw@api.dfns.io").contains("user info"));
    }

    #[test]
    fn join_appends_path_and_query() {
        let base = ApiUrl::parse("http://127.0.0.1:1/prefix/").expect("base");
        let url = base.join("/auth/x?force=true").expect("join");
        assert_eq!(url.as_str(), "http://127.0.0.1:1/prefix/auth/x?force=true");
        assert_eq!(ok(DEFAULT_API_URL), DEFAULT_API_URL);
        let from_config: ApiUrl = serde_json::from_str("\"https://api.dfns.io/\"").expect("url");
        assert_eq!(from_config.as_str(), DEFAULT_API_URL);
        assert!(serde_json::from_str::<ApiUrl>("\"http://api.dfns.io\"").is_err());
    }
}
