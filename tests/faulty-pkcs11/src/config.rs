//! Configuration from `FAULTY_*` environment variables, read at every `C_Initialize`.
//!
//! An unknown `FAULTY_*` variable is an error (`C_Initialize` fails with a message on stderr),
//! so a typo cannot silently turn a fault test into a pass-through test. The variables are
//! listed in the crate documentation and README.

use std::path::PathBuf;
use std::time::Duration;

use cryptoki_sys::{CKR_TOKEN_NOT_PRESENT, CK_RV};

use crate::ckr;
use crate::faults::{Rule, TriggerKind};
use crate::functions::Func;

/// Where the real module is looked for when `FAULTY_PKCS11_MODULE` is not set (SoftHSM2's
/// usual install locations).
pub const MODULE_FALLBACKS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

const PREFIX: &str = "FAULTY_";

/// Everything the module was told to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// The real module (`FAULTY_PKCS11_MODULE`).
    pub module: PathBuf,
    /// Seed of the rate rules' generators (`FAULTY_SEED`).
    pub seed: u64,
    /// Sleep before every call (`FAULTY_LATENCY_MS`).
    pub latency_all: Duration,
    /// Extra sleep per function (`FAULTY_<FUNC>_LATENCY_MS`).
    pub latency: Vec<(Func, Duration)>,
    /// Fault rules, in variable-name order (`FAULTY_<FUNC>_EVERY|NTH|AFTER|RATE[_suffix]`).
    pub rules: Vec<Rule>,
    /// Cap on open sessions (`FAULTY_MAX_SESSIONS`).
    pub max_sessions: Option<u64>,
    /// Sessions unused this long are closed underneath (`FAULTY_IDLE_TIMEOUT_MS`).
    pub idle_timeout: Option<Duration>,
    /// Strip the DER OCTET STRING around `CKA_EC_POINT` (`FAULTY_EC_POINT_RAW`).
    pub ec_point_raw: bool,
    /// Generate private keys extractable whatever the template asks, as a careless token
    /// might (`FAULTY_KEYGEN_EXTRACTABLE`).
    pub keygen_extractable: bool,
    /// The token goes away after this many `C_Sign` operations (`FAULTY_TOKEN_ABSENT_AFTER`).
    pub absent_after: Option<u64>,
    /// ... for this long (`FAULTY_TOKEN_ABSENT_FOR_MS`).
    pub absent_for: Duration,
    /// What session calls answer while the token is away (`FAULTY_TOKEN_ABSENT_RV`).
    pub absent_rv: CK_RV,
    /// Keep sessions open across an absence (`FAULTY_TOKEN_ABSENT_KEEPS_SESSIONS`).
    pub absent_keeps_sessions: bool,
    /// Directory watched for control files (`FAULTY_CONTROL_DIR`).
    pub control_dir: Option<PathBuf>,
    /// Counters file (`FAULTY_STATS_FILE`).
    pub stats_file: Option<PathBuf>,
    /// Print every injected fault to stderr (`FAULTY_LOG`).
    pub log: bool,
}

