#!/usr/bin/env bash
# Starts, stops and reports on the two real servers the platform needs on this
# machine: a single-node OpenSearch (from Maven Central) and nats-server with
# JetStream (from its Go module). Used by `make run`, `make test` and CI.
#
#   scripts/servers.sh start    fetch if needed, start what is not already up, wait until healthy
#   scripts/servers.sh stop     stop what this script started (by PID file)
#   scripts/servers.sh status   print what answers at NATS_URL and OPENSEARCH_URL
#   scripts/servers.sh opensearch-home   fetch if needed; print where OpenSearch and its Java are
#
# A server that already answers at its URL is used as it is and never stopped
# by this script. Ports come from NATS_URL and OPENSEARCH_URL (loopback defaults).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=versions.env
source "$root/scripts/versions.env"

NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
OPENSEARCH_URL=${OPENSEARCH_URL:-http://127.0.0.1:9200}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
OPENSEARCH_HEAP=${OPENSEARCH_HEAP:-1g}
OS_USER=${OPENSEARCH_RUN_USER:-opensearch}

cache="$root/.cache"
run="$cache/run"
mkdir -p "$run"

log() { echo "servers: $*" >&2; }

hostport() { # URL -> host:port
  local u=${1#*://}; u=${u%%/*}; echo "$u"
}
nats_host() { local hp; hp=$(hostport "$NATS_URL"); echo "${hp%:*}"; }
nats_port() { local hp; hp=$(hostport "$NATS_URL"); echo "${hp##*:}"; }
os_port() { local hp; hp=$(hostport "$OPENSEARCH_URL"); echo "${hp##*:}"; }

nats_up() { curl -fsS -o /dev/null "http://$(nats_host):$NATS_MONITOR_PORT/healthz?js-enabled-only=true" 2>/dev/null; }
os_up() { curl -fsS -o /dev/null "$OPENSEARCH_URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null; }

wait_for() { # name seconds check-fn pidfile
  local name=$1 secs=$2 check=$3 pidfile=$4 i
  for ((i = 0; i < secs * 4; i++)); do
    if $check; then log "$name is ready"; return 0; fi
    if [[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "$name exited during start-up; last log lines:"
      tail -n 30 "$run/$name.log" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  log "$name not ready after ${secs}s; last log lines:"
  tail -n 30 "$run/$name.log" >&2 || true
  return 1
}

start_nats() {
  if nats_up; then log "nats already answers at $NATS_URL; using it"; return 0; fi
  "$root/scripts/tools.sh" nats
  mkdir -p "$run/nats-data"
  # max_payload: one request's batch travels as one message (up to 8 MiB decoded).
  cat >"$run/nats.conf" <<CONF
host: $(nats_host)
port: $(nats_port)
http_port: $NATS_MONITOR_PORT
max_payload: 8MB
jetstream {
  store_dir: "$run/nats-data"
}
CONF
  log "starting nats-server $NATS_SERVER_VERSION on $NATS_URL"
  "$cache/bin/nats-server" -c "$run/nats.conf" </dev/null >"$run/nats.log" 2>&1 &
  echo $! >"$run/nats.pid"
  wait_for nats 30 nats_up "$run/nats.pid"
}

java_home() {
  if [[ -n ${OPENSEARCH_JAVA_HOME:-} ]]; then echo "$OPENSEARCH_JAVA_HOME"; return; fi
  if [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then echo /usr/lib/jvm/java-17-openjdk-amd64; return; fi
  local j; j=$(readlink -f "$(command -v java)"); echo "${j%/bin/java}"
}

# OpenSearch refuses to run as root. As root we run it as a system user, so its
# files must live where that user can reach them.
os_base() {
  local base="$cache/opensearch"
  if [[ $(id -u) -eq 0 ]]; then
    id -u "$OS_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$OS_USER"
    mkdir -p "$base"
    if ! setpriv --reuid="$OS_USER" --regid="$OS_USER" --init-groups test -x "$base" 2>/dev/null; then
      base="/var/tmp/telemetry-opensearch-$(echo "$root" | cksum | cut -d' ' -f1)"
    fi
  fi
  echo "$base"
}

fetch_opensearch() { # -> prints the unpacked home
  local base=$1 home="$1/opensearch-$OPENSEARCH_VERSION"
  if [[ -x "$home/bin/opensearch" ]]; then echo "$home"; return 0; fi
  local dl="$cache/downloads" zip
  zip="$dl/opensearch-$OPENSEARCH_VERSION.zip"
  mkdir -p "$dl" "$base"
  if [[ ! -f $zip ]]; then
    log "fetching OpenSearch $OPENSEARCH_VERSION from Maven Central"
    mvn -q -B -Dstyle.color=never dependency:copy \
      -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
      -DoutputDirectory="$dl" -Dmdep.stripVersion=false >&2
    mv "$dl/opensearch-$OPENSEARCH_VERSION.zip" "$zip" 2>/dev/null || true
  fi
  log "unpacking $zip"
  rm -rf "$base/unpack" && mkdir -p "$base/unpack"
  if command -v unzip >/dev/null; then unzip -q "$zip" -d "$base/unpack"; else (cd "$base/unpack" && "$(java_home)/bin/jar" xf "$zip"); fi
  mv "$base/unpack/opensearch-$OPENSEARCH_VERSION" "$home" && rm -rf "$base/unpack"
  chmod +x "$home"/bin/*
  echo "$home"
}

start_opensearch() {
  if os_up; then log "opensearch already answers at $OPENSEARCH_URL; using it"; return 0; fi
  local base home data logs jh
  base=$(os_base)
  home=$(fetch_opensearch "$base")
  data="$base/data-$(os_port)"; logs="$base/logs-$(os_port)"
  mkdir -p "$data" "$logs"
  jh=$(java_home)
  local -a as_user=()
  if [[ $(id -u) -eq 0 ]]; then
    chown -R "$OS_USER:$OS_USER" "$base"
    as_user=(setpriv --reuid="$OS_USER" --regid="$OS_USER" --init-groups)
  fi
  log "starting OpenSearch $OPENSEARCH_VERSION on $OPENSEARCH_URL (heap $OPENSEARCH_HEAP, data $data)"
  # exec inside the background job so the PID file names the JVM itself.
  (cd "$home" && exec "${as_user[@]}" env OPENSEARCH_JAVA_HOME="$jh" \
    OPENSEARCH_JAVA_OPTS="-Xms$OPENSEARCH_HEAP -Xmx$OPENSEARCH_HEAP" \
    ./bin/opensearch -E discovery.type=single-node -E http.host=127.0.0.1 -E http.port="$(os_port)" \
    -E transport.port=0 -E path.data="$data" -E path.logs="$logs" \
    -E cluster.routing.allocation.disk.threshold_enabled=false \
    -E action.auto_create_index=true) </dev/null >"$run/opensearch.log" 2>&1 &
  echo $! >"$run/opensearch.pid"
  wait_for opensearch 180 os_up "$run/opensearch.pid"
}

stop_one() { # name
  local pidfile="$run/$1.pid" pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 120; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && { log "$1 did not stop in 30s; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$pidfile"
}

case ${1:-} in
  start)
    # Fetch/start both at once: OpenSearch's JVM start dominates.
    start_opensearch & os_job=$!
    start_nats
    wait "$os_job"
    log "ready: NATS_URL=$NATS_URL OPENSEARCH_URL=$OPENSEARCH_URL"
    ;;
  stop) stop_one opensearch; stop_one nats ;;
  opensearch-home) # for tools/cmd/bench, which runs its own node: fetch if needed, say where
    base=$(os_base); home=$(fetch_opensearch "$base")
    if [[ $(id -u) -eq 0 ]]; then chown -R "$OS_USER:$OS_USER" "$home"; echo "OPENSEARCH_RUN_USER=$OS_USER"; fi
    printf "OPENSEARCH_HOME=%s\nOPENSEARCH_BASE=%s\nOPENSEARCH_JAVA_HOME=%s\n" "$home" "$base" "$(java_home)" ;;
  status)
    if nats_up; then echo "nats: up at $NATS_URL"; else echo "nats: down at $NATS_URL"; fi
    if os_up; then echo "opensearch: up at $OPENSEARCH_URL"; else echo "opensearch: down at $OPENSEARCH_URL"; fi
    ;;
  *) echo "usage: $0 start|stop|status|opensearch-home" >&2; exit 2 ;;
esac
