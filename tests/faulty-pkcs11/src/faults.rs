//! Fault rules: which call of which function fails, with what, and what happens underneath.
//!
//! A rule is one environment variable, `FAULTY_<FUNC>_<TRIGGER>[_<suffix>]=<spec>:<CKR>[:<effect>]`.
//! Rules count *operations*: calls of their function that are not mere length queries (a
//! `C_Sign` with a NULL signature buffer only asks for the size and is always passed through),
//! numbered from 1 after each `C_Initialize`.

use std::sync::Mutex;

use cryptoki_sys::*;

use crate::ckr;
use crate::functions::Func;

/// How a rule picks the calls it fails (the `<TRIGGER>` part of the variable name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// `EVERY`
    Every,
    /// `NTH`
    Nth,
    /// `AFTER`
    After,
    /// `RATE`
    Rate,
}

impl TriggerKind {
    /// `EVERY` -> [`TriggerKind::Every`], ...
    pub fn from_name(name: &str) -> Option<TriggerKind> {
        match name {
            "EVERY" => Some(TriggerKind::Every),
            "NTH" => Some(TriggerKind::Nth),
            "AFTER" => Some(TriggerKind::After),
            "RATE" => Some(TriggerKind::Rate),
            _ => None,
        }
    }
}

/// Which operations fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// Every `period`-th operation starting at `phase`: `Every(7, 7)` fails 7, 14, 21, ...;
    /// `Every(2, 1)` fails 1, 3, 5, ... (written `7` and `2@1`).
    Every(u64, u64),
    /// Exactly these operations.
    Nth(Vec<u64>),
    /// Every operation after the first `n` (a fault that never heals).
    After(u64),
    /// Each operation with this probability, from a seeded generator.
    Rate(f64),
}

/// What happens underneath when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Return the code without calling the real module.
    Answer,
    /// Run the real call, then replace its result (ends an active operation cleanly).
    Finish,
    /// Close the session in the real module first, as a dropped connection would; every later
    /// call on it fails with `CKR_SESSION_HANDLE_INVALID`.
    Close,
    /// Log the application out in the real module (`C_Logout`), as an HSM restart would.
    Logout,
}

impl Effect {
    fn parse(text: &str) -> Option<Effect> {
        match text.trim().to_ascii_lowercase().as_str() {
            "answer" => Some(Effect::Answer),
            "finish" => Some(Effect::Finish),
            "close" => Some(Effect::Close),
            "logout" => Some(Effect::Logout),
            _ => None,
        }
    }

    /// The effect a code implies when the rule names none.
    pub fn default_for(func: Func, rv: CK_RV) -> Effect {
        match rv {
            CKR_SESSION_HANDLE_INVALID | CKR_SESSION_CLOSED | CKR_DEVICE_REMOVED => Effect::Close,
            CKR_USER_NOT_LOGGED_IN => Effect::Logout,
            _ if func.ends_operation() => Effect::Finish,
            _ => Effect::Answer,
        }
    }
}

/// One configured fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The variable that defined it.
    pub name: String,
    /// The function it applies to.
    pub func: Func,
    /// Which operations fail.
    pub trigger: Trigger,
    /// The code returned.
    pub rv: CK_RV,
    /// What happens underneath.
    pub effect: Effect,
}

impl Rule {
    /// Parse `<spec>:<CKR>[:<effect>]`; `<spec>` is `N` or `N@FIRST` for EVERY, a count for
    /// AFTER, a comma list for NTH, a probability in [0, 1] for RATE.
    pub fn parse(name: &str, func: Func, kind: TriggerKind, value: &str) -> Result<Rule, String> {
        let mut parts = value.split(':');
        let spec = parts.next().unwrap_or_default().trim();
        let rv_text = parts
            .next()
            .ok_or("expected <spec>:<CKR_NAME>[:<effect>]")?;
        let rv = ckr::parse(rv_text).ok_or_else(|| format!("unknown return value {rv_text:?}"))?;
        let effect = match parts.next() {
            Some(e) => Effect::parse(e)
                .ok_or_else(|| format!("unknown effect {e:?} (answer, finish, close, logout)"))?,
            None => Effect::default_for(func, rv),
        };
        if parts.next().is_some() {
            return Err("too many ':' parts".into());
        }
        let count = |s: &str| s.trim().parse::<u64>().ok();
        let trigger = match kind {
            TriggerKind::Every => {
                let (period, first) = match spec.split_once('@') {
                    Some((p, f)) => (count(p), count(f)),
                    None => (count(spec), count(spec)),
                };
                match (period, first) {
                    (Some(p), Some(f)) if p > 0 && (1..=p).contains(&f) => Trigger::Every(p, f),
                    _ => {
                        return Err(
                            "EVERY needs N (at least 1) or N@FIRST with FIRST in 1..=N".into()
                        )
                    }
                }
            }
            TriggerKind::After => Trigger::After(count(spec).ok_or("AFTER needs a count")?),
            TriggerKind::Nth => {
                let list: Option<Vec<u64>> = spec.split(',').map(count).collect();
                match list {
                    Some(l) if !l.is_empty() && !l.contains(&0) => Trigger::Nth(l),
                    _ => return Err("NTH needs a comma list of operation numbers from 1".into()),
                }
            }
            TriggerKind::Rate => match spec.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Trigger::Rate(p),
                _ => return Err("RATE needs a probability between 0 and 1".into()),
            },
        };
        if rv == CKR_OK {
            return Err("a fault must not return CKR_OK".into());
        }
        Ok(Rule {
            name: name.to_owned(),
            func,
            trigger,
            rv,
            effect,
        })
    }
}

