#!/usr/bin/env bash
# `make bench`: measures the platform against ceilings measured in the same
# run on this machine — tools/cmd/bench (package tools/bench says what each
# part measures). `scripts/bench.sh [-short] ingest|segment|stream|pipeline|query|cost|delete|scaling|all`
# runs some parts; -short is a smoke run of a few seconds a point. The bench
# starts its own nats-server and OpenSearch on free ports and stops them, with
# everything else it started, when it ends. Results: .cache/bench/<time>/;
# BENCH_WRITE=1 rewrites BENCHMARKS.md; `bash scripts/bench.sh -h` lists the
# tunables.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./tools/cmd/bench "$@"
