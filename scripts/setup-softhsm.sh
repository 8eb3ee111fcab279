#!/usr/bin/env bash
# Create (or reuse) a throwaway SoftHSM2 token for dfns-hsm tests and demos.
#
# DIR must be yours and not writable by group or others; nothing in it is followed through a
# symbolic link, and a softhsm2.conf this script did not write is refused, not reused.
#
#   eval "$(scripts/setup-softhsm.sh DIR [LABEL])"
#
# DIR receives softhsm2.conf, tokens/, user.pin and so.pin (PIN files mode 0600). LABEL is the
# token label (default dfns-hsm). Installs softhsm2/opensc with apt-get if their tools are
# missing. Idempotent: an existing token with that label is left alone.
#
# stdout carries only the export lines (SOFTHSM2_CONF, DFNS_HSM_MODULE, DFNS_HSM_TOKEN,
# DFNS_HSM_PIN_SOURCE); progress and errors go to stderr.
# SOFTHSM2_MODULE=/path/libsofthsm2.so overrides the module search.
set -euo pipefail

log() { printf 'setup-softhsm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    printf 'usage: %s DIR [LABEL]\n' "$0" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 && -n $1 ]] || usage
LABEL=${2:-dfns-hsm}
# PKCS#11 token labels are 32 bytes, blank-padded.
[[ -n $LABEL && ${#LABEL} -le 32 ]] || die "LABEL must be 1 to 32 characters"

# Run a command as root: directly, or through sudo when available.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to install packages (no sudo found); install softhsm2 and opensc, then re-run"
    fi
}

install_missing() {
    local packages=()
    command -v softhsm2-util >/dev/null 2>&1 || packages+=(softhsm2)
    command -v pkcs11-tool >/dev/null 2>&1 || packages+=(opensc)
    [[ ${#packages[@]} -eq 0 ]] && return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${packages[*]} and no apt-get; install SoftHSM2 and OpenSC with your package manager (e.g. dnf install softhsm opensc, brew install softhsm opensc)"
    log "installing ${packages[*]} with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}" >&2
    command -v softhsm2-util >/dev/null 2>&1 || die "softhsm2-util still not found after installing"
    command -v pkcs11-tool >/dev/null 2>&1 || die "pkcs11-tool still not found after installing"
}

find_module() {
    if [[ -n ${SOFTHSM2_MODULE:-} ]]; then
        [[ -f $SOFTHSM2_MODULE ]] || die "SOFTHSM2_MODULE=$SOFTHSM2_MODULE is not a file"
        printf '%s\n' "$SOFTHSM2_MODULE"
        return
    fi
    # The Debian/Ubuntu symlink first, then what the package says it installed.
    if [[ -f /usr/lib/softhsm/libsofthsm2.so ]]; then
        printf '%s\n' /usr/lib/softhsm/libsofthsm2.so
        return
    fi
    local candidate
    if command -v dpkg >/dev/null 2>&1; then
        candidate=$(dpkg -L libsofthsm2 2>/dev/null | grep '/libsofthsm2\.so$' | head -n 1 || true)
        if [[ -n $candidate && -f $candidate ]]; then
            printf '%s\n' "$candidate"
            return
        fi
    fi
    for candidate in \
        /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib64/pkcs11/libsofthsm2.so \
        /usr/lib64/softhsm/libsofthsm2.so \
        /usr/lib/pkcs11/libsofthsm2.so \
        /usr/local/lib/softhsm/libsofthsm2.so \
        /opt/homebrew/lib/softhsm/libsofthsm2.so; do
        if [[ -f $candidate ]]; then
            printf '%s\n' "$candidate"
            return
        fi
    done
    die "libsofthsm2.so not found; set SOFTHSM2_MODULE=/path/to/libsofthsm2.so"
}

# True if a token labelled $1 is initialized (labels print blank-padded).
token_exists() {
    softhsm2-util --show-slots 2>/dev/null |
        awk -v want="$1" '
            /^[ \t]*Label:/ {
                v = $0
                sub(/^[ \t]*Label:[ \t]*/, "", v)
                sub(/[ \t]+$/, "", v)
                if (v == want) found = 1
            }
            END { exit !found }'
}

random_pin() {
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# Write a fresh PIN to $1 unless it exists; umask 077 so it is never readable by others.
ensure_pin() {
    local file=$1 pin
    if [[ -s $file ]]; then
        log "keeping existing $file"
    else
        pin=$(random_pin)
        [[ ${#pin} -eq 32 ]] || die "could not read /dev/urandom"
        (umask 077 && printf '%s' "$pin" >"$file")
        log "wrote a new PIN to $file"
    fi
    chmod 600 "$file"
}

install_missing
MODULE=$(find_module)
log "module: $MODULE"

# The directory will hold PINs and keys: refuse one that others could tamper with.
[[ -L $1 ]] && die "$1 is a symbolic link; give the directory itself"
if [[ ! -e $1 ]]; then
    (umask 077 && mkdir -p "$1")
fi
[[ -d $1 ]] || die "$1 is not a directory"
DIR=$(cd "$1" && pwd -P)
owner=$(stat -c %u "$DIR")
[[ $owner == "$(id -u)" ]] || die "$DIR belongs to uid $owner, not to you; use a directory of your own"
mode=$(stat -c %a "$DIR")
(( (8#$mode & 8#022) == 0 )) || die "$DIR can be written by group or others (mode $mode); chmod go-w it or use another directory"
CONF=$DIR/softhsm2.conf
MARK="# SoftHSM2 configuration written by dfns-hsm's scripts/setup-softhsm.sh."
for path in "$CONF" "$DIR/tokens" "$DIR/user.pin" "$DIR/so.pin"; do
    [[ -L $path ]] && die "$path is a symbolic link; remove it (nothing here is followed through a link)"
done
# Token files hold the (PIN-encrypted) keys: owner only.
mkdir -p -m 700 "$DIR/tokens"
if [[ -f $CONF ]]; then
    # Only a configuration this script wrote, for this directory, is kept.
    [[ $(head -n 1 "$CONF") == "$MARK" ]] ||
        die "$CONF was not written by this script; remove it or choose another directory"
    grep -qxF "directories.tokendir = $DIR/tokens" "$CONF" ||
        die "$CONF points at another token directory; remove it or choose another directory"
    log "keeping existing $CONF"
else
    # Same settings as hsm-config/softhsm2.conf, with the token directory filled in.
    cat >"$CONF" <<EOF
$MARK
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
    log "wrote $CONF"
fi
export SOFTHSM2_CONF=$CONF

if token_exists "$LABEL"; then
    [[ -s $DIR/user.pin ]] ||
        die "token \"$LABEL\" exists but $DIR/user.pin is missing; remove $DIR/tokens to start over"
    log "token \"$LABEL\" already initialized in $DIR/tokens; nothing to do"
else
    ensure_pin "$DIR/user.pin"
    ensure_pin "$DIR/so.pin"
    # softhsm2-util takes PINs only as arguments, so they show in `ps` for a moment. Acceptable
    # for this throwaway test token only; never initialize a real HSM this way.
    softhsm2-util --init-token --free --label "$LABEL" \
        --pin "$(cat "$DIR/user.pin")" --so-pin "$(cat "$DIR/so.pin")" >&2
    log "initialized token \"$LABEL\" in $DIR/tokens"
fi

printf 'export SOFTHSM2_CONF=%q\n' "$CONF"
printf 'export DFNS_HSM_MODULE=%q\n' "$MODULE"
printf 'export DFNS_HSM_TOKEN=%q\n' "$LABEL"
printf 'export DFNS_HSM_PIN_SOURCE=%q\n' "file:$DIR/user.pin"
