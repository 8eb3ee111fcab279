//! How a failed command is shown: the message and its hint on stderr, and with
//! `--output json` also one JSON document on stdout, so a script always gets JSON.

use std::io::Write as _;

use serde_json::json;

use super::error::{CliError, EXIT_USAGE};
use super::output::OutputFormat;
use super::text::safe_lines;

/// Print `err` for a person (stderr) and, with JSON output, for a script (stdout).
pub fn print_error(err: &CliError, format: OutputFormat) {
    let hint = err.hint();
    let message = err.to_string();
    print_human(&message, hint.as_deref());
    if format == OutputFormat::Json {
        let error = json!({ "kind": err.kind(), "message": message, "hint": hint });
        let doc = match err {
            // The checks stay the document, so a script reads them whether they pass or not.
            CliError::ChecksFailed { json, .. } => {
                let mut doc = json.clone();
                doc["error"] = error;
                doc
            }
            _ => json!({ "error": error }),
        };
        print_json(&doc);
    }
}

/// Print a command line that could not be parsed; returns the exit code to use.
///
/// Help and version requests are not errors: they are printed as clap prints them.
pub fn print_parse_error(err: &clap::Error, format: OutputFormat) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return err.exit_code();
    }
    if format == OutputFormat::Json {
        let hint = err.kind().as_str().unwrap_or("invalid command line");
        print_json(
            &json!({ "error": { "kind": "usage", "message": err.to_string(), "hint": hint } }),
        );
    }
    let _ = err.print();
    EXIT_USAGE
}

/// Whether the raw arguments ask for JSON output, for errors found before parsing ends.
pub fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// The message and its hint on stderr, as every failure shows them.
pub(super) fn print_human(message: &str, hint: Option<&str>) {
    let mut stderr = std::io::stderr().lock();
    // Messages carry text from the server and the token: it must not forge lines.
    let _ = writeln!(stderr, "error: {}", safe_lines(message));
    if let Some(hint) = hint {
        let _ = writeln!(stderr, "hint: {}", safe_lines(hint));
    }
}

fn print_json(doc: &serde_json::Value) {
    let text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "null".into());
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}
