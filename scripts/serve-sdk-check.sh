#!/usr/bin/env bash
# Dfns's official SDKs signing through `dfns-hsm serve`, end to end, as CI runs it on a fresh
# Debian machine: a throwaway SoftHSM2 token holding the admin's P-256 key, a dfns-emulator
# whose admin is that key, and the service in front of the token; then
#   a. @dfns/sdk 0.8.21's DfnsApiClient with HsmRemoteSigner({ socketPath }) (clients/typescript):
#      unit tests against a fake service, the typings against the SDK's CredentialSigner, the
#      service-account lifecycle as the admin with every signature verified independently
#      (node:crypto), and the signer's errors (clients/typescript/test/sdk-check/);
#   b. the same with dfns-sdk 1.0.4's DfnsClient and dfns_hsm_signer.HsmRemoteSigner in a venv
#      (clients/python/tests/: test_signer.py, sdk_check.py);
#   c. the proxy from curl, which holds no Dfns token: serve restarted with a --config whose
#      identity has an auth_token_file and whose token-less unix client may list and create
#      service accounts only; anything else, dot segments (plain and %2e-encoded) and a
#      method-override header get 403 before anything is signed; then both adapters with
#      { url, token } over a loopback TCP listener (and 401 without or with a wrong token).
# Everything listens on loopback or on a unix socket in a private temp dir, removed on exit.
# Needs Node >= 20, npm, python3 with venv (installed with apt-get when missing), cargo, and the
# npm registry and PyPI for the SDKs.
#
#   scripts/serve-sdk-check.sh          # from anywhere; KEEP=1 keeps the temp dir
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
ts_dir="$root/clients/typescript"
py_dir="$root/clients/python"

say() { printf 'serve-sdk-check: %s\n' "$*"; }
ok() { printf 'ok - %s\n' "$*"; }
fail() {
    printf 'not ok - %s\n' "$*" >&2
    exit 1
}

# shellcheck source=scripts/lib/packages.sh
. "$root/scripts/lib/packages.sh"
ensure_packages node:nodejs npm:npm python3:python3 curl:curl jq:jq \
    softhsm2-util:softhsm2 pkcs11-tool:opensc
# Debian's python3 has the venv module but not ensurepip (what `python3 -m venv` needs) until
# python3-venv is installed.
if ! python3 -c 'import ensurepip' 2>/dev/null; then
    ensure_packages "$(python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')/ensurepip/__init__.py:python3-venv"
fi
require_cargo

node=(node)
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 20 ]]; then
    # Distributions may ship an older Node; the npm registry carries Node 20 as a package.
    say "Node $node_major found; using Node 20 from the npm registry"
    node=(npm exec --yes --package=node@20 -- node)
    [[ "$("${node[@]}" -p 'process.versions.node.split(".")[0]')" -ge 20 ]] || fail "Node 20 or newer is required"
fi

# Nothing from the caller's own Dfns or HSM setup may leak into the check.
unset DFNS_API_URL DFNS_AUTH_TOKEN DFNS_AUTH_TOKEN_FILE DFNS_CRED_ID DFNS_SIGNING_KEY \
    DFNS_HSM_CONFIG DFNS_HSM_PIN DFNS_HSM_TOKEN_SERIAL DFNS_HSM_AUDIT_LOG

