//! Sections 1 and 2: raw `C_Sign` through cryptoki alone, and `HsmSigner::sign` through
//! dfns-hsm, at equal concurrency on the same token, in alternating rounds.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::slot::Slot;
use dfns_hsm::hsm::{Algorithm, Key, Module};
use dfns_hsm::signer::{client_data_bytes, HsmSigner, Signer as _, UserActionChallenge};
use sha2::{Digest as _, Sha256};

use crate::stats::Rate;

/// A challenge shaped like the emulator's (base64url of a `ch-...` id).
pub const CHALLENGE: &str = "Y2gtN3F2cDEtbmszYmQtMmE0azdqOWZsM2dxZG1zdQ";
/// Credential id the benchmark signers use.
pub const CRED_ID: &str = "Y3ItYmVuY2gtY3JlZGVudGlhbA";

/// What raw `C_Sign` signs: the same bytes the signer hands to the token for this algorithm.
fn raw_input(algorithm: Algorithm) -> (Mechanism<'static>, Vec<u8>) {
    let data = client_data_bytes(CHALLENGE);
    match algorithm {
        Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 => {
            (Mechanism::Ecdsa, Sha256::digest(&data).to_vec())
        }
        Algorithm::Ed25519 => (
            Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            data,
        ),
        Algorithm::Rsa2048 | Algorithm::Rsa3072 => (Mechanism::Sha256RsaPkcs, data),
    }
}

/// Raw `C_Sign` with `threads` threads, each on its own session, for `duration`.
/// Uses only cryptoki (its `sign`: two `C_Sign` calls, length then signature); the context and
/// slot are the ones the token is already logged in on (PKCS#11 logins are per application, so
/// every new session is logged in).
pub fn raw(
    ctx: &Pkcs11,
    slot: Slot,
    label: &str,
    algorithm: Algorithm,
    threads: usize,
    duration: Duration,
) -> Rate {
    raw_with(ctx, slot, label, algorithm, threads, duration, None)
}

/// The signature size of `algorithm` (what a one-call `C_Sign` allocates).
pub fn signature_len(algorithm: Algorithm) -> usize {
    match algorithm {
        Algorithm::EcdsaP256 | Algorithm::EcdsaSecp256k1 | Algorithm::Ed25519 => 64,
        Algorithm::Rsa2048 => 256,
        Algorithm::Rsa3072 => 384,
    }
}

/// Raw *one-call* `C_Sign`: `C_SignInit` and a single `C_Sign` into a buffer of the known
/// size, through `Module::sign` (the thinnest path to the initialized instance's `C_Sign`; no
/// signer code: no pool, no hashing in the loop, no DER, no self-check).
pub fn raw_one_call(
    module: &Arc<Module>,
    slot: Slot,
    label: &str,
    algorithm: Algorithm,
    threads: usize,
    duration: Duration,
) -> Rate {
    raw_with(
        module.ctx(),
        slot,
        label,
        algorithm,
        threads,
        duration,
        Some(Arc::clone(module)),
    )
}

fn raw_with(
    ctx: &Pkcs11,
    slot: Slot,
    label: &str,
    algorithm: Algorithm,
    threads: usize,
    duration: Duration,
    one_call: Option<Arc<Module>>,
) -> Rate {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let ctx = ctx.clone();
            let barrier = Arc::clone(&barrier);
            let label = label.to_owned();
            let one_call = one_call.clone();
            std::thread::spawn(move || {
                let session = ctx.open_rw_session(slot).expect("raw: C_OpenSession");
                let found = session
                    .find_objects(&[
                        Attribute::Class(ObjectClass::PRIVATE_KEY),
                        Attribute::Label(label.into_bytes()),
                    ])
                    .expect("raw: C_FindObjects");
                let key = *found
                    .first()
                    .expect("raw: the benchmark key is on the token");
                let (mechanism, input) = raw_input(algorithm);
                barrier.wait();
                let started = Instant::now();
                let mut ops = 0u64;
                while started.elapsed() < duration {
                    let sig = match &one_call {
                        Some(m) => m
                            .sign(&session, &mechanism, key, &input, signature_len(algorithm))
                            .expect("raw: one-call C_Sign"),
                        None => session.sign(&mechanism, key, &input).expect("raw: C_Sign"),
                    };
                    std::hint::black_box(sig);
                    ops += 1;
                }
                Rate {
                    ops,
                    elapsed: started.elapsed(),
                }
            })
        })
        .collect();
    barrier.wait();
    combine(handles.into_iter().map(|h| h.join().expect("raw thread")))
}

