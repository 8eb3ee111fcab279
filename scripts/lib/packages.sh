# shellcheck shell=bash
# ensure_packages CMD:PKG ...: apt-get install each PKG whose CMD (a command, or a file path)
# is missing. Runs `apt-get update` once, first, and only when something is missing.
ensure_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if [[ $cmd == /* ]]; then
            [[ -e $cmd ]] && continue
        elif command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
        missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "error: need root (or sudo) to install: ${missing[*]}" >&2
            return 1
        }
        sudo=(sudo)
    fi
    echo "installing: ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >&2
}

# require_cargo: the Rust toolchain is the one thing the scripts cannot install with apt.
require_cargo() {
    command -v cargo >/dev/null 2>&1 && return 0
    echo "error: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
}
