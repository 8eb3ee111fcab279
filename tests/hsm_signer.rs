//! The HSM signer against a real SoftHSM2 token: every algorithm, independent verification,
//! key safety, concurrency, and the failure paths of the library.

use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use dfns_hsm::hsm::{Algorithm, Error as HsmError, Key, KeySelector};
use dfns_hsm::signer::{client_data_bytes, HsmSigner, Signer, SignerError, UserActionChallenge};
use testkit::verify::{b64url_decode, openssl_verify, verify_p256};
use testkit::{token, unique_label};

/// Ed25519 where the module has it (a second algorithm family besides P-256), else RSA-2048;
/// the skip is printed.
fn second_algorithm(test: &str) -> Algorithm {
    if token().require(&format!("{test} (ed25519 part)"), Algorithm::Ed25519) {
        Algorithm::Ed25519
    } else {
        Algorithm::Rsa2048
    }
}

fn challenge(cred: &str) -> UserActionChallenge {
    UserActionChallenge::for_key("Y2gtdGVzdC1jaGFsbGVuZ2U", "chid", cred)
}

#[tokio::test]
async fn every_algorithm_signs_and_an_independent_verifier_accepts() {
    let t = token();
    let tok = t.open();
    for alg in Algorithm::ALL {
        if !t.require(&format!("every_algorithm_signs ({alg})"), alg) {
            continue;
        }
        let label = unique_label(alg.name());
        let key = Arc::new(Key::generate(&tok, &label, alg).expect("generate"));
        let signer = HsmSigner::new(Arc::clone(&key), "cred-1").expect("signer");
        let ff = signer.sign(&challenge("cred-1")).await.expect("sign");
        let a = ff.assertion();
        assert_eq!(a.cred_id, "cred-1");
        let client_data = b64url_decode(&a.client_data);
        assert_eq!(client_data, client_data_bytes("Y2gtdGVzdC1jaGFsbGVuZ2U"));
        assert_eq!(
            client_data,
            br#"{"challenge":"Y2gtdGVzdC1jaGFsbGVuZ2U","type":"key.get"}"#.to_vec()
        );
        let sig = b64url_decode(&a.signature);
        match alg {
            Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => {
                assert_eq!(
                    sig[0], 0x30,
                    "{alg}: ECDSA signature must be a DER SEQUENCE"
                );
                assert!(
                    sig.len() <= 72 && sig.len() >= 8,
                    "{alg}: DER length {}",
                    sig.len()
                );
            }
            Algorithm::Ed25519 => assert_eq!(sig.len(), 64),
            Algorithm::Rsa2048 => assert_eq!(sig.len(), 256),
            Algorithm::Rsa3072 => assert_eq!(sig.len(), 384),
        }
        let pem = signer.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
        assert!(
            openssl_verify(t.path(), alg, pem, &client_data, &sig),
            "{alg}: openssl rejects the signature"
        );
        // And it really is over those bytes: a different message must fail.
        assert!(
            !openssl_verify(t.path(), alg, pem, b"other bytes", &sig),
            "{alg}"
        );
    }
}

#[test]
fn generated_keys_are_sensitive_never_extractable_and_sign_only() {
    let t = token();
    let tok = t.open();
    let label = unique_label("attrs");
    let key = Key::generate(&tok, &label, Algorithm::EcdsaP256).expect("generate");
    let a = &key.info().attributes;
    assert_eq!(a.sensitive, Some(true));
    assert_eq!(a.extractable, Some(false));
    assert_eq!(a.never_extractable, Some(true));
    assert_eq!(a.always_sensitive, Some(true));
    assert_eq!(a.sign, Some(true));
    assert_eq!(a.decrypt, Some(false));
    assert_eq!(a.derive, Some(false));
    assert!(a.unsafe_reasons().is_empty());

    // Reading the private value through PKCS#11 must fail (the token withholds it).
    let id = key.info().id_bytes();
    let withheld = tok
        .with_session(|s, _| {
            let h = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Id(id.clone()),
                ])
                .map_err(|e| HsmError::pkcs11("find", e))?;
            let info = s
                .get_attribute_info(h[0], &[AttributeType::Value])
                .map_err(|e| HsmError::pkcs11("info", e))?;
            let values = s
                .get_attributes(h[0], &[AttributeType::Value])
                .map_err(|e| HsmError::pkcs11("get", e))?;
            Ok((format!("{info:?}"), values))
        })
        .expect("query");
    // SoftHSM2 has the attribute and withholds it (sensitive); a TPM key has no private
    // value to hold at all (tpm2-pkcs11 answers that the attribute does not exist).
    let expected = if t.implementation == testkit::Implementation::Tpm2 {
        "TypeInvalid"
    } else {
        "Sensitive"
    };
    assert!(
        withheld.0.contains(expected),
        "CKA_VALUE info on {}: {}",
        t.implementation,
        withheld.0
    );
    assert!(
        withheld.1.is_empty(),
        "CKA_VALUE was returned: {:?}",
        withheld.1.len()
    );
}

