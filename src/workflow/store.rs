//! Where a new service account's one-time token is kept.

use crate::api::AuthToken;

/// A destination for a token Dfns hands out once, at creation.
///
/// The destination is checked before the account is created (see
/// [`TokenFile::prepare`](super::TokenFile::prepare)), and written once, right after.
pub trait TokenStore: Send + Sync {
    /// Where the token goes, for reports and messages (a path; never the token).
    fn describe(&self) -> String;

    /// Keep the token. On error the workflow reports the account whose token was lost.
    fn store(&self, token: &AuthToken) -> std::io::Result<()>;
}
