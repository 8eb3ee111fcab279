#!/usr/bin/env bash
# A SoftHSM2 token served over p11-kit's RPC: `p11-kit server` on a unix socket, loaded by the
# client through p11-kit-client.so (an RPC hop, like a network HSM's client library).
#
#   eval "$(scripts/setup-p11kit.sh DIR [LABEL])"   # token (scripts/setup-softhsm.sh) + server
#   scripts/setup-p11kit.sh stop DIR                 # stop the server
#
# The SoftHSM2 token is made (or reused) by scripts/setup-softhsm.sh in DIR; the server serves
# only that token, on DIR/p11-kit.sock (owner-only: a unix socket in a 0700 directory), and its
# pid goes to DIR/pids. A caller that must not leave it behind runs `stop` in a trap on EXIT
# (scripts/test.sh does); WATCH_PID=N also stops it once process N has exited.
#
# stdout carries only export lines: DFNS_HSM_MODULE (p11-kit-client.so), DFNS_HSM_TOKEN,
# DFNS_HSM_PIN_SOURCE, P11_KIT_SERVER_ADDRESS, SOFTHSM2_CONF (for tools that load SoftHSM2
# directly) and DFNS_P11KIT_STOP; progress and errors go to stderr.
# Installs p11-kit and p11-kit-modules with apt-get when they are missing.
set -euo pipefail

log() { printf 'setup-p11kit: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    printf 'usage: %s DIR [LABEL] | stop DIR\n' "$0" >&2
    exit 2
}

HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=scripts/lib/packages.sh
. "$HERE/lib/packages.sh"
# shellcheck source=scripts/lib/processes.sh
. "$HERE/lib/processes.sh"

MODE=serve
if [[ ${1:-} == stop ]]; then
    MODE=stop
    shift
    [[ $# -eq 1 && -n $1 ]] || usage
fi
[[ $# -ge 1 && $# -le 2 && -n $1 ]] || usage
LABEL=${2:-dfns-hsm}
mkdir -p -m 700 "$1"
DIR=$(cd "$1" && pwd -P)
PIDS=$DIR/pids
SOCK=$DIR/p11-kit.sock

stop_server() {
    [[ -f $PIDS ]] || return 0
    stop_pids "$PIDS"
    rm -f "$SOCK"
    log "stopped p11-kit server in $DIR"
}

if [[ $MODE == stop ]]; then
    stop_server
    exit 0
fi
[[ ${#SOCK} -le 100 ]] || die "DIR is too long for a unix socket path"

ensure_packages p11-kit:p11-kit
find_client() {
    local candidate
    for candidate in \
        /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so \
        /usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so \
        /usr/lib64/pkcs11/p11-kit-client.so \
        /usr/lib/pkcs11/p11-kit-client.so; do
        [[ -f $candidate ]] && { printf '%s\n' "$candidate"; return 0; }
    done
    return 1
}
CLIENT=$(find_client) || {
    ensure_packages /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so:p11-kit-modules
    CLIENT=$(find_client) || die "p11-kit-client.so not found after installing p11-kit-modules"
}

# The token, and SOFTHSM2_CONF / DFNS_HSM_MODULE (SoftHSM2's path) for the server.
SOFTHSM_ENV=$("$HERE/setup-softhsm.sh" "$DIR" "$LABEL")
eval "$SOFTHSM_ENV"
PROVIDER=$DFNS_HSM_MODULE

running() {
    [[ -f $PIDS && -S $SOCK ]] && kill -0 "$(cat "$PIDS")" 2>/dev/null
}
if running; then
    log "reusing p11-kit server $(cat "$PIDS") on $SOCK"
else
    stop_server
    # URI-encode the label for the token filter (only what a label may reasonably hold).
    uri_label=$(printf '%s' "$LABEL" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/;/%3B/g')
    p11-kit server -f -n "$SOCK" --provider "$PROVIDER" "pkcs11:token=$uri_label" \
        </dev/null >>"$DIR/p11-kit-server.log" 2>&1 &
    echo $! >"$PIDS"
    for ((i = 0; i < 100; i++)); do
        [[ -S $SOCK ]] && break
        kill -0 "$(cat "$PIDS")" 2>/dev/null || die "p11-kit server exited; see $DIR/p11-kit-server.log"
        sleep 0.1
    done
    [[ -S $SOCK ]] || { stop_server; die "p11-kit server did not create $SOCK within 10 s"; }
    log "p11-kit server $(cat "$PIDS") serves \"$LABEL\" on $SOCK"
    if [[ -n ${WATCH_PID:-} ]]; then
        (
            while kill -0 "$WATCH_PID" 2>/dev/null; do sleep 1; done
            "$HERE/setup-p11kit.sh" stop "$DIR" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
fi

printf 'export SOFTHSM2_CONF=%q\n' "$SOFTHSM2_CONF"
printf 'export P11_KIT_SERVER_ADDRESS=%q\n' "unix:path=$SOCK"
printf 'export DFNS_HSM_MODULE=%q\n' "$CLIENT"
printf 'export DFNS_HSM_TOKEN=%q\n' "$LABEL"
printf 'export DFNS_HSM_PIN_SOURCE=%q\n' "$DFNS_HSM_PIN_SOURCE"
printf 'export DFNS_P11KIT_STOP=%q\n' "$HERE/setup-p11kit.sh stop $DIR"
