//! Which Dfns endpoints need a user-action signature.
//!
//! The answer comes from the spec, per endpoint, never from the HTTP method alone:
//! 1. [`SPEC_ENDPOINTS`]: every operation of the auth subset of the Dfns OpenAPI description
//!    (v1.578.2), with whether its `security` includes `userActionSignature`, and
//!    [`PERMISSION_ENDPOINTS`], the permissions operations of Dfns's API reference;
//! 2. otherwise [`NO_USER_ACTION`]: the non-GET endpoints elsewhere in the API whose security
//!    lacks `userActionSignature` (login, registration, recovery, quotes, ...). This is the one
//!    place that list lives;
//! 3. otherwise the documented rule: `GET` (and `HEAD`/`OPTIONS`) never need one, everything
//!    else does.
//!
//! Path templates use `{name}` for one path segment; a template ending in `/**` also matches
//! the path without that suffix and any path below it.

use reqwest::Method;

/// One operation: method, path template and whether it needs a user action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP method (upper case), or `*` for any method.
    pub method: &'static str,
    /// Path template, e.g. `/auth/service-accounts/{serviceAccountId}/activate`.
    pub template: &'static str,
    /// Whether the spec requires `X-DFNS-USERACTION`.
    pub user_action: bool,
}

const fn op(method: &'static str, template: &'static str, user_action: bool) -> Endpoint {
    Endpoint {
        method,
        template,
        user_action,
    }
}

/// The operations of the auth subset of Dfns's OpenAPI description, as its `security` says.
pub const SPEC_ENDPOINTS: &[Endpoint] = &[
    op("POST", "/auth/action", false),
    op("POST", "/auth/action/init", false),
    op("GET", "/auth/pats", false),
    op("POST", "/auth/pats", true),
    op("GET", "/auth/pats/{tokenId}", false),
    op("PUT", "/auth/pats/{tokenId}", true),
    op("DELETE", "/auth/pats/{tokenId}", true),
    op("PUT", "/auth/pats/{tokenId}/activate", true),
    op("PUT", "/auth/pats/{tokenId}/deactivate", true),
    op("GET", "/auth/service-accounts", false),
    op("POST", "/auth/service-accounts", true),
    op("GET", "/auth/service-accounts/{serviceAccountId}", false),
    op("PUT", "/auth/service-accounts/{serviceAccountId}", true),
    op("DELETE", "/auth/service-accounts/{serviceAccountId}", true),
    op(
        "PUT",
        "/auth/service-accounts/{serviceAccountId}/activate",
        true,
    ),
    op(
        "PUT",
        "/auth/service-accounts/{serviceAccountId}/deactivate",
        true,
    ),
];

/// The permissions endpoints, as Dfns's API reference lists them (its SDKs are generated from
/// the same OpenAPI description): reads unsigned, every change user-action signed.
pub const PERMISSION_ENDPOINTS: &[Endpoint] = &[
    op("POST", "/permissions", true),
    op("GET", "/permissions", false),
    op("GET", "/permissions/{permissionId}", false),
    op("PUT", "/permissions/{permissionId}", true),
    op("PUT", "/permissions/{permissionId}/archive", true),
    op("DELETE", "/permissions/{permissionId}", true),
    op("POST", "/permissions/{permissionId}/assignments", true),
    op("GET", "/permissions/{permissionId}/assignments", false),
    op(
        "DELETE",
        "/permissions/{permissionId}/assignments/{assignmentId}",
        true,
    ),
];

