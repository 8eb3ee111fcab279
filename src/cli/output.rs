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
