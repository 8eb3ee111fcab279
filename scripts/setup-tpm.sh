#!/usr/bin/env bash
# A throwaway TPM 2.0 for dfns-hsm: the swtpm simulator behind tpm2-abrmd, and a tpm2-pkcs11
# token on it.
#
#   eval "$(scripts/setup-tpm.sh DIR [LABEL])"     # start (or reuse) the stack, make the token
#   scripts/setup-tpm.sh stop DIR                   # stop every process it started
#   scripts/setup-tpm.sh start DIR                  # only the stack (no token): for the test kit
#
# Processes: swtpm (TCP on 127.0.0.1 only, ports picked at random), a private D-Bus session bus
# (dbus-daemon with its own configuration and socket in DIR, nothing shared with the host's
# buses), and tpm2-abrmd on that bus. tpm2-pkcs11 talks to tpm2-abrmd, not to swtpm: swtpm
# serves one connection at a time, and tpm2_ptool through swtpm's TCTI directly fails with
# "out of memory for object contexts". Their pids go to DIR/pids; `stop` ends them, and a
# caller that must not leave them behind runs `stop` in a trap on EXIT (scripts/test.sh does).
# WATCH_PID=N additionally stops the stack by itself once process N has exited.
#
# DIR receives state/ (the TPM's NV), store/ (tpm2-pkcs11's database), user.pin and so.pin
# (mode 0600) and the daemons' logs. LABEL is the token label (default dfns-hsm). The token
# uses a transient primary key, so no persistent TPM handle is consumed.
#
# stdout carries only export lines (DFNS_HSM_MODULE, DFNS_HSM_TOKEN, DFNS_HSM_PIN_SOURCE,
# TPM2_PKCS11_TCTI, TPM2_PKCS11_STORE, TPM2TOOLS_TCTI, DBUS_SESSION_BUS_ADDRESS and
# DFNS_TPM_STOP, the command that stops the stack); progress and errors go to stderr.
# Installs its Debian packages with apt-get when they are missing.
set -euo pipefail

log() { printf 'setup-tpm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() {
    printf 'usage: %s DIR [LABEL] | start DIR | stop DIR\n' "$0" >&2
    exit 2
}

HERE=$(cd "$(dirname "$0")" && pwd -P)
# shellcheck source=scripts/lib/packages.sh
. "$HERE/lib/packages.sh"
# shellcheck source=scripts/lib/processes.sh
. "$HERE/lib/processes.sh"