/// Non-GET endpoints that need no user action: the operations of Dfns's OpenAPI description
/// whose `security` lacks `userActionSignature`, plus those Dfns's SDKs added later.
pub const NO_USER_ACTION: &[Endpoint] = &[
    op("POST", "/auth/action", false),
    op("POST", "/auth/action/init", false),
    op("POST", "/auth/credentials/init", false),
    op("POST", "/auth/credentials/code/init", false),
    op("POST", "/auth/credentials/code/verify", false),
    op("*", "/auth/login/**", false),
    op("PUT", "/auth/logout", false),
    op("*", "/auth/recover/user/**", false),
    op("*", "/auth/registration/**", false),
    op("POST", "/networks/read-contract", false),
    op("POST", "/swaps/quotes", false),
    op("POST", "/auth/tokens", false),
    op("POST", "/networks/{network}/call-function", false),
    op("POST", "/payouts/quote", false),
    op("POST", "/wallets/{walletId}/canton/ledger-api", false),
];

/// Whether a request needs a user action, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserActionRule {
    /// The spec table says so for this operation.
    Spec(Endpoint),
    /// A documented non-GET exception: no user action.
    Exception(Endpoint),
    /// Not in either table: `GET`/`HEAD`/`OPTIONS` need none, other methods need one.
    MethodFallback {
        /// The fallback's answer.
        user_action: bool,
    },
}

impl UserActionRule {
    /// Whether the request must carry `X-DFNS-USERACTION`.
    pub fn requires_user_action(&self) -> bool {
        match self {
            UserActionRule::Spec(e) | UserActionRule::Exception(e) => e.user_action,
            UserActionRule::MethodFallback { user_action } => *user_action,
        }
    }
}

