//! A JSON request body, serialized exactly once.
//!
//! The same bytes are sent as the HTTP body and signed as `userActionPayload`, so a body is
//! kept as the final JSON text from the moment it is built.

use serde::Serialize;

/// A JSON request body in its final serialized form.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestBody {
    json: String,
}

impl RequestBody {
    /// Serialize a value (compact JSON).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, String> {
        serde_json::to_string(value)
            .map(|json| Self { json })
            .map_err(|e| format!("cannot serialize the request body: {e}"))
    }

    /// Use JSON text as given, byte for byte (e.g. from `--data @file`); it must parse as JSON.
    ///
    /// Surrounding whitespace (a file's trailing newline) is trimmed; nothing else changes.
    pub fn raw(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        let json = text.trim();
        serde_json::from_str::<serde::de::IgnoredAny>(json)
            .map_err(|e| format!("the request body is not valid JSON: {e}"))?;
        Ok(Self {
            json: json.to_owned(),
        })
    }

    /// The JSON text: the HTTP body and the `userActionPayload`.
    pub fn as_str(&self) -> &str {
        &self.json
    }
}

impl From<serde_json::Value> for RequestBody {
    fn from(value: serde_json::Value) -> Self {
        // `Value`'s Display is its compact serialization and cannot fail.
        Self {
            json: value.to_string(),
        }
    }
}

impl From<&serde_json::Value> for RequestBody {
    fn from(value: &serde_json::Value) -> Self {
        Self {
            json: value.to_string(),
        }
    }
}

// Bodies can carry secrets (e.g. a private key in some endpoints): print only their size.
impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestBody({} bytes)", self.json.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_is_kept_byte_for_byte() {
        let text = "{ \"b\": 1,  \"a\": [1, 2] }\n";
        let body = RequestBody::raw(text).expect("json");
        assert_eq!(body.as_str(), "{ \"b\": 1,  \"a\": [1, 2] }");
        assert!(RequestBody::raw("{not json").is_err());
        assert!(RequestBody::raw("").is_err());
    }

    #[test]
    fn values_are_compact() {
        let body = RequestBody::from(serde_json::json!({"name": "x", "n": 1}));
        assert_eq!(body.as_str(), r#"{"n":1,"name":"x"}"#);
        assert_eq!(format!("{body:?}"), "RequestBody(18 bytes)");
    }
}
