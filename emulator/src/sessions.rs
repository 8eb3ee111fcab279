//! In-memory user-action sessions: issued challenges and issued user-action tokens.
//!
//! Both are single use. A used or expired entry is kept as a tombstone until shortly after it
//! expires, so a replay is reported as a replay rather than as an unknown id.

use std::collections::HashMap;

/// What a challenge and the user-action token traded for it are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The caller's user id.
    pub user_id: String,
    /// The caller's bearer token id.
    pub token_id: String,
    /// The signed HTTP method (upper case).
    pub method: String,
    /// The signed HTTP path (no query string).
    pub path: String,
    /// The signed request body, as given in `userActionPayload`.
    pub payload: String,
}

/// A challenge handed out by `POST /auth/action/init`.
#[derive(Debug, Clone)]
pub struct IssuedChallenge {
    /// The challenge string clients put into clientData.
    pub challenge: String,
    /// Caller and request it was issued for.
    pub binding: Binding,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Set on the first completion attempt.
    pub used: bool,
}

/// A user-action token handed out by `POST /auth/action`.
#[derive(Debug, Clone)]
pub struct IssuedUserAction {
    /// Caller and request it authorizes.
    pub binding: Binding,
    /// Expiry, Unix milliseconds.
    pub expires_at_ms: u64,
    /// Set on the first request that presents it.
    pub used: bool,
}

/// Keep tombstones this long after expiry (milliseconds) before forgetting them.
const TOMBSTONE_GRACE_MS: u64 = 10 * 60 * 1000;

/// Upper bound on remembered entries of each kind; the oldest-expiring go first beyond it.
const MAX_ENTRIES: usize = 10_000;

/// All live sessions, keyed by their ids (the `jti` of the corresponding JWT).
#[derive(Debug, Default)]
pub struct Sessions {
    /// Challenges by id.
    pub challenges: HashMap<String, IssuedChallenge>,
    /// User-action tokens by id.
    pub user_actions: HashMap<String, IssuedUserAction>,
}

impl Sessions {
    /// Remember a challenge.
    pub fn add_challenge(&mut self, id: String, challenge: IssuedChallenge, now_ms: u64) {
        self.prune(now_ms);
        self.challenges.insert(id, challenge);
    }

    /// Remember a user-action token.
    pub fn add_user_action(&mut self, id: String, action: IssuedUserAction, now_ms: u64) {
        self.prune(now_ms);
        self.user_actions.insert(id, action);
    }

    fn prune(&mut self, now_ms: u64) {
        let keep = |expires: u64| expires.saturating_add(TOMBSTONE_GRACE_MS) > now_ms;
        self.challenges.retain(|_, c| keep(c.expires_at_ms));
        self.user_actions.retain(|_, u| keep(u.expires_at_ms));
        if self.challenges.len() >= MAX_ENTRIES {
            evict_oldest(&mut self.challenges, |c| c.expires_at_ms);
        }
        if self.user_actions.len() >= MAX_ENTRIES {
            evict_oldest(&mut self.user_actions, |u| u.expires_at_ms);
        }
    }
}

fn evict_oldest<T>(map: &mut HashMap<String, T>, expiry: impl Fn(&T) -> u64) {
    let mut by_expiry: Vec<(u64, String)> =
        map.iter().map(|(k, v)| (expiry(v), k.clone())).collect();
    by_expiry.sort();
    for (_, key) in by_expiry.into_iter().take(map.len() / 2) {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding {
            user_id: "us".into(),
            token_id: "to".into(),
            method: "POST".into(),
            path: "/x".into(),
            payload: String::new(),
        }
    }

    #[test]
    fn expired_entries_are_forgotten_after_the_grace_period() {
        let mut s = Sessions::default();
        s.add_challenge(
            "a".into(),
            IssuedChallenge {
                challenge: "c".into(),
                binding: binding(),
                expires_at_ms: 1_000,
                used: false,
            },
            0,
        );
        s.add_user_action(
            "b".into(),
            IssuedUserAction {
                binding: binding(),
                expires_at_ms: 1_000,
                used: true,
            },
            500,
        );
        assert!(s.challenges.contains_key("a"));
        s.add_user_action(
            "c".into(),
            IssuedUserAction {
                binding: binding(),
                expires_at_ms: u64::MAX,
                used: false,
            },
            1_000 + TOMBSTONE_GRACE_MS + 1,
        );
        assert!(!s.challenges.contains_key("a"));
        assert!(!s.user_actions.contains_key("b"));
        assert!(s.user_actions.contains_key("c"));
    }
}
