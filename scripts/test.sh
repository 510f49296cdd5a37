#!/usr/bin/env bash
# `make test [MODE]`: tools/cmd/test — the static checks, then every test
# against a real nats-server (JetStream) and a real OpenSearch node that it
# starts unless they answer already and stops when it ends (package
# tools/testrun says what each mode runs):
#   scripts/test.sh [all|faults|cluster|docker|deploy|swift]
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./tools/cmd/test "$@"
