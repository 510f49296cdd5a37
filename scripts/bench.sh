#!/usr/bin/env bash
# `make bench`: measures the platform against its ceilings on this machine, in
# one run. `scripts/bench.sh ingest|stream|pipeline|query` runs one part.
#
# Part "ingest" — the front door:
#   1. naive-ingest (tools/cmd/naive-ingest): Fiber, JSON into maps, protobuf,
#      core NATS publish without ack, 202 before anything is stored;
#   2. ingest: the real service, 202 only after JetStream stored the batch.
# Both get the same load generator, the same 100-event batches and a dedicated
# nats-server with JetStream file storage, alternating rounds so machine noise
# hits both. Then ingest is driven open-loop at 25/50/75% of its own maximum
# for the latency curve.
#
# Part "pipeline" — enrich and the whole path, against OpenSearch (started by
# scripts/servers.sh):
#   1. raw _bulk of the documents enrich writes, from a file (the ceiling),
#      before and after the enrich run;
#   2. enrich draining a pre-filled stream of the same events;
#   3. ingest + enrich at a steady 10k events/s: time from 202 to searchable,
#      and the accounting (accepted = indexed, nothing lost or duplicated).
#
# Part "query" — support-style reads on a large index: BENCH_QUERY_EVENTS
# (default 10 million) events of BENCH_QUERY_USERS (100k) users over the 30
# days before the day it is built, written through the real template, past
# days merged as enrich's maintenance merges them (kept as benchq-<n>-* and
# reused by later runs; delete with curl -XDELETE 'localhost:9200/benchq-*').
# A user's first page, open loop at 50 queries/s: idle, then while ingest +
# enrich write 10k events/s into the same users' histories (today's index,
# deleted afterwards so that the data set stays the same from run to run).
#
# Results: .cache/bench/<time>/*.json and summary.md.
# Bounded: about 16 minutes, plus about 5 the first time the query data set
# is built. Traffic goes to 127.0.0.1 only.
# BENCH_NATS_SYNC=always makes JetStream fsync every write (see README).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PARTS=${1:-all}
DURATION=${BENCH_DURATION:-15s}
ENRICH_EVENTS=${BENCH_ENRICH_EVENTS:-400000}
CONC=${BENCH_CONCURRENCY:-32}
BATCH=${BENCH_BATCH:-100}
ROUNDS=${BENCH_ROUNDS:-2}
out="$root/.cache/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
bash scripts/tools.sh nats
bin="$root/.cache/bin"
for c in ingest enrich; do go build -o "$bin/$c" "./services/$c/cmd/$c"; done
go build -o "$bin/enrichbench" ./services/enrich/cmd/enrichbench
for c in loadgen naive-ingest querygen benchplot; do go build -o "$bin/$c" "./tools/cmd/$c"; done
go build -o "$bin/query" ./services/query/cmd/query

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
# wait_up URL...: until each answers 2xx (10 s at most each); a URL written
# any:URL only has to answer at all (the naive door has no health endpoint).
wait_up() {
  local u
  for u in "$@"; do
    for _ in $(seq 1 40); do
      if [[ $u == any:* ]]; then curl -s -o /dev/null "${u#any:}" 2>/dev/null && break
      else curl -fsS -o /dev/null "$u" 2>/dev/null && break; fi
      sleep 0.25
    done
  done
}

broker_pid=
start_broker() { # (re)starts the broker with an empty store
  if [[ -n $broker_pid ]]; then
    kill -TERM "$broker_pid"; wait "$broker_pid" 2>/dev/null || true
    rm -rf "$out/nats-data"
    sync; sleep 2 # let the disk settle after dropping gigabytes
  fi
  "$bin/nats-server" -c "$out/nats.conf" >>"$out/nats.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_up http://127.0.0.1:18222/healthz
}
start_broker

lg() { # name url extra-args...
  local name=$1 url=$2; shift 2
  echo "bench: $name" >&2
  "$bin/loadgen" -url "$url" -key "$key" -batch "$BATCH" -duration "$DURATION" -warmup 3s -json "$out/$name.json" "$@" 2>/dev/null | sed 's/^/  /' >&2
}
val() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$out/$1.json"; }

key=bench-write-key-0123456789
: >"$out/summary.md"

