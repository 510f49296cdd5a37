#!/usr/bin/env bash
# Static checks: buf lint, generated-code staleness, gofmt, go vet, hadolint.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
"$root/scripts/tools.sh" gen
(cd contracts && "$root/.cache/bin/buf" lint)
echo "lint: buf lint clean" >&2
"$root/scripts/generate.sh" --check
unformatted=$(git ls-files '*.go' | grep -v '^contracts/gen/' | xargs gofmt -l)
if [[ -n $unformatted ]]; then
  echo "lint: gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi
echo "lint: gofmt clean" >&2
mapfile -t modules < <(go list -m -f '{{.Dir}}/...') # go.work's
go vet "${modules[@]}"
echo "lint: go vet clean" >&2
"$root/scripts/tools.sh" hadolint
git ls-files -- Dockerfile '*/Dockerfile' '*.Dockerfile' | xargs -r "$root/.cache/bin/hadolint"
echo "lint: hadolint clean (Dockerfiles)" >&2
