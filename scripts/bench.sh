#!/usr/bin/env bash
# The performance benchmark (docs/PERFORMANCE.md): installs what it needs, builds everything in
# release, and runs dfns-hsm-bench, which makes a throwaway SoftHSM2 token (also served over
# p11-kit's RPC for section 3b) and a dfns-emulator on loopback, measures every goal as a
# ratio within this one run, prints the table and cleans up. Section 6 (`--only serve`) starts
# target/release/dfns-hsm serve itself on unix sockets in private temp dirs and stops it with
# SIGTERM.
#
#   scripts/bench.sh [dfns-hsm-bench options]      e.g. --only sign,pool  --json out.json
#                                                  sections: sign, pool, rpc, e2e, cold, serve
#
# Not part of scripts/test.sh. Takes about three minutes on a 2-core machine. Without Node >= 20
# and npm the official-SDK comparisons are skipped (the rest still runs).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh

ensure_packages softhsm2-util:softhsm2 pkcs11-tool:opensc /usr/bin/time:time p11-kit:p11-kit \
    "/usr/lib/$(uname -m)-linux-gnu/pkcs11/p11-kit-client.so:p11-kit-modules"
require_cargo

sdk_args=()
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]]; then
    echo "bench: installing the official Dfns SDK (npm ci)" >&2
    (cd scripts/bench-sdk && npm ci --no-audit --no-fund --loglevel=error >&2)
    sdk_args=(--sdk-script "$root/scripts/bench-sdk/bench-sdk.js")
else
    echo "bench: Node >= 20 with npm not found; the official-SDK comparison is skipped" >&2
fi

echo "bench: building in release (dfns-hsm, dfns-emulator, faulty-pkcs11, dfns-hsm-bench)" >&2
packages=(-p dfns-hsm -p dfns-emulator -p dfns-hsm-bench)
if [[ -d tests/faulty-pkcs11 ]]; then
    packages+=(-p faulty-pkcs11)
fi
cargo build --release --locked --quiet "${packages[@]}"

target="${CARGO_TARGET_DIR:-$root/target}/release"
# Every loop inside is bounded by a fixed duration or count; the temp token, state dirs and the
# emulator are removed/stopped by the benchmark itself. The timeout is a last resort.
exec timeout 900 "$target/dfns-hsm-bench" "${sdk_args[@]}" "$@"
