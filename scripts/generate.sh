#!/usr/bin/env bash
# Regenerates contracts/gen/go from contracts/proto with the pinned local
# plugins, then what contracts/cmd/fieldgen derives from the event fields'
# options (document, template, decoder tables, README table). With --check,
# generates into a temporary folder and fails if the committed code differs
# (stale or hand-edited).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/tools.sh" gen
export PATH="$root/.cache/bin:$PATH"
cd "$root/contracts"
if [[ ${1:-} == --check ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  buf generate proto --output "$tmp"
  if ! diff -r "$tmp/gen/go" gen/go >/dev/null; then
    diff -r "$tmp/gen/go" gen/go | head -20 >&2 || true
    echo "generate: contracts/gen/go is stale; run 'make generate' and commit the result" >&2
    exit 1
  fi
  go run ./cmd/fieldgen -root "$root" -check
  echo "generate: contracts/gen/go and the files derived from event.proto are up to date" >&2
else
  rm -rf gen/go
  buf generate proto
  go run ./cmd/fieldgen -root "$root"
  echo "generate: wrote contracts/gen/go and the files derived from event.proto" >&2
fi