say "building dfns-hsm and dfns-emulator"
cargo build --quiet -p dfns-hsm -p dfns-emulator
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
hsm_bin="$bin/dfns-hsm"
emulator_bin="$bin/dfns-emulator"
[[ -x $hsm_bin && -x $emulator_bin ]] || fail "$hsm_bin or $emulator_bin missing after cargo build"
"$hsm_bin" serve --help >/dev/null 2>&1 || fail "$hsm_bin has no serve command"
hsm() { "$hsm_bin" "$@"; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/serve-sdk-check.XXXXXX")"
chmod 700 "$tmp"
emulator_pid=""
serve_pid=""
serve_log="$tmp/serve.log"
emulator_log="$tmp/emulator.log"

# Stop one process we started: SIGTERM, up to 15 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    if [[ $rc -ne 0 ]]; then
        for log in "$serve_log" "$emulator_log"; do
            [[ -s $log ]] || continue
            echo "--- $(basename "$log") (last 40 lines) ---" >&2
            tail -n 40 "$log" >&2
        done
    fi
    stop_pid "$serve_pid"
    stop_pid "$emulator_pid"
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "SoftHSM2 token"
eval "$(scripts/setup-softhsm.sh "$tmp/hsm" serve-check 2>"$tmp/setup-softhsm.log")" ||
    { cat "$tmp/setup-softhsm.log" >&2; fail "setup-softhsm.sh failed"; }
admin_label=serve-admin
hsm key generate --label "$admin_label" >/dev/null
hsm key public-key --key "$admin_label" >"$tmp/admin.pub.pem"
grep -q 'BEGIN PUBLIC KEY' "$tmp/admin.pub.pem" || fail "no public key exported for $admin_label"
ok "P-256 admin key $admin_label generated on the HSM, public key exported"

say "dfns-emulator with the admin key on the HSM"
state="$tmp/emulator"
"$emulator_bin" --listen 127.0.0.1:0 --state-dir "$state" --admin-public-key "$tmp/admin.pub.pem" \
    --max-lifetime 900 2>"$emulator_log" &
emulator_pid=$!
for _ in $(seq 1 300); do
    [[ -s $state/ready ]] && break
    kill -0 "$emulator_pid" 2>/dev/null || fail "dfns-emulator exited before it was ready"
    sleep 0.1
done
[[ -s $state/ready ]] || fail "dfns-emulator not ready after 30 s"
api="$(cat "$state/ready")"
cred="$(cat "$state/admin.cred-id")"
[[ -n $cred && -s $state/admin.token ]] || fail "no admin.cred-id or admin.token in $state"
ok "emulator at $api, admin credential $cred"

# The socket's directory: ours, owner-only.
mkdir -m 700 "$tmp/s"
[[ $(stat -c '%u %a' "$tmp/s") == "$(id -u) 700" ]] || fail "$tmp/s is not 0700 and ours"
sock="$tmp/s/sign.sock"

# req METHOD PATH [curl args...]: one request on the socket; $status and $tmp/resp.
req() {
    local method=$1 path=$2
    shift 2
    status=$(curl -sS --unix-socket "$sock" --max-time 60 -o "$tmp/resp" -w '%{http_code}' \
        -X "$method" "$@" "http://localhost$path" 2>"$tmp/curl.err") || status=000
}

start_serve() {
    "$hsm_bin" serve "$@" 2>>"$serve_log" &
    serve_pid=$!
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$serve_pid" 2>/dev/null || {
            wait "$serve_pid" || true
            serve_pid=""
            fail "dfns-hsm serve exited before it answered /healthz"
        }
        if [[ -S $sock ]]; then
            req GET /healthz
            [[ $status == 200 ]] && break
        fi
        sleep 0.1
    done
    [[ $status == 200 ]] || fail "GET /healthz did not answer 200 within 30 s (last: $status)"
    jq -e '.status == "ok"' "$tmp/resp" >/dev/null || fail "GET /healthz body: $(cat "$tmp/resp")"
}

# SIGTERM: exit 0 within the grace and the socket removed.
stop_serve() {
    local i rc=0
    kill -TERM "$serve_pid"
    for ((i = 0; i < 150; i++)); do
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$serve_pid" 2>/dev/null && fail "dfns-hsm serve still running 15 s after SIGTERM"
    wait "$serve_pid" || rc=$?
    serve_pid=""
    [[ $rc -eq 0 ]] || fail "dfns-hsm serve exited $rc on SIGTERM (expected 0)"
    [[ ! -e $sock ]] || fail "dfns-hsm serve left $sock behind"
    ok "SIGTERM: serve exited 0 and removed its socket"
}

metric_sum() { # NAME [LABEL_TEXT]: the sum of a metric's samples (those whose labels contain LABEL_TEXT)
    curl -sS --unix-socket "$sock" --max-time 30 http://localhost/metrics |
        awk -v name="$1" -v want="${2:-}" '
            ($1 == name || index($1, name "{") == 1) && index($1, want) { s += $NF }
            END { print s + 0 }'
}

