//! Hostile input never panics and never gets through: PEM keys, challenges, API responses and
//! error bodies from arbitrary bytes. (URI, EC point and DER conversions have their own
//! property tests next to the code.)

use dfns_hsm::api::{parse_error_body, ServiceAccount, ServiceAccountList};
use dfns_hsm::signer::{PublicKey, SoftwareSigner, UserActionChallenge};
use proptest::prelude::*;

/// A real P-256 SPKI PEM (fixed scalar).
fn p256_spki() -> String {
    use p256::pkcs8::EncodePublicKey as _;
    p256::SecretKey::from_slice(&[7u8; 32])
        .expect("scalar")
        .public_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .expect("pem")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn pem_public_keys_from_arbitrary_text_never_panic(s in ".{0,400}") {
        let _ = PublicKey::from_spki_pem(&s);
        let _ = SoftwareSigner::from_pem(&s, "c", "prop");
    }

    #[test]
    fn the_fixture_is_a_key(_x in 0..1u8) {
        prop_assert!(PublicKey::from_spki_pem(&p256_spki()).is_ok());
    }

    #[test]
    fn a_corrupted_pem_is_rejected_or_still_the_same_key(pos in 27usize..150, byte in any::<u8>()) {
        let mut bytes = p256_spki().into_bytes();
        let pos = pos.min(bytes.len() - 1);
        bytes[pos] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            if let Ok(k) = PublicKey::from_spki_pem(&text) {
                // Parsing succeeded only if the key material is still a valid P-256 point.
                prop_assert_eq!(k.algorithm().name(), "ecdsa-p256");
            }
        }
    }

    #[test]
    fn der_public_keys_from_arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = PublicKey::from_spki_der(&b);
    }

    #[test]
    fn signatures_from_arbitrary_bytes_never_verify(sig in proptest::collection::vec(any::<u8>(), 0..600)) {
        let k = PublicKey::from_spki_pem(&p256_spki()).expect("fixture");
        prop_assert!(k.verify(b"message", &sig).is_err());
    }

    #[test]
    fn api_responses_from_arbitrary_text_never_panic(s in ".{0,300}") {
        let _ = serde_json::from_str::<ServiceAccount>(&s);
        let _ = serde_json::from_str::<ServiceAccountList>(&s);
        let _ = serde_json::from_str::<UserActionChallenge>(&s);
        let (_, message) = parse_error_body(500, s.as_bytes());
        prop_assert!(message.len() <= 2048);
    }

    #[test]
    fn api_responses_from_arbitrary_json_never_panic(v in arb_json()) {
        let text = v.to_string();
        let _ = serde_json::from_str::<ServiceAccount>(&text);
        let _ = serde_json::from_str::<ServiceAccountList>(&text);
        let _ = serde_json::from_str::<UserActionChallenge>(&text);
        let _ = parse_error_body(400, text.as_bytes());
    }

    #[test]
    fn error_bodies_keep_the_dfns_message(msg in "[a-zA-Z0-9 .:-]{1,80}", id in "[a-z0-9-]{1,20}") {
        let body = serde_json::json!({"error": {"id": id, "status": 400, "message": msg}}).to_string();
        let (got_id, got_msg) = parse_error_body(400, body.as_bytes());
        prop_assert_eq!(got_id.as_deref(), Some(id.as_str()));
        prop_assert_eq!(got_msg, msg);
    }
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("userInfo".to_owned()),
            Just("userId".to_owned()),
            Just("accessTokens".to_owned()),
            Just("accessToken".to_owned()),
            Just("items".to_owned()),
            Just("challenge".to_owned()),
            Just("challengeIdentifier".to_owned()),
            Just("allowCredentials".to_owned()),
            Just("key".to_owned()),
            Just("error".to_owned()),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