MODE=token
case ${1:-} in
stop | start)
    MODE=$1
    shift
    [[ $# -eq 1 && -n $1 ]] || usage
    ;;
'') usage ;;
esac
[[ $# -ge 1 && $# -le 2 && -n $1 ]] || usage
LABEL=${2:-dfns-hsm}
[[ ${#LABEL} -le 32 ]] || die "LABEL must be 1 to 32 characters"

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
PIDS=$DIR/pids

# Stop what DIR/pids lists, newest first; bounded: SIGTERM, 5 s, then SIGKILL.
stop_stack() {
    [[ -f $PIDS ]] || return 0
    stop_pids "$PIDS"
    rm -f "$DIR/env"
    log "stopped the TPM stack in $DIR"
}

if [[ $MODE == stop ]]; then
    stop_stack
    exit 0
fi

# Unix socket paths are limited to 107 bytes.
[[ ${#DIR} -le 80 ]] || die "DIR is too long for a unix socket path (${#DIR} > 80 characters)"

ensure_packages swtpm:swtpm swtpm_setup:swtpm-tools tpm2_ptool:libtpm2-pkcs11-tools \
    tpm2_getrandom:tpm2-tools tpm2-abrmd:tpm2-abrmd dbus-daemon:dbus \
    /usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0:libtss2-tcti-tabrmd0
find_module() {
    local candidate
    for candidate in \
        /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
        /usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so \
        /usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1 \
        /usr/lib/aarch64-linux-gnu/libtpm2_pkcs11.so.1 \
        /usr/local/lib/libtpm2_pkcs11.so; do
        [[ -f $candidate ]] && { printf '%s\n' "$candidate"; return; }
    done
    # Only now may apt-get be needed for the library itself.
    ensure_packages /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so:libtpm2-pkcs11-1 >&2
    [[ -f /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so ]] ||
        die "libtpm2_pkcs11.so not found after installing libtpm2-pkcs11-1"
    printf '%s\n' /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
}
MODULE=$(find_module)

# Wait (bounded) until "$@" succeeds.
wait_for() {
    local what=$1 i
    shift
    for ((i = 0; i < 100; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$what did not come up within 20 s (logs in $DIR/*.log)"
}

start_stack() {
    mkdir -p -m 700 "$DIR/state"
    : >"$PIDS"
    # On any failure below, stop what was started.
    trap 'stop_stack' ERR
    local port tries
    for ((tries = 0; tries < 10; tries++)); do
        port=$((20000 + RANDOM % 20000 * 2))
        swtpm socket --tpm2 \
            --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
            --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
            --tpmstate "dir=$DIR/state" --flags not-need-init,startup-clear \
            --log "file=$DIR/swtpm.log" </dev/null >>"$DIR/swtpm.log" 2>&1 &
        local swtpm_pid=$!
        sleep 0.3
        if kill -0 "$swtpm_pid" 2>/dev/null; then
            echo "$swtpm_pid" >>"$PIDS"
            break
        fi
        port=
    done
    [[ -n $port ]] || die "swtpm did not start (ports busy?); see $DIR/swtpm.log"
    log "swtpm on 127.0.0.1:$port (pid $(tail -n 1 "$PIDS"))"

    cat >"$DIR/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- A private session bus for tpm2-abrmd, written by dfns-hsm's scripts/setup-tpm.sh. -->
<busconfig>
  <type>session</type>
  <listen>unix:path=$DIR/dbus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
    dbus-daemon --config-file="$DIR/dbus.conf" --nofork --nopidfile \
        </dev/null >>"$DIR/dbus.log" 2>&1 &
    echo $! >>"$PIDS"
    export DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/dbus.sock
    wait_for "the D-Bus session bus" test -S "$DIR/dbus.sock"

    tpm2-abrmd --session --allow-root --tcti="swtpm:host=127.0.0.1,port=$port" \
        </dev/null >>"$DIR/tpm2-abrmd.log" 2>&1 &
    echo $! >>"$PIDS"
    export TPM2TOOLS_TCTI=tabrmd:bus_type=session
    wait_for "tpm2-abrmd" tpm2_getrandom 4
    trap - ERR
    log "tpm2-abrmd on the private bus $DBUS_SESSION_BUS_ADDRESS"

    if [[ -n ${WATCH_PID:-} ]]; then
        # Stops the stack once WATCH_PID has exited (the test kit's own process).
        (
            while kill -0 "$WATCH_PID" 2>/dev/null; do sleep 1; done
            "$HERE/setup-tpm.sh" stop "$DIR" 2>/dev/null
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
    {
        printf 'export DBUS_SESSION_BUS_ADDRESS=%q\n' "$DBUS_SESSION_BUS_ADDRESS"
        printf 'export TPM2TOOLS_TCTI=%q\n' "$TPM2TOOLS_TCTI"
        printf 'export TPM2_PKCS11_TCTI=%q\n' "$TPM2TOOLS_TCTI"
    } >"$DIR/env"
}

stack_running() {
    [[ -f $PIDS && -f $DIR/env ]] || return 1
    local pid
    for pid in $(cat "$PIDS"); do
        kill -0 "$pid" 2>/dev/null || return 1
    done
}

if stack_running; then
    log "reusing the TPM stack in $DIR"
    # shellcheck disable=SC1091
    . "$DIR/env"
else
    stop_stack
    start_stack
fi

print_stack() {
    cat "$DIR/env"
    printf 'export DFNS_TPM_STOP=%q\n' "$HERE/setup-tpm.sh stop $DIR"
}

if [[ $MODE == start ]]; then
    print_stack
    exit 0
fi

random_pin() { od -An -N8 -tu8 /dev/urandom | tr -d ' \n' | cut -c1-12; }
ensure_pin() {
    [[ -s $1 ]] || (umask 077 && random_pin >"$1")
    chmod 600 "$1"
}

STORE=$DIR/store
mkdir -p -m 700 "$STORE"
export TPM2_PKCS11_TCTI=$TPM2TOOLS_TCTI TPM2_PKCS11_STORE=$STORE
if tpm2_ptool listtokens --pid=1 --path "$STORE" 2>/dev/null | grep -q "label: $LABEL\$"; then
    log "token \"$LABEL\" already exists in $STORE; nothing to do"
else
    ensure_pin "$DIR/user.pin"
    ensure_pin "$DIR/so.pin"
    if ! tpm2_ptool listprimaries --path "$STORE" 2>/dev/null | grep -q 'id: 1'; then
        tpm2_ptool init --transient-parent tpm2-tools-ecc-default --path "$STORE" >&2
    fi
    # tpm2_ptool takes PINs only as arguments (visible in `ps` for a moment): acceptable for
    # this throwaway simulator token only.
    tpm2_ptool addtoken --pid=1 --label="$LABEL" --userpin="$(cat "$DIR/user.pin")" \
        --sopin="$(cat "$DIR/so.pin")" --path "$STORE" >&2
    log "made token \"$LABEL\" in $STORE"
fi

print_stack
printf 'export TPM2_PKCS11_STORE=%q\n' "$STORE"
printf 'export DFNS_HSM_MODULE=%q\n' "$MODULE"
printf 'export DFNS_HSM_TOKEN=%q\n' "$LABEL"
printf 'export DFNS_HSM_PIN_SOURCE=%q\n' "file:$DIR/user.pin"