say "dfns-hsm serve --listen unix:$sock --identity $cred=$admin_label"
DFNS_API_URL="$api" start_serve --listen "unix:$sock" --identity "$cred=$admin_label"
ok "serve answers GET /healthz on unix:$sock"
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode $(stat -c %a "$sock"), expected 600 by default"
ok "socket mode 600"
req GET /readyz
[[ $status == 200 ]] && jq -e '.ready == true and (.checks | length > 0) and all(.checks[]; .ok)' "$tmp/resp" >/dev/null ||
    fail "GET /readyz: $status $(cat "$tmp/resp")"
ok "GET /readyz: ready ($(jq -r '[.checks[].name] | join(", ")' "$tmp/resp"))"

### a. TypeScript: @dfns/sdk + HsmRemoteSigner
say "TypeScript: installing @dfns/sdk 0.8.21 and ./clients/typescript (package-lock.json)"
# --install-links: the adapter is packed and copied like `npm install ./clients/typescript`,
# so only what its package.json publishes is there.
(cd "$ts_dir/test/sdk-check" && npm ci --install-links --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
    { cat "$tmp/npm.log" >&2; fail "npm ci in clients/typescript/test/sdk-check"; }
"${node[@]}" --test "$ts_dir/test/signer.test.js" >"$tmp/ts-unit.log" 2>&1 ||
    { cat "$tmp/ts-unit.log" >&2; fail "TypeScript unit tests (clients/typescript/test/signer.test.js)"; }
ok "TypeScript unit tests: $(grep -E '^# pass' "$tmp/ts-unit.log" | sed 's/^# //'), against a fake service"
(cd "$ts_dir/test/sdk-check" && "${node[@]}" node_modules/typescript/bin/tsc -p .) ||
    fail "index.d.ts does not type-check against @dfns/sdk's CredentialSigner"
ok "index.d.ts: HsmRemoteSigner is a @dfns/sdk CredentialSigner (tsc --strict)"
(cd "$ts_dir/test/sdk-check" && "${node[@]}" sdk-check.js --state-dir "$state" --socket "$sock" \
    --admin-public-key "$tmp/admin.pub.pem") || fail "TypeScript SDK check"

### b. Python: dfns-sdk + HsmRemoteSigner
say "Python: venv with dfns-sdk 1.0.4 and ./clients/python"
python3 -m venv "$tmp/venv"
export PYTHONDONTWRITEBYTECODE=1
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check dfns-sdk==1.0.4 "$py_dir" ||
    fail "pip install dfns-sdk==1.0.4 ./clients/python"
# -I: the installed package, not the source tree, is what gets imported.
"$tmp/venv/bin/python" -I -m unittest discover -s "$py_dir/tests" -p 'test_*.py' >"$tmp/py-unit.log" 2>&1 ||
    { cat "$tmp/py-unit.log" >&2; fail "Python unit tests (clients/python/tests/test_signer.py)"; }
ok "Python unit tests: $(grep -E '^Ran ' "$tmp/py-unit.log"), against a fake service"
"$tmp/venv/bin/python" -I "$py_dir/tests/sdk_check.py" --state-dir "$state" --socket "$sock" \
    --admin-public-key "$tmp/admin.pub.pem" || fail "Python SDK check"

signed_ok=$(metric_sum dfns_hsm_signatures_total "identity=\"$cred\"")
((signed_ok > 0)) || fail "GET /metrics counts no signature: $(curl -sS --unix-socket "$sock" http://localhost/metrics | grep signatures_total)"
ok "GET /metrics: dfns_hsm_signatures_total counts $signed_ok signatures by $cred"

stop_serve

### c. The proxy, from curl with no Dfns token
say "proxy: serve --config with an identity token file and a token-less unix client"
mkdir -m 700 "$tmp/cfg"
(umask 077 && cp "$state/admin.token" "$tmp/cfg/admin.token")
[[ $(stat -c %a "$tmp/cfg/admin.token") == 600 ]] || fail "admin token copy is not 0600"
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp/cfg/tcp-app.token")
audit="$tmp/cfg/audit.jsonl"
cat >"$tmp/cfg/serve.toml" <<EOF
[dfns]
api_url = "$api"
audit_log = "$audit"

[[listen]]
address = "unix:$sock"

[[listen]]
address = "tcp:127.0.0.1:0"

[[identity]]
name = "admin"
cred_id = "$cred"
key = "$admin_label"
auth_token_file = "$tmp/cfg/admin.token"

[[client]]
name = "curl"
identities = ["admin"]
allow = ["GET /auth/service-accounts", "POST /auth/service-accounts"]

[[client]]
name = "tcp-app"
token_file = "$tmp/cfg/tcp-app.token"
identities = ["admin"]
EOF
log_mark=$(wc -l <"$serve_log")
start_serve --config "$tmp/cfg/serve.toml"
tcp_addr=""
for _ in $(seq 1 100); do
    tcp_addr=$(tail -n +$((log_mark + 1)) "$serve_log" | sed -n 's/.*listening on tcp:\(127\.0\.0\.1:[0-9][0-9]*\).*/\1/p' | tail -n 1)
    [[ -n $tcp_addr ]] && break
    sleep 0.1
done
[[ -n $tcp_addr && ${tcp_addr##*:} != 0 ]] || fail "serve logged no 'listening on tcp:127.0.0.1:PORT' for tcp:127.0.0.1:0"
ok "serve up with --config (identity admin, clients curl and tcp-app; unix:$sock and tcp:$tcp_addr)"
req GET /readyz
[[ $status == 200 ]] && jq -e '.ready == true and all(.checks[]; .ok)' "$tmp/resp" >/dev/null ||
    fail "GET /readyz: $status $(cat "$tmp/resp")"
ok "GET /readyz: ready ($(jq -r '[.checks[] | .name + (if .detail then " [" + .detail + "]" else "" end)] | join(", ")' "$tmp/resp"))"

req GET /v1/dfns/auth/service-accounts
[[ $status == 200 ]] || fail "GET /v1/dfns/auth/service-accounts: $status $(cat "$tmp/resp")"
jq -e '.items | type == "array"' "$tmp/resp" >/dev/null || fail "list body: $(cat "$tmp/resp")"
ok "curl GET /v1/dfns/auth/service-accounts -> 200 ($(jq '.items | length' "$tmp/resp") accounts)"

audit_lines() { if [[ -f $audit ]]; then wc -l <"$audit"; else echo 0; fi; }
hsm key generate --label serve-curl-sa >/dev/null
hsm key public-key --key serve-curl-sa >"$tmp/curl-sa.pub.pem"
name="serve-curl-$(date +%s)"
jq -n --arg name "$name" --rawfile publicKey "$tmp/curl-sa.pub.pem" '{name: $name, publicKey: $publicKey}' >"$tmp/create.json"
req POST /v1/dfns/auth/service-accounts -H 'Content-Type: application/json' --data-binary "@$tmp/create.json"
[[ $status == 200 ]] || fail "POST /v1/dfns/auth/service-accounts: $status $(cat "$tmp/resp")"
sa_id=$(jq -r '.userInfo.userId // empty' "$tmp/resp")
[[ $sa_id == us-* ]] || fail "POST created no account: $(cat "$tmp/resp")"
# The service signed it: one audit line naming the client, the request and its body digest.
[[ $(audit_lines) -eq 1 ]] || fail "expected one audit line after the create, found $(audit_lines)"
body_sha256=$(sha256sum "$tmp/create.json" | cut -d' ' -f1)
jq -e --arg cred "$cred" --arg digest "$body_sha256" \
    '.client == "curl" and .method == "POST" and .path == "/auth/service-accounts" and .credId == $cred
     and .outcome == "ok" and .bodySha256 == $digest' "$audit" >/dev/null ||
    fail "audit line of the create: $(cat "$audit")"
# Dfns itself (the emulator, asked with the admin token) has the account.
emu_status=$(curl -sS --max-time 30 -o "$tmp/emu.json" -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$state/admin.token")" "$api/auth/service-accounts/$sa_id")
[[ $emu_status == 200 ]] && jq -e --arg name "$name" '.userInfo.name == $name and .userInfo.isActive == true' "$tmp/emu.json" >/dev/null ||
    fail "the emulator does not have $sa_id: $emu_status $(cat "$tmp/emu.json")"
ok "curl POST /v1/dfns/auth/service-accounts -> 200, $sa_id created (signed by the service: audit line for client curl, POST /auth/service-accounts, body digest)"

# expect_forbidden WHAT METHOD PATH [curl args...]
expect_forbidden() {
    local what=$1
    shift
    req "$@"
    [[ $status == 403 ]] || fail "$what: expected 403, got $status $(cat "$tmp/resp")"
    jq -e '.error.code == "forbidden"' "$tmp/resp" >/dev/null || fail "$what: 403 body $(cat "$tmp/resp")"
    ok "$what -> 403 ($(jq -r '.error.message' "$tmp/resp"))"
}
audit_before=$(audit_lines)
denials_before=$(metric_sum dfns_hsm_policy_denials_total)
expect_forbidden "GET a path outside the allow list" GET "/v1/dfns/auth/service-accounts/$sa_id"
expect_forbidden "PUT deactivate (not allowed)" PUT "/v1/dfns/auth/service-accounts/$sa_id/deactivate" \
    -H 'Content-Type: application/json' --data-binary '{}'
expect_forbidden "DELETE (archive, not allowed)" DELETE "/v1/dfns/auth/service-accounts/$sa_id"
expect_forbidden "dot segments /v1/dfns/auth/../x" GET /v1/dfns/auth/../x --path-as-is
expect_forbidden "dot segments resolving to an allowed path" GET /v1/dfns/x/../auth/service-accounts --path-as-is
expect_forbidden "encoded dot segments %2e%2e" GET /v1/dfns/auth/%2e%2e/x
expect_forbidden "encoded dot segments resolving to an allowed path" GET /v1/dfns/x/%2e%2e/auth/service-accounts
expect_forbidden "mixed-case encoded dot segments .%2E" GET /v1/dfns/x/.%2E/auth/service-accounts
expect_forbidden "method-override header on an allowed GET" GET /v1/dfns/auth/service-accounts \
    -H 'X-HTTP-Method-Override: DELETE'
audit_after=$(audit_lines)
denials_after=$(metric_sum dfns_hsm_policy_denials_total)
[[ $audit_after == "$audit_before" ]] ||
    fail "a denied request was signed: audit lines $audit_before -> $audit_after: $(tail -n +$((audit_before + 1)) "$audit")"
((denials_after > denials_before)) ||
    fail "dfns_hsm_policy_denials_total did not grow ($denials_before -> $denials_after)"
emu_status=$(curl -sS --max-time 30 -o "$tmp/emu.json" -w '%{http_code}' \
    -H "Authorization: Bearer $(cat "$state/admin.token")" "$api/auth/service-accounts/$sa_id")
[[ $emu_status == 200 ]] && jq -e '.userInfo.isActive == true' "$tmp/emu.json" >/dev/null ||
    fail "$sa_id changed although every change was denied: $emu_status $(cat "$tmp/emu.json")"
ok "denied before anything was signed (audit log unchanged at $audit_after lines, dfns_hsm_policy_denials_total $denials_before -> $denials_after, $sa_id untouched)"

say "the adapters over loopback TCP with a client token"
tcp_status=$(curl -sS --max-time 30 -o "$tmp/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary '{}' "http://$tcp_addr/v1/sign") || tcp_status=000
[[ $tcp_status == 401 ]] && jq -e '.error.code == "unauthorized"' "$tmp/resp" >/dev/null ||
    fail "POST /v1/sign over TCP without a token: expected 401, got $tcp_status $(cat "$tmp/resp")"
ok "curl POST /v1/sign over TCP without a token -> 401"
(cd "$ts_dir/test/sdk-check" && "${node[@]}" sdk-check.js --state-dir "$state" --tcp-url "http://$tcp_addr" \
    --tcp-token-file "$tmp/cfg/tcp-app.token" --admin-public-key "$tmp/admin.pub.pem") || fail "TypeScript SDK check over TCP"
"$tmp/venv/bin/python" -I "$py_dir/tests/sdk_check.py" --state-dir "$state" --tcp-url "http://$tcp_addr" \
    --tcp-token-file "$tmp/cfg/tcp-app.token" --admin-public-key "$tmp/admin.pub.pem" || fail "Python SDK check over TCP"

stop_serve
say "all checks passed"
