#!/usr/bin/env bash
# `make bench`: measures the ingest front door against its ceiling on this
# machine, in one run:
#   1. naive-ingest (tools/cmd/naive-ingest): Fiber, JSON into maps, protobuf,
#      core NATS publish without ack, 202 before anything is stored;
#   2. ingest: the real service, 202 only after JetStream stored the batch.
# Both get the same load generator, the same 100-event batches and a dedicated
# nats-server with JetStream file storage, alternating rounds so machine noise
# hits both. Then ingest is driven open-loop at 25/50/75% of its own maximum
# for the latency curve. Results: .cache/bench/<time>/*.json and summary.md.
# Bounded: about 4 minutes. Traffic goes to 127.0.0.1 only.
# BENCH_NATS_SYNC=always makes JetStream fsync every write (see README).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
DURATION=${BENCH_DURATION:-15s}
CONC=${BENCH_CONCURRENCY:-32}
BATCH=${BENCH_BATCH:-100}
ROUNDS=${BENCH_ROUNDS:-2}
out="$root/.cache/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
bash scripts/tools.sh nats
bin="$root/.cache/bin"
for c in ingest; do go build -o "$bin/$c" "./services/$c/cmd/$c"; done
for c in loadgen naive-ingest; do go build -o "$bin/$c" "./tools/cmd/$c"; done

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$out/nats-data"
}
trap cleanup EXIT

# A broker of the benchmark's own, so its stream starts empty and is thrown away.
cat >"$out/nats.conf" <<CONF
host: 127.0.0.1
port: 14222
http_port: 18222
max_payload: 8MB
jetstream { store_dir: "$out/nats-data"${BENCH_NATS_SYNC:+, sync_interval: $BENCH_NATS_SYNC} }
CONF
"$bin/nats-server" -c "$out/nats.conf" >"$out/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 40); do curl -fsS -o /dev/null http://127.0.0.1:18222/healthz && break; sleep 0.25; done

key=bench-write-key-0123456789
NATS_URL=nats://127.0.0.1:14222 NAIVE_HTTP_ADDR=127.0.0.1:18190 "$bin/naive-ingest" >"$out/naive.log" 2>&1 &
pids+=($!)
NATS_URL=nats://127.0.0.1:14222 INGEST_HTTP_ADDR=127.0.0.1:18180 INGEST_GRPC_ADDR=127.0.0.1:19191 \
  INGEST_WRITE_KEYS="$key:bench" EVENTS_STREAM=BENCH EVENTS_SUBJECT_PREFIX=bench.events \
  EVENTS_STREAM_MAX_BYTES=$((6 << 30)) LOG_LEVEL=warn "$bin/ingest" >"$out/ingest.log" 2>&1 &
pids+=($!)
for u in http://127.0.0.1:18180/readyz; do
  for _ in $(seq 1 40); do curl -fsS -o /dev/null "$u" && break; sleep 0.25; done
done
sleep 1

lg() { # name url extra-args...
  local name=$1 url=$2; shift 2
  echo "bench: $name" >&2
  "$bin/loadgen" -url "$url" -key "$key" -batch "$BATCH" -duration "$DURATION" -warmup 3s -json "$out/$name.json" "$@" 2>/dev/null | sed 's/^/  /' >&2
}
val() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$out/$1.json"; }

for r in $(seq 1 "$ROUNDS"); do
  lg "naive-max-$r" http://127.0.0.1:18190/v1/track -concurrency "$CONC"
  lg "ingest-max-$r" http://127.0.0.1:18180/v1/track -concurrency "$CONC"
done
best() { # prefix -> best events/s over rounds
  local b=0 v
  for r in $(seq 1 "$ROUNDS"); do
    v=$(val "$1-$r" "['accepted_events_per_sec']")
    b=$(python3 -c "print(max($b, $v))")
  done
  echo "$b"
}
naive=$(best naive-max); ingest=$(best ingest-max)
ingest_rps=$(python3 -c "print($ingest / $BATCH)")
for pct in 25 50 75; do
  rate=$(python3 -c "print(round($ingest_rps * $pct / 100))")
  lg "ingest-open-$pct" http://127.0.0.1:18180/v1/track -concurrency 64 -rate "$rate"
done
naive_half=$(python3 -c "print(round($naive / $BATCH / 2))")
lg "naive-open-50" http://127.0.0.1:18190/v1/track -concurrency 64 -rate "$naive_half"

{
  echo "## Ingest front door ($(date -u +%Y-%m-%d), $(nproc) cores, load generator on the same machine)"
  echo
  echo "JetStream sync_interval: ${BENCH_NATS_SYNC:-default (2m)}."
  echo
  echo "Batches of $BATCH events ($(val ingest-max-1 "['body_bytes']") bytes of JSON), closed loop with $CONC connections, best of $ROUNDS alternating rounds of $DURATION."
  echo
  echo "| front door | accepted events/s | ratio to naive | p50 ms | p99 ms |"
  echo "|---|---|---|---|---|"
  for r in $(seq 1 "$ROUNDS"); do
    for n in naive ingest; do
      echo "| $n (round $r) | $(val "$n-max-$r" "['accepted_events_per_sec']" | cut -d. -f1) | $(python3 -c "print(f'{$(val "$n-max-$r" "['accepted_events_per_sec']") / $naive:.2f}')") | $(val "$n-max-$r" "['latency_ms']['P50']") | $(val "$n-max-$r" "['latency_ms']['P99']") |"
    done
  done
  echo
  echo "**ingest / naive = $(python3 -c "print(f'{$ingest / $naive:.2f}')")** (best $(printf %.0f "$ingest") vs $(printf %.0f "$naive") events/s)."
  echo
  echo "Open loop (latency from the intended send time):"
  echo
  echo "| target | load | events/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |"
  echo "|---|---|---|---|---|---|---|---|"
  for n in ingest-open-25 ingest-open-50 ingest-open-75 naive-open-50; do
    echo "| ${n%%-*} | ${n##*-}% of its max | $(val $n "['accepted_events_per_sec']" | cut -d. -f1) | $(val $n "['latency_ms']['P50']") | $(val $n "['latency_ms']['P90']") | $(val $n "['latency_ms']['P99']") | $(val $n "['latency_ms']['P999']") | $(val $n "['latency_ms']['Max']") |"
  done
} >"$out/summary.md"
cat "$out/summary.md"
echo "bench: results in $out" >&2
