#!/usr/bin/env bash
# `make run`: tools/cmd/devrun (built into .cache/bin) starts NATS and
# OpenSearch unless they answer already, builds and starts ingest, enrich and
# query with development keys, prints the URLs and working curl examples, and
# on Ctrl-C stops the services, then the servers it started (KEEP_SERVERS=1
# keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o .cache/bin/devrun ./tools/cmd/devrun
exec .cache/bin/devrun
