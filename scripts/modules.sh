# Sourced by the other scripts: the Go modules of the workspace (go.work).
# shellcheck shell=bash
MODULES=(contracts opensearch platform services/ingest services/enrich services/query tools integration)
PACKAGES=()
for m in "${MODULES[@]}"; do PACKAGES+=("./$m/..."); done