doors=()
start_doors() { # the naive front door and ingest, on the current broker
  NATS_URL=nats://127.0.0.1:14222 NAIVE_HTTP_ADDR=127.0.0.1:18190 "$bin/naive-ingest" >>"$out/naive.log" 2>&1 &
  doors=($!)
  NATS_URL=nats://127.0.0.1:14222 INGEST_HTTP_ADDR=127.0.0.1:18180 INGEST_GRPC_ADDR=127.0.0.1:19191 \
    INGEST_WRITE_KEYS="$key:bench" EVENTS_STREAM=BENCH EVENTS_SUBJECT_PREFIX=bench.events \
    EVENTS_STREAM_MAX_BYTES=$((6 << 30)) LOG_LEVEL=warn "$bin/ingest" >>"$out/ingest.log" 2>&1 &
  doors+=($!)
  pids+=("${doors[@]}")
  wait_up http://127.0.0.1:18180/readyz any:http://127.0.0.1:18190/
  sleep 1
}
# Each latency point starts from an empty broker: right after the maximum
# rounds the stream holds gigabytes and the broker is still discarding and
# expiring what they wrote, which would be measured instead of the load.
fresh_doors() {
  kill -TERM "${doors[@]}" 2>/dev/null || true
  wait "${doors[@]}" 2>/dev/null || true
  start_broker
  start_doors
}

ingest_part() {
start_doors

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
echo "bench: raw JetStream publish of the same batches (async, file storage)" >&2
"$bin/enrichbench" -mode fill -events 2000000 -nats nats://127.0.0.1:14222 -stream BENCH_JS_CEILING -subject bench.ceiling >"$out/js-ceiling.json"
js_ceiling=$(python3 -c "import json; j=json.load(open('$out/js-ceiling.json')); print(j['events']/j['seconds'])")
ingest_rps=$(python3 -c "print($ingest / $BATCH)")
for pct in 25 50 75; do
  rate=$(python3 -c "print(round($ingest_rps * $pct / 100))")
  fresh_doors
  lg "ingest-open-$pct" http://127.0.0.1:18180/v1/track -concurrency 64 -rate "$rate"
done
naive_rps=$(python3 -c "print($naive / $BATCH)")
for pct in 25 50 75; do
  rate=$(python3 -c "print(round($naive_rps * $pct / 100))")
  fresh_doors
  lg "naive-open-$pct" http://127.0.0.1:18190/v1/track -concurrency 64 -rate "$rate"
done
kill -TERM "${doors[@]}" 2>/dev/null || true
wait "${doors[@]}" 2>/dev/null || true
"$bin/benchplot" -dir "$out" -out "$out/ingest-latency.png" >/dev/null

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
  echo "Raw JetStream ceiling: publishing the same 100-event batches straight to the stream (async, acked, no HTTP) took $(printf %.0f "$js_ceiling") events/s; ingest reached **$(python3 -c "print(f'{$ingest / $js_ceiling:.2f}')")** of it."
  echo
  echo "Open loop (latency from the intended send time):"
  echo
  echo "| target | load | events/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |"
  echo "|---|---|---|---|---|---|---|---|"
  for n in ingest-open-25 ingest-open-50 ingest-open-75 naive-open-25 naive-open-50 naive-open-75; do
    echo "| ${n%%-*} | ${n##*-}% of its max | $(val $n "['accepted_events_per_sec']" | cut -d. -f1) | $(val $n "['latency_ms']['P50']") | $(val $n "['latency_ms']['P90']") | $(val $n "['latency_ms']['P99']") | $(val $n "['latency_ms']['P999']") | $(val $n "['latency_ms']['Max']") |"
  done
} >>"$out/summary.md"
}