#[test]
fn exported_pem_equals_what_pkcs11_tool_reads() {
    let t = token();
    let tok = t.open();
    for alg in Algorithm::ALL {
        if !t.require(
            &format!("exported_pem_equals_what_pkcs11_tool_reads ({alg})"),
            alg,
        ) {
            continue;
        }
        let label = unique_label("export");
        let key = Key::generate(&tok, &label, alg).expect("generate");
        let out = t.dir.path().join(format!("{label}.pub"));
        let (ok, _, err) = testkit::run(
            t.pkcs11_tool()
                .args(["--read-object", "--type", "pubkey", "--id", &key.info().id])
                .arg("-o")
                .arg(&out),
        );
        assert!(ok, "pkcs11-tool: {err}");
        let raw = std::fs::read(&out).expect("read");
        // pkcs11-tool writes SPKI DER for EC/RSA and PEM for EdDSA; normalise both to PEM.
        let theirs = if raw.starts_with(b"-----BEGIN") {
            String::from_utf8(raw).expect("utf8")
        } else {
            let (ok, pem, err) = testkit::run(
                std::process::Command::new("openssl")
                    .args(["pkey", "-pubin", "-inform", "DER", "-in"])
                    .arg(&out),
            );
            assert!(ok, "openssl: {err}");
            pem
        };
        let ours = key.info().public_key_pem.clone().expect("pem");
        assert_eq!(ours.trim(), theirs.trim(), "{alg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_signatures_from_eight_tasks_all_verify() {
    let t = token();
    let tok = t.open();
    let key =
        Arc::new(Key::generate(&tok, &unique_label("conc"), Algorithm::EcdsaP256).expect("gen"));
    let spki = key.info().spki_der().to_vec();
    let signer = Arc::new(HsmSigner::new(key, "cred-c").expect("signer"));
    let mut tasks = Vec::new();
    for task in 0..8 {
        let signer = Arc::clone(&signer);
        let spki = spki.clone();
        tasks.push(tokio::spawn(async move {
            let mut verified = 0;
            for i in 0..125 {
                let c = UserActionChallenge::for_key(&format!("ch-{task}-{i}"), "id", "cred-c");
                let ff = signer.sign(&c).await.expect("sign");
                let a = ff.assertion();
                let data = b64url_decode(&a.client_data);
                assert_eq!(data, client_data_bytes(&format!("ch-{task}-{i}")));
                if verify_p256(&spki, &data, &b64url_decode(&a.signature)) {
                    verified += 1;
                }
            }
            verified
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    assert_eq!(total, 1000);
}

#[tokio::test]
async fn a_cred_id_outside_allow_credentials_is_refused() {
    let t = token();
    let tok = t.open();
    let key = Arc::new(
        Key::generate(
            &tok,
            &unique_label("allow"),
            second_algorithm("a_cred_id_outside_allow_credentials_is_refused"),
        )
        .expect("gen"),
    );
    let signer = HsmSigner::new(key, "mine").expect("signer");
    let err = signer.sign(&challenge("someone-else")).await.unwrap_err();
    assert!(
        matches!(err, SignerError::CredentialNotAllowed { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("\"mine\"") && msg.contains("someone-else"),
        "{msg}"
    );
}

#[test]
fn an_existing_label_is_refused_and_nothing_is_created() {
    let t = token();
    let tok = t.open();
    let label = unique_label("dup");
    Key::generate(&tok, &label, Algorithm::EcdsaP256).expect("first");
    let other = second_algorithm("an_existing_label_is_refused_and_nothing_is_created");
    let err = Key::generate(&tok, &label, other).unwrap_err();
    assert!(matches!(err, HsmError::KeyExists { .. }), "{err}");
    let count = tok
        .with_session(|s, _| {
            s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
                .map_err(|e| HsmError::pkcs11("find", e))
        })
        .expect("find")
        .len();
    assert_eq!(count, 2, "one public + one private object, no more");
}

#[test]
fn a_missing_key_names_the_key_and_the_token() {
    let tok = token().open();
    let err = Key::find(&tok, KeySelector::Label("no-such-key".into())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HsmError::KeyNotFound { .. }));
    assert!(
        msg.contains("no-such-key") && msg.contains(&format!("{:?}", tok.label())),
        "{msg}"
    );
    // A library error states facts; the CLI adds the command to run (tests/cli_key.rs).
    assert!(!msg.contains("dfns-hsm "), "{msg}");
}

#[test]
fn key_ids_have_the_configured_length() {
    use dfns_hsm::hsm::{Module, PinSource, Token, TokenOptions, TokenSelector};
    let t = token();
    let module = Module::load(&t.module, None).expect("module");
    let tok = Token::open(
        module,
        &TokenSelector::Label(testkit::LABEL.into()),
        &PinSource::File(t.pin_file.clone()),
        TokenOptions {
            key_id_bytes: 2,
            ..TokenOptions::default()
        },
    )
    .expect("open");
    let key = Key::generate(&tok, &unique_label("short-id"), Algorithm::EcdsaP256).expect("gen");
    assert_eq!(key.info().id_bytes().len(), 2, "{}", key.info().id);
    let default = Key::generate(
        &token().open(),
        &unique_label("long-id"),
        second_algorithm("key_ids_have_the_configured_length"),
    )
    .expect("gen");
    assert_eq!(default.info().id_bytes().len(), 16);
}

#[test]
fn signatures_take_one_c_sign_through_the_initialized_instance() {
    // p11-kit's client hands out a new, uninitialized instance per C_GetFunctionList; the
    // one-call path must use the instance cryptoki initialized, and must exist on every
    // implementation of the matrix (else the latency of each signature doubles on an RPC hop).
    let t = token();
    let tok = t.open();
    assert!(
        tok.module().one_call_sign(),
        "no one-call C_Sign on {} (cryptoki's function list not found)",
        t.implementation
    );
    let key = Key::generate(&tok, &unique_label("one-call"), Algorithm::EcdsaP256).expect("gen");
    let sig = key
        .sign(b"one call")
        .expect("sign through the initialized instance");
    assert_eq!(sig[0], 0x30, "ECDSA as DER");
    let pem = key.info().public_key_pem.clone().expect("pem");
    assert!(
        openssl_verify(t.path(), Algorithm::EcdsaP256, &pem, b"one call", &sig),
        "openssl rejects the signature"
    );
}