/// Decide for `method` on `path` (the path only, without the query string).
pub fn user_action_rule(method: &Method, path: &str) -> UserActionRule {
    let find = |table: &[Endpoint]| {
        table
            .iter()
            .copied()
            .find(|e| method_matches(e.method, method) && template_matches(e.template, path))
    };
    if let Some(e) = find(SPEC_ENDPOINTS).or_else(|| find(PERMISSION_ENDPOINTS)) {
        return UserActionRule::Spec(e);
    }
    if let Some(e) = find(NO_USER_ACTION) {
        return UserActionRule::Exception(e);
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    UserActionRule::MethodFallback { user_action: !safe }
}

/// Shorthand for `user_action_rule(method, path).requires_user_action()`.
pub fn requires_user_action(method: &Method, path: &str) -> bool {
    user_action_rule(method, path).requires_user_action()
}

fn method_matches(pattern: &str, method: &Method) -> bool {
    pattern == "*" || pattern == method.as_str()
}

/// Match `path` against a template; `{x}` matches one non-empty segment, a final `/**` matches
/// nothing or any tail.
pub fn template_matches(template: &str, path: &str) -> bool {
    let (template, any_tail) = match template.strip_suffix("/**") {
        Some(t) => (t, true),
        None => (template, false),
    };
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (None, Some(_)) => return any_tail,
            (Some(_), None) => return false,
            (Some(w), Some(h)) => {
                let ok = if w.starts_with('{') && w.ends_with('}') {
                    !h.is_empty()
                } else {
                    w == h
                };
                if !ok {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(method: Method, path: &str) -> bool {
        requires_user_action(&method, path)
    }

    #[test]
    fn service_account_operations_follow_the_spec() {
        assert!(!needs(Method::GET, "/auth/service-accounts"));
        assert!(needs(Method::POST, "/auth/service-accounts"));
        assert!(!needs(Method::GET, "/auth/service-accounts/us-1"));
        assert!(needs(Method::PUT, "/auth/service-accounts/us-1"));
        assert!(needs(Method::DELETE, "/auth/service-accounts/us-1"));
        assert!(needs(Method::PUT, "/auth/service-accounts/us-1/activate"));
        assert!(needs(Method::PUT, "/auth/service-accounts/us-1/deactivate"));
        assert!(matches!(
            user_action_rule(&Method::PUT, "/auth/service-accounts/us-1/activate"),
            UserActionRule::Spec(Endpoint {
                template: "/auth/service-accounts/{serviceAccountId}/activate",
                ..
            })
        ));
    }

    #[test]
    fn permission_changes_are_signed_and_reads_are_not() {
        assert!(needs(Method::POST, "/permissions"));
        assert!(!needs(Method::GET, "/permissions"));
        assert!(!needs(Method::GET, "/permissions/pm-1"));
        assert!(needs(Method::PUT, "/permissions/pm-1"));
        assert!(needs(Method::PUT, "/permissions/pm-1/archive"));
        assert!(needs(Method::DELETE, "/permissions/pm-1"));
        assert!(needs(Method::POST, "/permissions/pm-1/assignments"));
        assert!(!needs(Method::GET, "/permissions/pm-1/assignments"));
        assert!(needs(Method::DELETE, "/permissions/pm-1/assignments/as-1"));
        assert!(matches!(
            user_action_rule(&Method::GET, "/permissions/pm-1/assignments"),
            UserActionRule::Spec(Endpoint {
                template: "/permissions/{permissionId}/assignments",
                ..
            })
        ));
    }

    #[test]
    fn the_flow_itself_is_never_signed() {
        assert!(!needs(Method::POST, "/auth/action/init"));
        assert!(!needs(Method::POST, "/auth/action"));
    }

    #[test]
    fn documented_exceptions_need_none() {
        assert!(!needs(Method::POST, "/auth/login"));
        assert!(!needs(Method::POST, "/auth/login/init"));
        assert!(!needs(Method::POST, "/auth/login/delegated"));
        assert!(!needs(Method::PUT, "/auth/logout"));
        assert!(!needs(Method::POST, "/auth/registration/init"));
        assert!(!needs(Method::POST, "/auth/recover/user/code"));
        assert!(!needs(Method::POST, "/networks/read-contract"));
        assert!(!needs(
            Method::POST,
            "/networks/EthereumSepolia/call-function"
        ));
        assert!(!needs(Method::POST, "/wallets/wa-1/canton/ledger-api"));
        assert!(matches!(
            user_action_rule(&Method::POST, "/swaps/quotes"),
            UserActionRule::Exception(_)
        ));
    }

    #[test]
    fn unknown_endpoints_fall_back_to_the_method() {
        assert!(!needs(Method::GET, "/wallets"));
        assert!(needs(Method::POST, "/wallets"));
        assert!(needs(Method::POST, "/wallets/wa-1/transfers"));
        assert!(needs(
            Method::DELETE,
            "/auth/service-accounts/credentials/cr-1"
        ));
        assert!(needs(Method::POST, "/auth/loginx"));
        assert!(!needs(Method::GET, "/auth/pats"));
        assert_eq!(
            user_action_rule(&Method::PATCH, "/x"),
            UserActionRule::MethodFallback { user_action: true }
        );
    }

    #[test]
    fn templates_match_whole_segments() {
        assert!(template_matches("/a/{id}", "/a/1"));
        assert!(!template_matches("/a/{id}", "/a/"));
        assert!(!template_matches("/a/{id}", "/a/1/b"));
        assert!(!template_matches("/a/{id}", "/a"));
        assert!(template_matches("/a/**", "/a"));
        assert!(template_matches("/a/**", "/a/b/c"));
        assert!(!template_matches("/a/**", "/ab"));
    }

    // The spec table and the exception list must agree where they overlap.
    #[test]
    fn tables_are_consistent() {
        for e in SPEC_ENDPOINTS.iter().chain(PERMISSION_ENDPOINTS) {
            let method = Method::from_bytes(e.method.as_bytes()).expect("method");
            let path = e.template.replace('{', "x").replace('}', "");
            if e.method != "GET" && !e.user_action {
                assert!(
                    NO_USER_ACTION
                        .iter()
                        .any(|x| method_matches(x.method, &method)
                            && template_matches(x.template, &path)),
                    "{} {} missing from NO_USER_ACTION",
                    e.method,
                    e.template
                );
            }
            assert_eq!(requires_user_action(&method, &path), e.user_action);
        }
        assert!(NO_USER_ACTION
            .iter()
            .all(|e| !e.user_action && e.method != "GET"));
    }
}
