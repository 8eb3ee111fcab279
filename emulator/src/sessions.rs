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

/// Upper bound on remembered entries of each kind.
const MAX_ENTRIES: usize = 10_000;

/// Upper bound per caller: one caller's flood of `init` calls evicts only its own oldest
/// entries, never another caller's pending challenges.
const MAX_PER_CALLER: usize = 1_000;

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
        self.forget_expired(now_ms);
        let caller = challenge.binding.user_id.clone();
        make_room(&mut self.challenges, &caller, |c| {
            (c.expires_at_ms, &c.binding.user_id)
        });
        self.challenges.insert(id, challenge);
    }

    /// Remember a user-action token.
    pub fn add_user_action(&mut self, id: String, action: IssuedUserAction, now_ms: u64) {
        self.forget_expired(now_ms);
        let caller = action.binding.user_id.clone();
        make_room(&mut self.user_actions, &caller, |u| {
            (u.expires_at_ms, &u.binding.user_id)
        });
        self.user_actions.insert(id, action);
    }

    /// Forget entries past their tombstone grace.
    fn forget_expired(&mut self, now_ms: u64) {
        let keep = |expires: u64| expires.saturating_add(TOMBSTONE_GRACE_MS) > now_ms;
        self.challenges.retain(|_, c| keep(c.expires_at_ms));
        self.user_actions.retain(|_, u| keep(u.expires_at_ms));
    }
}

/// Make room for one more entry of `caller`, taking it from `caller`'s own oldest entries
/// when it holds its share, or from the biggest holder's when the map is full.
fn make_room<T>(map: &mut HashMap<String, T>, caller: &str, key: impl Fn(&T) -> (u64, &String)) {
    let mut per_caller: HashMap<&str, usize> = HashMap::new();
    for v in map.values() {
        *per_caller.entry(key(v).1.as_str()).or_default() += 1;
    }
    let own = per_caller.get(caller).copied().unwrap_or(0);
    let victim = if own >= MAX_PER_CALLER {
        Some(caller.to_owned())
    } else if map.len() >= MAX_ENTRIES {
        per_caller
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(user, _)| (*user).to_owned())
    } else {
        None
    };
    if let Some(victim) = victim {
        let mut theirs: Vec<(u64, String)> = map
            .iter()
            .filter(|(_, v)| key(v).1 == &victim)
            .map(|(id, v)| (key(v).0, id.clone()))
            .collect();
        theirs.sort();
        let drop = (theirs.len() / 2).max(1);
        for (_, id) in theirs.into_iter().take(drop) {
            map.remove(&id);
        }
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

    fn challenge_of(user: &str, expires_at_ms: u64) -> IssuedChallenge {
        IssuedChallenge {
            challenge: "c".into(),
            binding: Binding {
                user_id: user.into(),
                ..binding()
            },
            expires_at_ms,
            used: false,
        }
    }

    #[test]
    fn a_flood_from_one_caller_never_evicts_another_callers_challenge() {
        let mut s = Sessions::default();
        s.add_challenge("victim".into(), challenge_of("us-victim", 5_000), 0);
        for i in 0..(MAX_PER_CALLER * 3) {
            s.add_challenge(
                format!("flood-{i}"),
                challenge_of("us-flooder", 10_000 + i as u64),
                0,
            );
        }
        assert!(
            s.challenges.contains_key("victim"),
            "another caller's challenge was evicted"
        );
        let flooder = s
            .challenges
            .values()
            .filter(|c| c.binding.user_id == "us-flooder")
            .count();
        assert!(
            flooder <= MAX_PER_CALLER,
            "{flooder} entries for one caller"
        );
        // The newest of the flood is kept: the flooder loses its own oldest.
        assert!(s
            .challenges
            .contains_key(&format!("flood-{}", MAX_PER_CALLER * 3 - 1)));
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
