#!/usr/bin/env bash
# `make run`: starts NATS and OpenSearch (if not already running), builds and
# starts ingest, enrich and query, prints the URLs and a working curl example,
# and stops everything it started on Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Development defaults; set these in the environment for anything real.
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export OPENSEARCH_URL=${OPENSEARCH_URL:-http://127.0.0.1:9200}
export INGEST_WRITE_KEYS=${INGEST_WRITE_KEYS:-dev-write-key-change-me:demo-app}
export QUERY_TOKENS=${QUERY_TOKENS:-dev-read-token-change-me:*}
# Page-token signing key (hex, >= 32 bytes; the same on every replica).
export QUERY_PAGE_TOKEN_KEY=${QUERY_PAGE_TOKEN_KEY:-6465762d706167652d746f6b656e2d6b65792d6368616e67652d6d652d30303030}
export INGEST_HTTP_ADDR=${INGEST_HTTP_ADDR:-127.0.0.1:8080}
export INGEST_GRPC_ADDR=${INGEST_GRPC_ADDR:-127.0.0.1:9091}
export ENRICH_HTTP_ADDR=${ENRICH_HTTP_ADDR:-127.0.0.1:8081}
export QUERY_HTTP_ADDR=${QUERY_HTTP_ADDR:-127.0.0.1:8082}
export QUERY_GRPC_ADDR=${QUERY_GRPC_ADDR:-127.0.0.1:9090}
export LOG_LEVEL=${LOG_LEVEL:-info}
logs="$root/.cache/run"
mkdir -p "$logs" "$root/.cache/bin"

status=$(bash scripts/servers.sh status)
servers_were_up=1
[[ $status == *"nats: up"* && $status == *"opensearch: up"* ]] || servers_were_up=0
bash scripts/servers.sh start

# Geo facts for development: a CC0 country database from the npm registry.
if [[ -z ${GEOIP_DB:-} ]]; then
  if db=$(bash scripts/geoip.sh 2>/dev/null); then export GEOIP_DB=$db; else echo "run: no geo database; geo enrichment off" >&2; fi
fi

echo "run: building services" >&2
for svc in ingest enrich query; do
  go build -o "$root/.cache/bin/$svc" "./services/$svc/cmd/$svc"
done

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo >&2; echo "run: stopping services" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $servers_were_up == 0 && -z ${KEEP_SERVERS:-} ]]; then bash scripts/servers.sh stop; fi
}
trap stop_all INT TERM EXIT

for svc in ingest enrich query; do
  "$root/.cache/bin/$svc" >"$logs/$svc.log" 2>&1 &
  pids+=($!)
done

wait_ready() { # name url
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "run: $1 is not ready; see $logs/$1.log" >&2
  tail -n 20 "$logs/$1.log" >&2
  return 1
}
wait_ready ingest "http://$INGEST_HTTP_ADDR/readyz"
wait_ready enrich "http://$ENRICH_HTTP_ADDR/readyz"
wait_ready query "http://$QUERY_HTTP_ADDR/readyz"

write_key=${INGEST_WRITE_KEYS%%:*}
read_token=${QUERY_TOKENS%%:*}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat <<MSG

  ingest  POST http://$INGEST_HTTP_ADDR/v1/track   gRPC $INGEST_GRPC_ADDR   (/healthz, /readyz, /metrics)
  enrich  http://$ENRICH_HTTP_ADDR/readyz   /metrics   geo: ${GEOIP_DB:-off}
  query   HTTP http://$QUERY_HTTP_ADDR/v1/...   gRPC $QUERY_GRPC_ADDR (reflection on)
  NATS    $NATS_URL        OpenSearch $OPENSEARCH_URL
  logs    $logs/{ingest,enrich,query}.log

Send a batch:

  curl -sS -X POST http://$INGEST_HTTP_ADDR/v1/track \\
    -H 'Authorization: Bearer $write_key' -H 'Content-Type: application/json' \\
    -d '[{"event_id":"demo-1","user_id":"user-1","session_id":"s-1","event_name":"app_open","client_timestamp":"$now","app_version":"1.0.0","device_os":"iOS 18.1","metadata":{"source":"push"},"message":"hello"}]'

Then read it back (searchable within about a second):

  curl -sS 'http://$QUERY_HTTP_ADDR/v1/users/user-1/events' -H 'Authorization: Bearer $read_token'

Ctrl-C stops the services (and the servers, if this command started them).
MSG
wait -n "${pids[@]}" || true
echo "run: a service exited; see $logs" >&2
