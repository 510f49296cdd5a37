#!/usr/bin/env bash
# `make run-cluster`: tools/cmd/devrun in cluster mode starts a 3-node NATS
# JetStream cluster, a 3-node OpenSearch cluster and two instances each of
# ingest, enrich and query (ports from RUN_CLUSTER_PORT_BASE, default 14200),
# prints the URLs; Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh nats >/dev/null
go build -o .cache/bin/devrun ./tools/cmd/devrun
exec .cache/bin/devrun cluster