impl Config {
    /// Read the process environment.
    pub fn from_env() -> Result<Config, String> {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| {
            Some((k.into_string().ok()?, v.into_string().unwrap_or_default()))
        }))
    }

    /// Read `(name, value)` pairs; variables not starting with `FAULTY_` are ignored.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Config, String> {
        let mut vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        // Rules are tried in this order; make it independent of the environment's order.
        vars.sort();
        let mut c = Config {
            module: PathBuf::new(),
            seed: 0,
            latency_all: Duration::ZERO,
            latency: Vec::new(),
            rules: Vec::new(),
            max_sessions: None,
            idle_timeout: None,
            ec_point_raw: false,
            keygen_extractable: false,
            absent_after: None,
            absent_for: Duration::ZERO,
            absent_rv: CKR_TOKEN_NOT_PRESENT,
            absent_keeps_sessions: false,
            control_dir: None,
            stats_file: None,
            log: false,
        };
        let mut module = None;
        let mut absent_for = None;
        for (key, value) in &vars {
            let err = |why: &str| format!("{key}={value:?}: {why}");
            let rest = &key[PREFIX.len()..];
            match rest {
                "PKCS11_MODULE" => module = Some(PathBuf::from(value)),
                "SEED" => c.seed = number(value).ok_or_else(|| err("expected an integer"))?,
                "LATENCY_MS" => c.latency_all = millis(value).ok_or_else(|| err("expected ms"))?,
                "MAX_SESSIONS" => {
                    let n = number(value).ok_or_else(|| err("expected an integer"))?;
                    if n == 0 {
                        return Err(err("must be at least 1"));
                    }
                    c.max_sessions = Some(n);
                }
                "IDLE_TIMEOUT_MS" => {
                    c.idle_timeout = Some(millis(value).ok_or_else(|| err("expected ms"))?)
                }
                "EC_POINT_RAW" => {
                    c.ec_point_raw = flag(value).ok_or_else(|| err("expected 0 or 1"))?
                }
                "KEYGEN_EXTRACTABLE" => {
                    c.keygen_extractable = flag(value).ok_or_else(|| err("expected 0 or 1"))?
                }
                "TOKEN_ABSENT_AFTER" => {
                    c.absent_after = Some(number(value).ok_or_else(|| err("expected a count"))?)
                }
                "TOKEN_ABSENT_FOR_MS" => {
                    absent_for = Some(millis(value).ok_or_else(|| err("expected ms"))?)
                }
                "TOKEN_ABSENT_RV" => {
                    c.absent_rv = ckr::parse(value).ok_or_else(|| err("unknown CKR_ name"))?
                }
                "TOKEN_ABSENT_KEEPS_SESSIONS" => {
                    c.absent_keeps_sessions = flag(value).ok_or_else(|| err("expected 0 or 1"))?
                }
                "CONTROL_DIR" => c.control_dir = non_empty(value).map(PathBuf::from),
                "STATS_FILE" => c.stats_file = non_empty(value).map(PathBuf::from),
                "LOG" => c.log = flag(value).ok_or_else(|| err("expected 0 or 1"))?,
                _ => match per_function(rest) {
                    Some((func, PerFunction::Latency)) => c
                        .latency
                        .push((func, millis(value).ok_or_else(|| err("expected ms"))?)),
                    Some((func, PerFunction::Rule(kind))) => c
                        .rules
                        .push(Rule::parse(key, func, kind, value).map_err(|e| err(&e))?),
                    None => {
                        return Err(format!(
                            "unknown variable {key}; see the faulty-pkcs11 README for the list"
                        ))
                    }
                },
            }
        }
        match (c.absent_after, absent_for) {
            (Some(_), None) => {
                return Err("FAULTY_TOKEN_ABSENT_AFTER needs FAULTY_TOKEN_ABSENT_FOR_MS".into())
            }
            (_, Some(d)) => c.absent_for = d,
            (None, None) => {}
        }
        c.module = match module {
            Some(m) if !m.as_os_str().is_empty() => m,
            _ => MODULE_FALLBACKS
                .iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
                .ok_or_else(|| {
                    format!(
                        "FAULTY_PKCS11_MODULE is not set and no SoftHSM2 module was found at {}",
                        MODULE_FALLBACKS.join(", ")
                    )
                })?,
        };
        Ok(c)
    }

    /// Total sleep before a call of `func`.
    pub fn latency_of(&self, func: Func) -> Duration {
        self.latency
            .iter()
            .filter(|(f, _)| *f == func)
            .fold(self.latency_all, |acc, (_, d)| acc + *d)
    }
}

enum PerFunction {
    Latency,
    Rule(TriggerKind),
}

/// `SIGN_EVERY_2` -> (`C_Sign`, EVERY); `SIGN_INIT_LATENCY_MS` -> (`C_SignInit`, latency).
fn per_function(rest: &str) -> Option<(Func, PerFunction)> {
    Func::ALL.iter().find_map(|&func| {
        let tail = rest.strip_prefix(&func.env_name())?.strip_prefix('_')?;
        if tail == "LATENCY_MS" {
            return Some((func, PerFunction::Latency));
        }
        let (kind_name, suffix) = match tail.split_once('_') {
            Some((k, s)) => (k, Some(s)),
            None => (tail, None),
        };
        if suffix.is_some_and(str::is_empty) {
            return None;
        }
        let kind = TriggerKind::from_name(kind_name)?;
        Some((func, PerFunction::Rule(kind)))
    })
}

