#!/usr/bin/env bash
# Run Dfns's official TypeScript SDK (@dfns/sdk + @dfns/sdk-keysigner, pinned in
# scripts/sdk-check/package.json) against a local dfns-emulator: build the emulator if needed,
# start it on loopback with a temp state dir, install the SDK, run the lifecycle check, stop
# the emulator. Needs Node >= 20 and npm (the npm registry must be reachable for the install).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
check_dir="$root/scripts/sdk-check"

die() { echo "sdk-check: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/packages.sh
. "$root/scripts/lib/packages.sh"
ensure_packages node:nodejs npm:npm
node=(node)
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 20 ]]; then
  # Distributions may ship an older Node; the npm registry carries Node 20 as a package.
  echo "sdk-check: Node $node_major found; using Node 20 from the npm registry"
  node=(npm exec --yes --package=node@20 -- node)
  [[ "$("${node[@]}" -p 'process.versions.node.split(".")[0]')" -ge 20 ]] || die "Node 20 or newer is required"
fi

echo "sdk-check: building dfns-emulator"
(cd "$root" && cargo build --quiet -p dfns-emulator)
bin="${CARGO_TARGET_DIR:-$root/target}/debug/dfns-emulator"
[[ -x "$bin" ]] || die "$bin missing after cargo build"

tmp="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [[ -n "$emulator_pid" ]]; then
    kill "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" --listen 127.0.0.1:0 --state-dir "$tmp/state" --max-lifetime 900 \
  --approval-required ServiceAccounts:Archive 2>"$tmp/emulator.log" &
emulator_pid=$!

for _ in $(seq 1 300); do
  [[ -s "$tmp/state/ready" ]] && break
  kill -0 "$emulator_pid" 2>/dev/null || { cat "$tmp/emulator.log" >&2; die "dfns-emulator exited before it was ready"; }
  sleep 0.1
done
[[ -s "$tmp/state/ready" ]] || die "dfns-emulator not ready after 30s"
echo "sdk-check: emulator at $(cat "$tmp/state/ready")"

echo "sdk-check: installing the Dfns SDK"
if [[ -f "$check_dir/package-lock.json" ]]; then
  (cd "$check_dir" && npm ci --no-audit --no-fund --loglevel=error)
else
  (cd "$check_dir" && npm install --no-audit --no-fund --loglevel=error)
fi

if ! "${node[@]}" "$check_dir/sdk-check.js" "$tmp/state" --expect-archive-approval; then
  echo "--- dfns-emulator log (last 40 lines) ---" >&2
  tail -n 40 "$tmp/emulator.log" >&2
  exit 1
fi
