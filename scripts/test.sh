#!/usr/bin/env bash
# The test command: installs what the tests need, then builds and runs every test against a
# real SoftHSM2 token and the local Dfns emulator, then the HSM-facing suites on tpm2-pkcs11
# (swtpm) and on SoftHSM2 behind p11-kit (the PKCS#11 matrix). Works from a clean clone on
# Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh

ensure_packages softhsm2-util:softhsm2 pkcs11-tool:opensc openssl:openssl curl:curl
require_cargo

echo "== format and lint" >&2
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== build" >&2
# The integration tests start the emulator binary, so build the whole workspace first.
cargo build --workspace --all-targets --locked

echo "== the library without the CLI" >&2
# A library user (default-features = false) compiles none of the command line's dependencies.
cargo build --lib --no-default-features --locked
cargo clippy --lib --no-default-features --locked -- -D warnings
if cargo tree --no-default-features -e normal -p dfns-hsm --locked \
    | grep -E '^[^a-z]*(clap|toml|rpassword|tracing-subscriber) v'; then
    echo "the library without the cli feature still depends on the crates above" >&2
    exit 1
fi

echo "== unit and integration tests (SoftHSM2, directly)" >&2
cargo test --workspace --locked

# The PKCS#11 matrix: the HSM-facing suites again on tpm2-pkcs11 (swtpm) and on SoftHSM2 behind
# p11-kit's RPC. What a module lacks is skipped with its reason, listed after each run.
MATRIX_SUITES=(--test hsm_signer --test cli_key --test cli_service_account --test api_emulator
    --test key_boundary --test token_object --test cli_rotate --test serve)
MATRIX_DIR=$(mktemp -d /tmp/dfns-matrix.XXXXXX)
cleanup_matrix() {
    scripts/setup-tpm.sh stop "$MATRIX_DIR/tpm" 2>/dev/null || true
    rm -rf "$MATRIX_DIR"
}
trap cleanup_matrix EXIT

# run_matrix NAME [TEST ARGS...]: the suites with DFNS_TEST_PKCS11=NAME, skips listed.
run_matrix() {
    local name=$1 log="$MATRIX_DIR/$1.log" started=$SECONDS
    shift
    echo "== the HSM-facing suites on $name" >&2
    if ! DFNS_TEST_PKCS11=$name cargo test --locked "${MATRIX_SUITES[@]}" -- --nocapture "$@" \
        >"$log" 2>&1; then
        cat "$log" >&2
        echo "the suites failed on $name (log above)" >&2
        return 1
    fi
    grep -E '^test result:' "$log" >&2
    grep -oE 'skipped [^:]+: .*' "$log" | sort -u | sed 's/^/  /' >&2 || true
    echo "$name: $((SECONDS - started)) s" >&2
}

# tpm2-pkcs11 on swtpm: one TPM stack for every test process (each makes its own store and
# token on it), stopped by the trap above.
eval "$(scripts/setup-tpm.sh start "$MATRIX_DIR/tpm")"
# tpm2-pkcs11 1.9 fails concurrent object creation in one process ("database is locked" in its
# sqlite store, CKR_GENERAL_ERROR), so its tests run one at a time.
run_matrix tpm2 --test-threads=1
scripts/setup-tpm.sh stop "$MATRIX_DIR/tpm"

# SoftHSM2 behind p11-kit server / p11-kit-client.so: the test kit starts one server per test
# process, stopped by a watchdog when that process ends.
ensure_packages p11-kit:p11-kit "/usr/lib/$(uname -m)-linux-gnu/pkcs11/p11-kit-client.so:p11-kit-modules"
run_matrix p11kit

if [[ -x scripts/sdk-check.sh ]]; then
    echo "== Dfns's official SDK against the emulator" >&2
    scripts/sdk-check.sh
fi

echo "== Dfns's official TypeScript and Python SDKs signing through dfns-hsm serve" >&2
scripts/serve-sdk-check.sh

echo "== the README's main command" >&2
scripts/demo.sh >/dev/null
echo "demo: ok" >&2

echo "== the README's try-it section, as written" >&2
scripts/readme-check.sh
