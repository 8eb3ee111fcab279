# shellcheck shell=bash
# stop_pids FILE: stop every process FILE lists (one pid a line), newest first; bounded per
# process: SIGTERM, up to 5 s, then SIGKILL. Removes FILE. For the daemons the setup scripts
# start (swtpm, dbus-daemon, tpm2-abrmd, p11-kit server).
stop_pids() {
    local file=$1 pid i
    [[ -f $file ]] || return 0
    for pid in $(tac "$file"); do
        kill "$pid" 2>/dev/null || continue
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$file"
}
