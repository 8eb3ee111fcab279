//! Output: human text by default, one JSON document with `--output json`.

use clap::ValueEnum;
use serde_json::Value;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Readable text.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
}

/// What a command produced, in both forms.
#[derive(Debug)]
pub struct Report {
    /// The JSON document.
    pub json: Value,
    /// The human rendering.
    pub human: String,
    /// Process exit code (0, or [`super::EXIT_PENDING`] for a pending approval).
    pub exit_code: i32,
    /// Printed as is whatever the format (a generated file such as a completion script).
    pub raw: bool,
}

impl Report {
    /// A report whose human form is given.
    pub fn new(json: Value, human: impl Into<String>) -> Self {
        Self {
            json,
            human: human.into(),
            exit_code: 0,
            raw: false,
        }
    }

    /// A generated text, printed byte for byte in either format.
    pub fn raw(text: String) -> Self {
        Self {
            json: Value::Null,
            human: text,
            exit_code: 0,
            raw: true,
        }
    }

    /// Dfns accepted the request but holds it for a policy approval (HTTP 202).
    pub fn pending(what: &str, approval: serde_json::Value) -> Self {
        let human = format!(
            "{what}: accepted, waiting for a policy approval (HTTP 202); nothing is done until an approver decides\n{}",
            serde_json::to_string_pretty(&approval).unwrap_or_default()
        );
        Self {
            json: serde_json::json!({ "outcome": "pendingApproval", "approval": approval }),
            human,
            exit_code: super::EXIT_PENDING,
            raw: false,
        }
    }

    /// A service-account create that Dfns holds for a policy approval (HTTP 202), with what
    /// happens next: Dfns hands an account's token out only in the answer to a create it
    /// carries out at once, so this one's token will never be handed out. `key` is the HSM key
    /// that was to be registered (`enroll`, `create --key`), which stays on the token.
    pub fn pending_create(what: &str, approval: serde_json::Value, key: Option<&str>) -> Self {
        let next = pending_create_next(key);
        let mut report = Self::pending(what, approval);
        report.human.push_str("\nwhat happens next:\n");
        for step in &next {
            report.human.push_str(&format!("  - {step}\n"));
        }
        report.json["next"] = serde_json::json!(next);
        report
    }

    /// Print in the chosen format. A closed stdout (`| head`) is not an error worth a panic.
    pub fn print(&self, format: OutputFormat) {
        use std::io::Write as _;
        if self.raw {
            let _ = std::io::stdout().lock().write_all(self.human.as_bytes());
            return;
        }
        let text = match format {
            OutputFormat::Json => {
                serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| "null".into())
            }
            OutputFormat::Human => self.human.trim_end_matches('\n').to_owned(),
        };
        if !text.is_empty() {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
    }
}

/// The facts after a create held for approval, one step per line.
fn pending_create_next(key: Option<&str>) -> Vec<String> {
    let mut next = vec![
        "Dfns returns a service account's token only in the answer to a create it carries out at once: \
         this create is held for approval, so its token will not be handed out, not even once it is approved"
            .to_owned(),
        "if the approval is granted, Dfns creates the account and nobody holds its token: archive it \
         (`dfns-hsm service-account list` shows its id, then `dfns-hsm service-account archive ID`)"
            .to_owned(),
        "if it is denied or expires, nothing is created".to_owned(),
        "to get an account you can use, run the create again once the approval has settled, under a \
         policy that lets it through (one that does not require an approval for this initiator); \
         while the policy applies, every create is held again"
            .to_owned(),
    ];
    if let Some(key) = key {
        next.push(format!(
            "the key {key} stays on the token: `dfns-hsm service-account enroll` with the same --key-label \
             (or `service-account create --key`) reuses it"
        ));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_create_says_its_token_is_never_handed_out() {
        let r = Report::pending_create(
            "create service account",
            serde_json::json!({"id": "ap-1"}),
            Some("pkcs11:object=k"),
        );
        assert_eq!(r.exit_code, super::super::EXIT_PENDING);
        assert_eq!(r.json["outcome"], "pendingApproval");
        let next = r.json["next"].as_array().expect("next");
        assert!(next.iter().any(|s| s
            .as_str()
            .is_some_and(|s| s.contains("archive") && s.contains("nobody holds its token"))));
        assert!(next
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("pkcs11:object=k"))));
        assert!(r.human.contains("what happens next:"), "{}", r.human);
        let without_key = Report::pending_create("c", serde_json::json!({}), None);
        assert_eq!(without_key.json["next"].as_array().expect("next").len(), 4);
    }
}
