#!/usr/bin/env bash
# The development servers, NATS JetStream and a single-node OpenSearch, for
# `make run`, `make test` and CI: tools/cmd/servers (built once into
# .cache/bin), whose doc lists the subcommands and variables:
#   scripts/servers.sh start|stop|status [nats|opensearch] | opensearch-home
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o .cache/bin/servers ./tools/cmd/servers
exec .cache/bin/servers "$@"
