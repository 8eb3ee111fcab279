//! The clientData bytes of a Key assertion.
//!
//! Dfns's docs require compact JSON with sorted keys; every official SDK's output is accepted as
//! long as the signature covers the submitted bytes, so the sorted form is the safe one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

/// `type` of an assertion over a user-action challenge.
pub const KEY_GET: &str = "key.get";

#[derive(Serialize)]
struct ClientData<'a> {
    // Field order is the serialization order: alphabetical, as Dfns documents.
    challenge: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

/// The exact bytes `{"challenge":"<c>","type":"key.get"}` (JSON-escaped, compact).
pub fn client_data_bytes(challenge: &str) -> Vec<u8> {
    let data = ClientData {
        challenge,
        kind: KEY_GET,
    };
    // Serializing two string fields cannot fail; fall back to an empty body rather than panic.
    serde_json::to_vec(&data).unwrap_or_default()
}

/// base64url without padding, the encoding Dfns uses for clientData and signatures.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known-answer vector, computed independently with two other implementations.
    #[test]
    fn matches_the_known_vector() {
        let c = "Y2gtNzloaHQtbXJlb2stOGFwOHFtMmVpZWZ0amxhZw";
        let bytes = client_data_bytes(c);
        assert_eq!(
            bytes,
            br#"{"challenge":"Y2gtNzloaHQtbXJlb2stOGFwOHFtMmVpZWZ0amxhZw","type":"key.get"}"#
        );
        assert_eq!(
            b64url(&bytes),
            "eyJjaGFsbGVuZ2UiOiJZMmd0Tnpsb2FIUXRiWEpsYjJzdE9HRndPSEZ0TW1WcFpXWjBhbXhoWnciLCJ0eXBlIjoia2V5LmdldCJ9"
        );
    }

    #[test]
    fn escapes_quotes_in_the_challenge() {
        assert_eq!(
            client_data_bytes("a\"b"),
            br#"{"challenge":"a\"b","type":"key.get"}"#
        );
    }

    #[test]
    fn no_padding() {
        assert_eq!(b64url(b"a"), "YQ");
    }
}
