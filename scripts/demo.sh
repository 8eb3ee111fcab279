#!/usr/bin/env bash
# The main job, end to end: a SoftHSM2 token, the local Dfns emulator whose admin key lives
# on the token, a permission for the new account, a second HSM-resident key enrolled as a
# service account holding it, the account's lifecycle, and calls signed by the account's own
# HSM key. Cleans up after itself.
#
#   scripts/demo.sh                 # everything local (emulator), nothing to configure
#
# Against the live Dfns API instead of the emulator, give an admin identity (the key may be
# a pkcs11: URI, a label on the demo token, or file:PATH for a PEM admin key):
#
#   DFNS_API_URL=https://api.dfns.io DFNS_AUTH_TOKEN_FILE=admin.token \
#   DFNS_CRED_ID=<admin credId> DFNS_SIGNING_KEY=file:admin.key.pem scripts/demo.sh
#
# KEEP=1 keeps the work directory (token, emulator state, service-account token).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/packages.sh
. scripts/lib/packages.sh

ensure_packages softhsm2-util:softhsm2 pkcs11-tool:opensc jq:jq
require_cargo

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

say "build"
cargo build --workspace --bins --locked >&2
BIN=$PWD/target/debug
hsm() { "$BIN/dfns-hsm" "$@"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dfns-hsm-demo.XXXXXX")
EMULATOR_PID=
cleanup() {
    [[ -n $EMULATOR_PID ]] && kill "$EMULATOR_PID" 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

say "SoftHSM2 token"
eval "$(scripts/setup-softhsm.sh "$WORK/hsm" dfns-demo)"
hsm token list | head -2

LIVE=0
if [[ -n ${DFNS_API_URL:-} ]]; then
    LIVE=1
    : "${DFNS_CRED_ID:?set DFNS_CRED_ID to the admin credential id for the live API}"
    : "${DFNS_SIGNING_KEY:?set DFNS_SIGNING_KEY to the admin key for the live API}"
    say "live API at $DFNS_API_URL"
else
    say "admin key on the HSM, and the local Dfns emulator"
    hsm key generate --label demo-admin | head -2
    hsm key public-key --key demo-admin >"$WORK/admin.pub.pem"
    "$BIN/dfns-emulator" --listen 127.0.0.1:0 --state-dir "$WORK/emulator" \
        --admin-public-key "$WORK/admin.pub.pem" --max-lifetime 900 2>"$WORK/emulator.log" &
    EMULATOR_PID=$!
    for _ in $(seq 100); do
        [[ -s $WORK/emulator/ready ]] && break
        kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log" >&2; exit 1; }
        sleep 0.1
    done
    [[ -s $WORK/emulator/ready ]] || { echo "error: the emulator did not start" >&2; exit 1; }
    export DFNS_API_URL DFNS_AUTH_TOKEN_FILE DFNS_CRED_ID DFNS_SIGNING_KEY
    DFNS_API_URL=$(cat "$WORK/emulator/ready")
    DFNS_AUTH_TOKEN_FILE=$WORK/emulator/admin.token
    DFNS_CRED_ID=$(cat "$WORK/emulator/admin.cred-id")
    DFNS_SIGNING_KEY=demo-admin
    echo "emulator at $DFNS_API_URL, admin credential $DFNS_CRED_ID (key demo-admin on the HSM)"
fi

NAME=demo-bot-$(date +%s)
say "a permission for the account: read service accounts and update them"
# A new service account holds no permission until one is assigned (Dfns's current rule).
hsm --output json permission create --name "$NAME-ops" \
    --operation Auth:ServiceAccounts:Read Auth:ServiceAccounts:Update >"$WORK/permission.json"
PERMISSION=$(jq -r .id "$WORK/permission.json")
jq '{id, name, operations}' "$WORK/permission.json"

say "enroll an HSM-resident key as service account $NAME, holding $PERMISSION"
hsm --output json service-account enroll --name "$NAME" --key-label demo-bot \
    --days-valid 30 --external-id "$NAME" --permission-id "$PERMISSION" \
    --token-out "$WORK/$NAME.token" >"$WORK/enroll.json"
jq . "$WORK/enroll.json"
ID=$(jq -r .serviceAccountId "$WORK/enroll.json")
CRED=$(jq -r .credId "$WORK/enroll.json")
URI=$(jq -r .keyUri "$WORK/enroll.json")

say "lifecycle, as the admin"
hsm service-account list | grep -F "$ID"
hsm service-account update "$ID" --name "$NAME-renamed" | head -1
hsm service-account deactivate "$ID" | head -1
hsm service-account activate "$ID" | head -1
hsm service-account get "$ID" | head -1

say "calls as the service account, signed by its own HSM key"
# The account's identity: its token, its credential, its key on the HSM.
as_account() {
    DFNS_AUTH_TOKEN_FILE=$WORK/$NAME.token DFNS_CRED_ID=$CRED DFNS_SIGNING_KEY=$URI hsm "$@"
}
as_account service-account list | grep -F "$ID"
as_account --output json service-account update "$ID" --external-id "$NAME-by-itself" >"$WORK/self.json"
jq '.userInfo | {userId, name, externalId, permissions: [.permissionAssignments[].permissionName]}' "$WORK/self.json"

say "archive the account and its permission"
hsm service-account archive "$ID" --force | head -1
hsm permission archive "$PERMISSION" | head -1

say "summary"
cat <<SUMMARY
service account : $ID
permission      : $PERMISSION (Auth:ServiceAccounts:Read, Auth:ServiceAccounts:Update)
credential id   : $CRED
key URI         : $URI
token file      : $WORK/$NAME.token (mode $(stat -c %a "$WORK/$NAME.token"), deleted on exit unless KEEP=1)
API             : $DFNS_API_URL$([[ $LIVE == 1 ]] && echo " (live)" || echo " (local emulator)")
The private keys never left the token: $(hsm --output json key list | jq -r '[.keys[] | select(.attributes.extractable == false and .attributes.sensitive == true)] | length') of $(hsm --output json key list | jq '.keys | length') keys are sensitive and non-extractable.
SUMMARY
