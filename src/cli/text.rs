//! Text that came from elsewhere (the Dfns API, the token) shown safely: control characters
//! are escaped, so a name holding a newline or an ESC sequence cannot forge a line of output
//! or hide the real one.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `s` with every control character (newline and ESC included) written as an escape.
pub fn safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` safe for a multi-line message: newlines stay, every other control character is escaped.
pub fn safe_lines(s: &str) -> String {
    s.split('\n').map(safe).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(safe("ops-bot é"), "ops-bot é");
        assert_eq!(safe("a\nb\u{1b}[2Kc\r"), "a\\nb\\u{1b}[2Kc\\r");
        assert_eq!(safe_lines("one\ntwo\u{1b}[31m"), "one\ntwo\\u{1b}[31m");
    }
}
