#!/usr/bin/env bash
# Run README.md's "Try it against a throwaway SoftHSM2 token" section as written: every ```sh
# block under that heading, in order, in one bash (errexit, pipefail), from the repository
# root. The blocks make their own work dir ($WORK); it and any background job are removed at
# exit. Fails if the section has no block, so the docs cannot silently drift from the tool.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

heading='## Try it against a throwaway SoftHSM2 token'
script=$(awk -v h="$heading" '
    $0 == h { inside = 1; next }
    inside && /^## / { inside = 0 }
    inside && /^```sh$/ { block = 1; next }
    inside && block && /^```$/ { block = 0; next }
    inside && block { print }
' README.md)
[[ -n $script ]] || { echo "readme-check: no sh block under \"$heading\"" >&2; exit 1; }

cleanup='trap '\''kill $(jobs -p) 2>/dev/null || true; [[ -n ${WORK:-} && -d $WORK ]] && rm -rf "$WORK"'\'' EXIT'
bash -euo pipefail -c "$cleanup"$'\n'"$script" >/dev/null
echo "readme-check: the README's try-it section ran as written" >&2
