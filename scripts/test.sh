#!/usr/bin/env bash
# `make test`: static checks, then every test — unit, integration and
# end-to-end — against a real nats-server (JetStream) and a real OpenSearch
# node that this script starts if they are not running. Servers it started are
# stopped when it ends; servers that were already running are left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=modules.sh
source "$root/scripts/modules.sh"
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export OPENSEARCH_URL=${OPENSEARCH_URL:-http://127.0.0.1:9200}
# The fault tests run nats-server processes of their own (scripts/tools.sh nats).
export NATS_SERVER_BIN="$root/.cache/bin/nats-server"
bash scripts/tools.sh nats >&2 # the pinned version (a stamp file: nothing to do when it is there)

status=$(bash scripts/servers.sh status)
started=1
[[ $status == *"nats: up"* && $status == *"opensearch: up"* ]] && started=0
cleanup() { if [[ $started == 1 && -z ${KEEP_SERVERS:-} ]]; then bash scripts/servers.sh stop; fi; }
trap cleanup EXIT

# Servers start (OpenSearch's JVM takes a while) while the static checks run.
mkdir -p "$root/.cache"
bash scripts/servers.sh start >"$root/.cache/servers-start.log" 2>&1 &
servers_pid=$!

mode=${1:-all}
# The Swift toolchain (clients/swift) installs meanwhile too (once, ~1-3 min).
if [[ $mode == all || $mode == swift ]]; then
  bash scripts/swift.sh install >"$root/.cache/swift-install.log" 2>&1 &
  swift_pid=$!
fi
# The third-party SDKs integration/segment drives install meanwhile too (pinned, cached).
if [[ $mode == all ]]; then
  bash scripts/sdks.sh >"$root/.cache/sdks-install.log" 2>&1 &
  sdks_pid=$!
fi
case $mode in
  faults) PACKAGES=(./integration/faults/...) ;;
  cluster) PACKAGES=() ;;
  docker) PACKAGES=() ;;
  deploy) PACKAGES=(./integration/digitalocean/...) ;; # deploy/digitalocean, checked offline
  swift) PACKAGES=(./integration/swift/... ./contracts/fixtures/...) ;; # the SDK, its end-to-end test, the shared fixtures
  *) bash scripts/lint.sh ;;
esac
apt_install() { # apt-get install arguments; the package index is updated once if they are not found
  local apt="apt-get -q -o DPkg::Lock::Timeout=300"
  export DEBIAN_FRONTEND=noninteractive
  $apt install -y "$@" >/dev/null || { $apt update && $apt install -y "$@" >/dev/null; }
}
if [[ $mode == all || $mode == docker ]] && ! command -v dockerd >/dev/null; then
  echo "test: installing Debian's docker.io (integration/docker runs its own dockerd)" >&2
  apt_install docker.io
fi
# deploy/digitalocean's cloud-init files are checked by cloud-init itself.
if [[ $mode == all || $mode == deploy ]] && ! command -v cloud-init >/dev/null; then
  echo "test: installing Debian's cloud-init (integration/digitalocean validates the Droplets' cloud-config with it)" >&2
  apt_install --no-install-recommends cloud-init
fi

if ! wait "$servers_pid"; then
  cat "$root/.cache/servers-start.log" >&2
  echo "test: the servers did not start" >&2
  exit 1
fi
cat "$root/.cache/servers-start.log" >&2

if [[ $mode == all || $mode == swift ]]; then
  wait "$swift_pid" || { cat "$root/.cache/swift-install.log" >&2; echo "test: Swift did not install" >&2; exit 1; }
  start=$SECONDS log="$root/.cache/swift-test.log"
  bash scripts/swift.sh swift test --disable-swift-testing >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  echo "test: swift test (clients/swift): $(tail -n 1 "$log" | sed 's/^[[:space:]]*//'); $((SECONDS - start)) s" >&2
fi
if [[ $mode == all ]]; then
  wait "$sdks_pid" || { cat "$root/.cache/sdks-install.log" >&2; echo "test: the tracking SDKs did not install" >&2; exit 1; }
fi
if ((${#PACKAGES[@]})); then
  echo "test: go test -race (NATS_URL=$NATS_URL OPENSEARCH_URL=$OPENSEARCH_URL)" >&2
  # integration/docker and integration/cluster run alone, below: building
  # images wants both cores; the cluster test runs six servers.
  mapfile -t pkgs < <(go list "${PACKAGES[@]}" | grep -v -e '/integration/docker$' -e '/integration/cluster$')
  go test -race -count=1 -timeout 15m "${pkgs[@]}"
fi
if [[ $mode == swift ]]; then go test -race -count=1 -run '^TestTrackFixtures$' ./services/ingest/service/; fi
if [[ $mode == all || $mode == cluster ]]; then
  # 3 NATS + 3 OpenSearch nodes (512 MiB heaps) of its own, ~2.5 GB RAM;
  # prints what the client saw and the accounting of each fault.
  echo "test: cluster mode under faults (integration/cluster)" >&2
  start=$SECONDS log="$root/.cache/cluster-test.log"
  go test -race -count=1 -v -timeout 15m ./integration/cluster/ >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  grep -E '^(TestClusterFaults/|--- |ok )' "$log" >&2
  echo "test: cluster test: $((SECONDS - start)) s" >&2
fi
if [[ $mode == all || $mode == docker ]]; then
  echo "test: images built and run on a private Docker engine (integration/docker)" >&2
  go test -count=1 -v -timeout 20m ./integration/docker/
fi

if [[ $mode == all ]]; then
  echo "test: fuzzing the ingest body decoders (JSON, protobuf, Segment) for 10s each" >&2
  (cd services/ingest && go test -run '^$' -fuzz '^FuzzDecodeJSON$' -fuzztime 10s ./internal/track/ &&
    go test -run '^$' -fuzz '^FuzzDecodeProto$' -fuzztime 10s ./internal/track/ &&
    go test -run '^$' -fuzz '^FuzzDecodeSegment$' -fuzztime 10s ./internal/track/)
fi
echo "test: all passed" >&2
