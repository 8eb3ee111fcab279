//! `CKR_*` return values by name, for configuration and for the stats file.

use cryptoki_sys::*;

/// Return values a fault rule may name (with or without the `CKR_` prefix).
const TABLE: &[(&str, CK_RV)] = &[
    ("OK", CKR_OK),
    ("CANCEL", CKR_CANCEL),
    ("HOST_MEMORY", CKR_HOST_MEMORY),
    ("SLOT_ID_INVALID", CKR_SLOT_ID_INVALID),
    ("GENERAL_ERROR", CKR_GENERAL_ERROR),
    ("FUNCTION_FAILED", CKR_FUNCTION_FAILED),
    ("ARGUMENTS_BAD", CKR_ARGUMENTS_BAD),
    ("ATTRIBUTE_SENSITIVE", CKR_ATTRIBUTE_SENSITIVE),
    ("ATTRIBUTE_TYPE_INVALID", CKR_ATTRIBUTE_TYPE_INVALID),
    ("ATTRIBUTE_VALUE_INVALID", CKR_ATTRIBUTE_VALUE_INVALID),
    ("DATA_INVALID", CKR_DATA_INVALID),
    ("DATA_LEN_RANGE", CKR_DATA_LEN_RANGE),
    ("DEVICE_ERROR", CKR_DEVICE_ERROR),
    ("DEVICE_MEMORY", CKR_DEVICE_MEMORY),
    ("DEVICE_REMOVED", CKR_DEVICE_REMOVED),
    ("FUNCTION_CANCELED", CKR_FUNCTION_CANCELED),
    ("FUNCTION_NOT_SUPPORTED", CKR_FUNCTION_NOT_SUPPORTED),
    ("KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID),
    ("KEY_TYPE_INCONSISTENT", CKR_KEY_TYPE_INCONSISTENT),
    ("KEY_FUNCTION_NOT_PERMITTED", CKR_KEY_FUNCTION_NOT_PERMITTED),
    ("MECHANISM_INVALID", CKR_MECHANISM_INVALID),
    ("MECHANISM_PARAM_INVALID", CKR_MECHANISM_PARAM_INVALID),
    ("OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID),
    ("OPERATION_ACTIVE", CKR_OPERATION_ACTIVE),
    ("OPERATION_NOT_INITIALIZED", CKR_OPERATION_NOT_INITIALIZED),
    ("PIN_INCORRECT", CKR_PIN_INCORRECT),
    ("PIN_EXPIRED", CKR_PIN_EXPIRED),
    ("PIN_LOCKED", CKR_PIN_LOCKED),
    ("SESSION_CLOSED", CKR_SESSION_CLOSED),
    ("SESSION_COUNT", CKR_SESSION_COUNT),
    ("SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID),
    ("SESSION_READ_ONLY", CKR_SESSION_READ_ONLY),
    ("SESSION_EXISTS", CKR_SESSION_EXISTS),
    ("SIGNATURE_INVALID", CKR_SIGNATURE_INVALID),
    ("SIGNATURE_LEN_RANGE", CKR_SIGNATURE_LEN_RANGE),
    ("TEMPLATE_INCOMPLETE", CKR_TEMPLATE_INCOMPLETE),
    ("TEMPLATE_INCONSISTENT", CKR_TEMPLATE_INCONSISTENT),
    ("TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT),
    ("TOKEN_NOT_RECOGNIZED", CKR_TOKEN_NOT_RECOGNIZED),
    ("TOKEN_WRITE_PROTECTED", CKR_TOKEN_WRITE_PROTECTED),
    ("USER_ALREADY_LOGGED_IN", CKR_USER_ALREADY_LOGGED_IN),
    ("USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN),
    ("USER_PIN_NOT_INITIALIZED", CKR_USER_PIN_NOT_INITIALIZED),
    ("USER_TYPE_INVALID", CKR_USER_TYPE_INVALID),
    ("RANDOM_NO_RNG", CKR_RANDOM_NO_RNG),
    ("BUFFER_TOO_SMALL", CKR_BUFFER_TOO_SMALL),
    ("CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED),
    (
        "CRYPTOKI_ALREADY_INITIALIZED",
        CKR_CRYPTOKI_ALREADY_INITIALIZED,
    ),
];

/// Parse `SESSION_HANDLE_INVALID`, `CKR_SESSION_HANDLE_INVALID` or a number (`0xB3`, `179`).
pub fn parse(text: &str) -> Option<CK_RV> {
    let t = text.trim();
    let bare = t
        .strip_prefix("CKR_")
        .or_else(|| t.strip_prefix("ckr_"))
        .unwrap_or(t);
    if let Some(hex) = bare.strip_prefix("0x").or_else(|| bare.strip_prefix("0X")) {
        return CK_RV::from_str_radix(hex, 16).ok();
    }
    if let Ok(n) = bare.parse::<CK_RV>() {
        return Some(n);
    }
    TABLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(bare))
        .map(|(_, rv)| *rv)
}

/// `CKR_DEVICE_ERROR`, or `CKR_0x...` for values not in the table.
pub fn name(rv: CK_RV) -> String {
    match TABLE.iter().find(|(_, v)| *v == rv) {
        Some((name, _)) => format!("CKR_{name}"),
        None => format!("CKR_{rv:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        assert_eq!(parse("SESSION_HANDLE_INVALID"), Some(0xB3));
        assert_eq!(parse("CKR_DEVICE_ERROR"), Some(0x30));
        assert_eq!(parse("device_error"), Some(0x30));
        assert_eq!(parse("0xE0"), Some(CKR_TOKEN_NOT_PRESENT));
        assert_eq!(parse("256"), Some(CKR_USER_ALREADY_LOGGED_IN));
        assert_eq!(parse("NOT_A_CODE"), None);
        assert_eq!(name(CKR_USER_NOT_LOGGED_IN), "CKR_USER_NOT_LOGGED_IN");
        assert_eq!(name(0x8000_0001), "CKR_0x80000001");
    }
}
