#!/usr/bin/env bash
# The third-party tracking SDKs the segment integration test drives
# (integration/segment), installed from their registries at the versions
# pinned in integration/segment/sdk: the Python SDKs into a venv
# (.cache/sdks/python), @segment/analytics-node with npm ci from the committed
# lock file (.cache/sdks/node). Each is reinstalled only when its pin file
# changes (a stamp holds the pin file's hash).
#   scripts/sdks.sh          install (or check) both; prints nothing when current
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pins="$root/integration/segment/sdk"
dest="$root/.cache/sdks"
mkdir -p "$dest"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

py="$dest/python"
want=$(hash_of "$pins/requirements.txt")
if [[ ! -x $py/bin/python || $(cat "$py/.stamp" 2>/dev/null) != "$want" ]]; then
  echo "sdks: installing $(tr '\n' ' ' <"$pins/requirements.txt")into $py" >&2
  rm -rf "$py"
  python3 -m venv "$py"
  "$py/bin/python" -m pip install -q --disable-pip-version-check -r "$pins/requirements.txt" >&2
  echo "$want" >"$py/.stamp"
fi

node="$dest/node"
want=$(hash_of "$pins/package.json" "$pins/package-lock.json")
if [[ ! -d $node/node_modules || $(cat "$node/.stamp" 2>/dev/null) != "$want" ]]; then
  echo "sdks: installing @segment/analytics-node (npm ci) into $node" >&2
  rm -rf "$node" && mkdir -p "$node"
  cp "$pins/package.json" "$pins/package-lock.json" "$node/"
  (cd "$node" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$node/.stamp"
fi
