#!/usr/bin/env bash
# The test command: installs what the tests need, then builds and runs every test against a
# real SoftHSM2 token and the local Dfns emulator. Works from a clean clone on Debian/Ubuntu.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh

ensure_packages softhsm2-util:softhsm2 pkcs11-tool:opensc openssl:openssl
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
if cargo tree --no-default-features -e normal -p dfns-hsm --locked \
    | grep -E '^[^a-z]*(clap|toml|rpassword|tracing-subscriber) v'; then
    echo "the library without the cli feature still depends on the crates above" >&2
    exit 1
fi

echo "== unit and integration tests" >&2
cargo test --workspace --locked

if [[ -x scripts/sdk-check.sh ]]; then
    echo "== Dfns's official SDK against the emulator" >&2
    scripts/sdk-check.sh
fi

echo "== the README's main command" >&2
scripts/demo.sh >/dev/null
echo "demo: ok" >&2

echo "== the README's try-it section, as written" >&2
scripts/readme-check.sh