pipeline_part() {
  bash scripts/servers.sh start >&2
  local os=${OPENSEARCH_URL:-http://127.0.0.1:9200} p="bench-$(date +%s)"
  cleanup_os() { curl -s -XDELETE "$os/$p-*" >/dev/null; curl -s -XDELETE "$os/_index_template/$p-*" >/dev/null
    curl -s -XDELETE "$os/deadletter-$p-*" >/dev/null; curl -s -XDELETE "$os/_index_template/deadletter-$p-*" >/dev/null; }
  echo "bench: raw _bulk ceiling (before)" >&2
  "$bin/enrichbench" -mode bulk -events "$ENRICH_EVENTS" -opensearch "$os" -prefix "$p-c1" -file "$out/bulk.ndjson" >"$out/bulk-1.json"
  echo "bench: enrich draining $ENRICH_EVENTS pre-filled events" >&2
  "$bin/enrichbench" -mode fill -events "$ENRICH_EVENTS" -nats nats://127.0.0.1:14222 -stream BENCH_ENRICH -subject bench.enrich >"$out/fill.json"
  NATS_URL=nats://127.0.0.1:14222 OPENSEARCH_URL="$os" EVENTS_STREAM=BENCH_ENRICH EVENTS_SUBJECT_PREFIX=bench.enrich \
    EVENTS_INDEX_PREFIX="$p-e" ENRICH_HTTP_ADDR=127.0.0.1:18181 ENRICH_RETENTION=0 LOG_LEVEL=warn "$bin/enrich" >"$out/enrich-drain.log" 2>&1 &
  local epid=$!
  pids+=($epid)
  "$bin/enrichbench" -mode drain -events "$ENRICH_EVENTS" -nats nats://127.0.0.1:14222 -stream BENCH_ENRICH >"$out/drain.json"
  kill -TERM "$epid"; wait "$epid" || true
  echo "bench: raw _bulk ceiling (after)" >&2
  "$bin/enrichbench" -mode bulk -events "$ENRICH_EVENTS" -opensearch "$os" -prefix "$p-c2" -file "$out/bulk.ndjson" >"$out/bulk-2.json"

  echo "bench: ingest + enrich at 10k events/s, time to searchable" >&2
  NATS_URL=nats://127.0.0.1:14222 INGEST_HTTP_ADDR=127.0.0.1:18280 INGEST_GRPC_ADDR=127.0.0.1:19280 INGEST_WRITE_KEYS="$key:bench" \
    EVENTS_STREAM=BENCH_E2E EVENTS_SUBJECT_PREFIX=bench.e2e LOG_LEVEL=warn "$bin/ingest" >"$out/ingest-e2e.log" 2>&1 &
  pids+=($!)
  wait_up http://127.0.0.1:18280/readyz
  NATS_URL=nats://127.0.0.1:14222 OPENSEARCH_URL="$os" EVENTS_STREAM=BENCH_E2E EVENTS_SUBJECT_PREFIX=bench.e2e \
    EVENTS_INDEX_PREFIX="$p-s" ENRICH_HTTP_ADDR=127.0.0.1:18282 ENRICH_RETENTION=0 LOG_LEVEL=warn "$bin/enrich" >"$out/enrich-e2e.log" 2>&1 &
  pids+=($!)
  wait_up http://127.0.0.1:18282/readyz
  drained() { # wait (up to 90 s) until enrich has nothing pending or unacked
    local m=http://127.0.0.1:18282/metrics p a
    for _ in $(seq 1 90); do
      sleep 1
      p=$(curl -s $m | awk '/^enrich_consumer_pending_messages /{print $2}')
      a=$(curl -s $m | awk '/^enrich_consumer_ack_pending_messages /{print $2}')
      [[ ${p:-1} == 0 && ${a:-1} == 0 ]] && { sleep 6; return 0; } # gauges refresh every 5 s
    done
  }
  lagstep() { # rate(req/s) -> "start end" pending messages over a 20 s step
    local m=http://127.0.0.1:18282/metrics a b
    "$bin/loadgen" -url http://127.0.0.1:18280/v1/track -key "$key" -rate "$1" -concurrency 32 -duration 20s -warmup 0s >"$out/lag-$1.txt" 2>/dev/null &
    local pid=$!
    sleep 6; a=$(curl -s $m | awk '/^enrich_consumer_pending_messages /{print $2}')
    wait "$pid"; b=$(curl -s $m | awk '/^enrich_consumer_pending_messages /{print $2}')
    echo "$a $b"
  }
  echo "bench: sustained rate with a flat enrich lag" >&2
  : >"$out/lag.txt"
  for r in 150 250 350 450; do
    read -r a b < <(lagstep "$r")
    echo "$r $a $b" >>"$out/lag.txt"
    echo "  $((r * 100)) events/s: pending $a → $b messages" >&2
    drained
  done
  "$bin/loadgen" -url http://127.0.0.1:18280/v1/track -key "$key" -rate 100 -concurrency 16 -duration "${BENCH_E2E_DURATION:-30s}" \
    -warmup 3s -searchable-url "$os" -searchable-index "$p-s-*" -json "$out/e2e.json" 2>/dev/null | sed 's/^/  /' >&2
  cleanup_os

  local c1 c2 d
  c1=$(python3 -c "import json; print(json.load(open('$out/bulk-1.json'))['docs_per_sec'])")
  c2=$(python3 -c "import json; print(json.load(open('$out/bulk-2.json'))['docs_per_sec'])")
  d=$(python3 -c "import json; print(json.load(open('$out/drain.json'))['docs_per_sec'])")
  {
    echo "## Enrich and the whole pipeline ($(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    echo "$ENRICH_EVENTS events of ~360 bytes (documents of $(python3 -c "import json; j=json.load(open('$out/bulk-1.json')); print(j['file_bytes']//j['documents'])") bytes with the bulk action line), OpenSearch $(grep OPENSEARCH_VERSION scripts/versions.env | cut -d= -f2), 1 shard, refresh 1s, 1 GB heap."
    echo
    echo "| | documents/s | ratio to the ceiling |"
    echo "|---|---|---|"
    echo "| raw \`_bulk\` from a file, 5,000 docs × 2 in flight (before) | $(printf %.0f "$c1") | |"
    echo "| raw \`_bulk\` from a file (after) | $(printf %.0f "$c2") | |"
    echo "| **enrich draining a pre-filled stream** | **$(printf %.0f "$d")** | **$(python3 -c "print(f'{$d / (($c1 + $c2) / 2):.2f}')")** of the mean ceiling |"
    echo
    echo "Sustained rate: ingest + enrich fed at a fixed rate for 20 s each; the enrich lag (messages pending in the stream, sampled after 6 s and at the end):"
    echo
    echo "| input events/s | lag after 6 s | lag at 20 s | lag |"
    echo "|---|---|---|---|"
    while read -r r a b; do
      # growing: the backlog rose by more than 1% of the messages sent meanwhile
      v=$(python3 -c "a,b=float('${a:-0}'),float('${b:-0}'); print('flat' if b - a <= max(10, $r * 14 * 0.01) else 'growing')")
      echo "| $((r * 100)) | ${a:-?} | ${b:-?} | $v |"
    done <"$out/lag.txt"
    echo
    python3 - "$out/e2e.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); e = j["end_to_end"]; t = e["time_to_searchable_ms"]
print(f"Steady {j['accepted_events_per_sec']:.0f} events/s through ingest → JetStream → enrich → OpenSearch for {j['seconds']:.0f}s:")
print()
print("| time from 202 to searchable | p50 | p90 | p99 | max |")
print("|---|---|---|---|---|")
print(f"| ms | {t['P50']:.0f} | {t['P90']:.0f} | {t['P99']:.0f} | {t['Max']:.0f} |")
print()
print(f"Accounting: accepted {e['accepted_events']}, indexed {e['indexed_events']}, lost {e['lost']}, duplicated {e['duplicated']}; ingest p99 {j['latency_ms']['P99']:.1f} ms at this load.")
PY
  } >>"$out/summary.md"
}

query_part() {
  bash scripts/servers.sh start >&2
  local os=${OPENSEARCH_URL:-http://127.0.0.1:9200} n=${BENCH_QUERY_EVENTS:-10000000} users=${BENCH_QUERY_USERS:-100000}
  local p="benchq-$n" have token=bench-read-token-0123456789 today
  local page_key=62656e63682d706167652d746f6b656e2d6b65792d303132333435363738396162 # hex of 32 bytes
  today=$(date -u +%Y.%m.%d)
  # Today's index holds only what an earlier run wrote while it measured.
  curl -s -XDELETE "$os/$p-$today?ignore_unavailable=true" >/dev/null
  have=$(curl -s "$os/$p-*/_count?allow_no_indices=true" | python3 -c "import json,sys; print(json.load(sys.stdin).get('count',0))" 2>/dev/null || echo 0)
  if [[ $have -ne $n ]]; then
    echo "bench: loading $n events of $users users over 30 days into $p-* (once; later runs reuse it)" >&2
    curl -s -XDELETE "$os/$p-*" >/dev/null
    "$bin/enrichbench" -mode load -events "$n" -users "$users" -days 30 -opensearch "$os" -prefix "$p" -bulk-docs 5000 -in-flight 2 >"$out/query-load.json"
    curl -s -XPOST "$os/$p-*/_refresh" >/dev/null
  else
    echo "bench: reusing $have events in $p-*" >&2
    echo "{\"documents\": $have, \"reused\": true}" >"$out/query-load.json"
  fi
  # What enrich's hourly maintenance does to the days that are over.
  echo "bench: merging past days' indices into one segment each (enrich's compaction)" >&2
  "$bin/enrichbench" -mode compact -opensearch "$os" -prefix "$p" >"$out/query-compact.json"
  OPENSEARCH_URL="$os" EVENTS_INDEX_PREFIX="$p" QUERY_TOKENS="$token:*" QUERY_PAGE_TOKEN_KEY="$page_key" QUERY_GRPC_ADDR=127.0.0.1:19083 QUERY_HTTP_ADDR=127.0.0.1:18083 \
    LOG_LEVEL=warn "$bin/query" >"$out/query.log" 2>&1 &
  pids+=($!)
  wait_up http://127.0.0.1:18083/readyz
  echo "bench: first pages, idle" >&2
  "$bin/querygen" -url http://127.0.0.1:18083 -token "$token" -users "$users" -rate 50 -duration 30s -json "$out/query-idle.json" | sed 's/^/  /' >&2

  echo "bench: first pages while ingesting 10k events/s" >&2
  NATS_URL=nats://127.0.0.1:14222 INGEST_HTTP_ADDR=127.0.0.1:18380 INGEST_GRPC_ADDR=127.0.0.1:19380 INGEST_WRITE_KEYS="$key:bench" \
    EVENTS_STREAM=BENCH_Q EVENTS_SUBJECT_PREFIX=bench.q LOG_LEVEL=warn "$bin/ingest" >"$out/ingest-q.log" 2>&1 &
  local writers=($!)
  NATS_URL=nats://127.0.0.1:14222 OPENSEARCH_URL="$os" EVENTS_STREAM=BENCH_Q EVENTS_SUBJECT_PREFIX=bench.q \
    EVENTS_INDEX_PREFIX="$p" ENRICH_HTTP_ADDR=127.0.0.1:18383 ENRICH_RETENTION=0 LOG_LEVEL=warn "$bin/enrich" >"$out/enrich-q.log" 2>&1 &
  writers+=($!)
  pids+=("${writers[@]}")
  wait_up http://127.0.0.1:18380/readyz http://127.0.0.1:18383/readyz
  "$bin/loadgen" -url http://127.0.0.1:18380/v1/track -key "$key" -rate 100 -concurrency 16 -duration 45s -warmup 5s \
    -users "$users" -json "$out/query-ingest.json" >/dev/null 2>&1 &
  local lg=$!
  sleep 10
  "$bin/querygen" -url http://127.0.0.1:18083 -token "$token" -users "$users" -rate 50 -duration 30s -json "$out/query-busy.json" | sed 's/^/  /' >&2
  wait "$lg" || true
  kill -TERM "${writers[@]}" 2>/dev/null || true
  wait "${writers[@]}" 2>/dev/null || true
  for d in "$today" "$(date -u +%Y.%m.%d)"; do curl -s -XDELETE "$os/$p-$d?ignore_unavailable=true" >/dev/null; done
  python3 - "$out" "$n" "$users" >>"$out/summary.md" <<'PY'
import json, sys
out, n, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
idle = json.load(open(f"{out}/query-idle.json")); busy = json.load(open(f"{out}/query-busy.json"))
ing = json.load(open(f"{out}/query-ingest.json"))
print(f"## Query: a user's first page ({n:,} events of {users:,} users over 30 daily indices)")
print()
print("| while | queries/s | p50 ms | p90 ms | p99 ms | max ms | statuses |")
print("|---|---|---|---|---|---|---|")
for name, r in (("idle", idle), (f"ingesting {ing['accepted_events_per_sec']:.0f} events/s", busy)):
    l = r["latency_ms"]
    print(f"| {name} | {r['rate']:.0f} | {l['p50']:.1f} | {l['p90']:.1f} | {l['p99']:.1f} | {l['max']:.1f} | {r['statuses']} |")
print()
PY
}

# Part "stream" — ingest's tail latency against the state of its stream, at
# BENCH_STREAM_RATE requests/s (default 3000: 300k events/s, about half of
# ingest's maximum here), open loop for 45-60 s on an empty broker each time:
# below its limits; at a 1 GiB byte cap (the stream fills, then refuses new
# batches: ingest answers 503 stream_full and drops nothing it acknowledged);
# with a 15 s MaxAge (an operator's explicit choice to expire batches not
# indexed in time).
stream_part() {
  local rate=${BENCH_STREAM_RATE:-3000} name env dur
  for v in "below its limits|45s|" "at a 1 GiB byte cap|60s|EVENTS_STREAM_MAX_BYTES=1073741824" \
    "expiring by age (MaxAge 15 s)|60s|EVENTS_STREAM_MAX_AGE=15s EVENTS_STREAM_DUPLICATE_WINDOW=10s"; do
    IFS='|' read -r name dur env <<<"$v"
    start_broker
    local tag; tag=$(echo "$name" | tr -cd 'a-z')
    # shellcheck disable=SC2086
    env $env NATS_URL=nats://127.0.0.1:14222 INGEST_HTTP_ADDR=127.0.0.1:18480 INGEST_GRPC_ADDR=127.0.0.1:19480 \
      INGEST_WRITE_KEYS="$key:bench" EVENTS_STREAM="BENCH_ST_$tag" EVENTS_SUBJECT_PREFIX="bench.st.$tag" \
      LOG_LEVEL=warn "$bin/ingest" >"$out/ingest-stream-$tag.log" 2>&1 &
    local ip=$!
    wait_up http://127.0.0.1:18480/readyz
    lg "stream-$tag" http://127.0.0.1:18480/v1/track -concurrency 64 -rate "$rate" -duration "$dur"
    kill -TERM "$ip"; wait "$ip" || true
    echo "$name" >"$out/stream-$tag.name"
  done
  python3 - "$out" >>"$out/summary.md" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
print("## Ingest latency and the state of the stream")
print()
print("Open loop at the same rate, an empty broker each time (scripts/bench.sh stream):")
print()
print("| stream | events/s | p50 ms | p90 ms | p99 ms | p99.9 ms |")
print("|---|---|---|---|---|---|")
for f in sorted(glob.glob(f"{out}/stream-*.json"), key=os.path.getmtime):
    j = json.load(open(f)); l = j["latency_ms"]
    name = open(f[:-5] + ".name").read().strip()
    print(f"| {name} | {j['accepted_events_per_sec']:.0f} | {l['P50']:.2f} | {l['P90']:.2f} | {l['P99']:.2f} | {l['P999']:.2f} |")
print()
PY
}

case $PARTS in
  ingest) ingest_part ;;
  pipeline) pipeline_part ;;
  query) query_part ;;
  stream) stream_part ;;
  all) ingest_part; stream_part; pipeline_part; query_part ;;
  *) echo "usage: $0 [ingest|stream|pipeline|query|all]" >&2; exit 2 ;;