/// The rules in force, with the random state of the rate rules.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<(Rule, Mutex<SplitMix64>)>,
}

impl Faults {
    /// Arm `rules`; rate rules draw from generators derived from `seed` and the rule's name.
    pub fn new(rules: Vec<Rule>, seed: u64) -> Faults {
        Faults {
            rules: rules
                .into_iter()
                .map(|r| {
                    let rng = SplitMix64(seed ^ fnv1a(r.name.as_bytes()));
                    (r, Mutex::new(rng))
                })
                .collect(),
        }
    }

    /// The first rule (in variable-name order) that fails operation `n` of `func`.
    pub fn check(&self, func: Func, n: u64) -> Option<&Rule> {
        self.rules.iter().find_map(|(rule, rng)| {
            if rule.func != func {
                return None;
            }
            let fires = match &rule.trigger {
                Trigger::Every(period, first) => n >= *first && (n - first) % period == 0,
                Trigger::Nth(list) => list.contains(&n),
                Trigger::After(k) => n > *k,
                Trigger::Rate(p) => match rng.lock() {
                    Ok(mut g) => g.next_f64() < *p,
                    Err(_) => false,
                },
            };
            fires.then_some(rule)
        })
    }

    /// Whether any rule applies to `func`.
    pub fn watches(&self, func: Func) -> bool {
        self.rules.iter().any(|(r, _)| r.func == func)
    }
}

/// A small deterministic generator (SplitMix64): reproducible runs without a dependency.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, func: Func, kind: TriggerKind, value: &str) -> Rule {
        Rule::parse(name, func, kind, value).expect("rule")
    }

    #[test]
    fn every_nth_and_after() {
        let f = Faults::new(
            vec![
                rule("A", Func::Sign, TriggerKind::Every, "3:DEVICE_ERROR"),
                rule("D", Func::Sign, TriggerKind::Every, "5@2:GENERAL_ERROR"),
                rule("B", Func::Sign, TriggerKind::Nth, "4,5:SESSION_CLOSED"),
                rule("C", Func::Login, TriggerKind::After, "1:PIN_INCORRECT"),
            ],
            0,
        );
        let fired: Vec<Option<CK_RV>> = (1..=7)
            .map(|n| f.check(Func::Sign, n).map(|r| r.rv))
            .collect();
        assert_eq!(
            fired,
            vec![
                None,
                Some(CKR_GENERAL_ERROR),
                Some(CKR_DEVICE_ERROR),
                Some(CKR_SESSION_CLOSED),
                Some(CKR_SESSION_CLOSED),
                Some(CKR_DEVICE_ERROR),
                Some(CKR_GENERAL_ERROR),
            ]
        );
        assert!(f.check(Func::Login, 1).is_none());
        assert!(f.check(Func::Login, 2).is_some());
        assert!(f.check(Func::SignInit, 3).is_none());
        assert!(f.watches(Func::Login) && !f.watches(Func::Logout));
    }

    #[test]
    fn rates_are_reproducible_and_roughly_right() {
        let draw = |seed| {
            let f = Faults::new(
                vec![rule("R", Func::Sign, TriggerKind::Rate, "0.1:DEVICE_ERROR")],
                seed,
            );
            (1..=10_000)
                .filter(|&n| f.check(Func::Sign, n).is_some())
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!((800..1200).contains(&a.len()), "{}", a.len());
    }

    #[test]
    fn default_effects_follow_the_code() {
        let r = rule(
            "X",
            Func::Sign,
            TriggerKind::Every,
            "2:SESSION_HANDLE_INVALID",
        );
        assert_eq!(r.effect, Effect::Close);
        let r = rule("X", Func::Sign, TriggerKind::Every, "2:USER_NOT_LOGGED_IN");
        assert_eq!(r.effect, Effect::Logout);
        let r = rule("X", Func::Sign, TriggerKind::Every, "2:DEVICE_ERROR");
        assert_eq!(r.effect, Effect::Finish);
        let r = rule("X", Func::SignInit, TriggerKind::Every, "2:DEVICE_ERROR");
        assert_eq!(r.effect, Effect::Answer);
        let r = rule(
            "X",
            Func::SignInit,
            TriggerKind::Every,
            "2:DEVICE_ERROR:close",
        );
        assert_eq!(r.effect, Effect::Close);
        assert!(Rule::parse("X", Func::Sign, TriggerKind::Every, "2:OK").is_err());
    }
}