/// `HsmSigner::sign` (clientData, hash, C_Sign, DER, self-verify, assertion) from `tasks`
/// concurrent tasks for `duration`.
pub fn signer(
    rt: &tokio::runtime::Runtime,
    key: &Arc<Key>,
    tasks: usize,
    duration: Duration,
) -> Rate {
    let signer = HsmSigner::new(Arc::clone(key), CRED_ID).expect("HsmSigner::new");
    signer_rate(rt, &signer, tasks, duration)
}

/// Run `tasks` concurrent signing loops on `signer` for `duration`.
pub fn signer_rate(
    rt: &tokio::runtime::Runtime,
    signer: &HsmSigner,
    tasks: usize,
    duration: Duration,
) -> Rate {
    let challenge = UserActionChallenge::for_key(CHALLENGE, "ci-bench", CRED_ID);
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let signer = signer.clone();
                let challenge = challenge.clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    let started = Instant::now();
                    let mut ops = 0u64;
                    while started.elapsed() < duration {
                        let a = signer.sign(&challenge).await.expect("HsmSigner::sign");
                        std::hint::black_box(a);
                        ops += 1;
                    }
                    Rate {
                        ops,
                        elapsed: started.elapsed(),
                    }
                })
            })
            .collect();
        let mut rates = Vec::new();
        for h in handles {
            rates.push(h.await.expect("signer task"));
        }
        combine(rates.into_iter())
    })
}

/// Total operations over the longest elapsed time of parallel workers.
fn combine(rates: impl Iterator<Item = Rate>) -> Rate {
    rates.fold(Rate::default(), |acc, r| Rate {
        ops: acc.ops + r.ops,
        elapsed: acc.elapsed.max(r.elapsed),
    })
}

/// Where one signature's time goes, at concurrency 1: mean microseconds per call of each layer.
#[derive(Debug, Clone, Copy)]
pub struct Breakdown {
    /// Raw `C_Sign` through cryptoki.
    pub raw_us: f64,
    /// `Key::sign`: pool checkout, C_Sign, DER.
    pub key_sign_us: f64,
    /// `PublicKey::verify` of one signature (the self-check).
    pub verify_us: f64,
    /// `HsmSigner::sign_bytes_blocking`: Key::sign + self-check.
    pub sign_bytes_us: f64,
    /// `HsmSigner::sign` from an async task: the above + clientData, spawn_blocking, assertion.
    pub signer_us: f64,
}

/// Measure each layer for `duration`, one after the other, on one thread or task.
pub fn breakdown(
    rt: &tokio::runtime::Runtime,
    ctx: &Pkcs11,
    slot: Slot,
    key: &Arc<Key>,
    label: &str,
    duration: Duration,
) -> Breakdown {
    let per_op = |mut f: Box<dyn FnMut() + '_>| {
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < duration {
            f();
            n += 1;
        }
        started.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let algorithm = key.algorithm();
    let raw_us = 1e6 / raw(ctx, slot, label, algorithm, 1, duration).per_sec();
    let data = client_data_bytes(CHALLENGE);
    let key_sign_us = per_op(Box::new(|| {
        std::hint::black_box(key.sign(&data).expect("Key::sign"));
    }));
    let public = dfns_hsm::signer::PublicKey::from_spki_der(key.info().spki_der())
        .expect("parse the public key");
    let sig = key.sign(&data).expect("Key::sign");
    let verify_us = per_op(Box::new(|| {
        public.verify(&data, &sig).expect("verify");
    }));
    let signer = HsmSigner::new(Arc::clone(key), CRED_ID).expect("HsmSigner::new");
    let sign_bytes_us = per_op(Box::new(|| {
        std::hint::black_box(signer.sign_bytes_blocking(&data).expect("sign_bytes"));
    }));
    let signer_us = 1e6 / signer_rate(rt, &signer, 1, duration).per_sec();
    Breakdown {
        raw_us,
        key_sign_us,
        verify_us,
        sign_bytes_us,
        signer_us,
    }
}