esac
cat "$out/summary.md"
echo "bench: results in $out" >&2

# BENCH_WRITE=1: rewrite the committed BENCHMARKS.md (and its plot) from this run.
if [[ -n ${BENCH_WRITE:-} ]]; then
  mkdir -p docs/benchmarks
  [[ -f $out/ingest-latency.png ]] && cp "$out/ingest-latency.png" docs/benchmarks/ingest-latency.png
  {
    echo "# Benchmarks"
    echo
    echo "Produced by \`BENCH_WRITE=1 make bench\` (scripts/bench.sh, part \`$PARTS\`) on $(date -u +%Y-%m-%d)."
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/{print $2}') GiB RAM,"
    echo "$(go version | cut -d' ' -f3), OpenSearch $(grep OPENSEARCH_VERSION scripts/versions.env | cut -d= -f2) (1 GB heap), nats-server $(grep NATS_SERVER_VERSION scripts/versions.env | cut -d= -f2)."
    echo "The load generator, the brokers and the services share the machine, so every"
    echo "figure is stated next to a ceiling measured in the same run."
    echo
    sed 's/^## /## /' "$out/summary.md"
    if [[ -f docs/benchmarks/ingest-latency.png ]]; then
      echo
      echo "![ingest latency against load](docs/benchmarks/ingest-latency.png)"
    fi
    echo
    echo "Reproduce: \`make bench\` (all parts, about 16 minutes, more the first time the"
    echo "query data set is built), or \`bash scripts/bench.sh ingest|stream|pipeline|query\`."
    echo "Tunables: BENCH_DURATION, BENCH_CONCURRENCY, BENCH_ROUNDS, BENCH_ENRICH_EVENTS,"
    echo "BENCH_QUERY_EVENTS, BENCH_QUERY_USERS, BENCH_STREAM_RATE, BENCH_NATS_SYNC=always."
  } >BENCHMARKS.md
  echo "bench: wrote BENCHMARKS.md" >&2
fi