fn number(v: &str) -> Option<u64> {
    v.trim().parse().ok()
}

fn millis(v: &str) -> Option<Duration> {
    number(v).map(Duration::from_millis)
}

fn flag(v: &str) -> Option<bool> {
    match v.trim() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn non_empty(v: &str) -> Option<&str> {
    Some(v).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Effect, Trigger};
    use cryptoki_sys::{CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID};

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, String> {
        let mut v: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.push(("FAULTY_PKCS11_MODULE".into(), "/x/real.so".into()));
        v.push(("UNRELATED".into(), "1".into()));
        Config::from_vars(v)
    }

    #[test]
    fn two_independent_sign_rules() {
        let c = cfg(&[
            ("FAULTY_SIGN_EVERY", "7:SESSION_HANDLE_INVALID"),
            ("FAULTY_SIGN_EVERY_2", "11:CKR_DEVICE_ERROR:finish"),
            ("FAULTY_SIGN_INIT_RATE", "0.25:DEVICE_ERROR"),
        ])
        .expect("config");
        assert_eq!(c.module, PathBuf::from("/x/real.so"));
        assert_eq!(c.rules.len(), 3);
        let sign: Vec<_> = c.rules.iter().filter(|r| r.func == Func::Sign).collect();
        assert_eq!(sign[0].trigger, Trigger::Every(7, 7));
        assert_eq!(sign[0].rv, CKR_SESSION_HANDLE_INVALID);
        assert_eq!(sign[0].effect, Effect::Close);
        assert_eq!(sign[1].trigger, Trigger::Every(11, 11));
        assert_eq!(sign[1].rv, CKR_DEVICE_ERROR);
        assert_eq!(sign[1].effect, Effect::Finish);
        let init = c
            .rules
            .iter()
            .find(|r| r.func == Func::SignInit)
            .expect("init");
        assert_eq!(init.trigger, Trigger::Rate(0.25));
        assert_eq!(init.effect, Effect::Answer);
    }

    #[test]
    fn globals_parse() {
        let c = cfg(&[
            ("FAULTY_MAX_SESSIONS", "2"),
            ("FAULTY_IDLE_TIMEOUT_MS", "150"),
            ("FAULTY_EC_POINT_RAW", "1"),
            ("FAULTY_TOKEN_ABSENT_AFTER", "5"),
            ("FAULTY_TOKEN_ABSENT_FOR_MS", "5000"),
            ("FAULTY_LATENCY_MS", "1"),
            ("FAULTY_SIGN_LATENCY_MS", "2"),
            ("FAULTY_SEED", "42"),
        ])
        .expect("config");
        assert_eq!(c.max_sessions, Some(2));
        assert_eq!(c.idle_timeout, Some(Duration::from_millis(150)));
        assert!(c.ec_point_raw);
        assert_eq!(c.absent_after, Some(5));
        assert_eq!(c.absent_for, Duration::from_secs(5));
        assert_eq!(c.latency_of(Func::Sign), Duration::from_millis(3));
        assert_eq!(c.latency_of(Func::Login), Duration::from_millis(1));
        assert_eq!(c.seed, 42);
    }

    #[test]
    fn mistakes_are_reported() {
        for bad in [
            ("FAULTY_SIGN_EVRY", "7:DEVICE_ERROR"),
            ("FAULTY_SIGN_EVERY", "0:DEVICE_ERROR"),
            ("FAULTY_SIGN_EVERY", "2@3:DEVICE_ERROR"),
            ("FAULTY_SIGN_EVERY", "7:NO_SUCH_CODE"),
            ("FAULTY_SIGN_RATE", "1.5:DEVICE_ERROR"),
            ("FAULTY_SIGN_EVERY", "7:DEVICE_ERROR:explode"),
            ("FAULTY_MAX_SESSIONS", "0"),
            ("FAULTY_TOKEN_ABSENT_AFTER", "3"),
            ("FAULTY_EC_POINT_RAW", "maybe"),
        ] {
            let e = cfg(&[bad]).expect_err(bad.0);
            assert!(e.contains(bad.0), "{e}");
        }
    }
}
