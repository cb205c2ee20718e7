#!/usr/bin/env bash
# tracing.sh — what OpenTelemetry tracing costs the whole pipeline: the
# same `surge load --verify` run against `surge dev` with tracing off, at
# 1 % and at 100 % sampling, spans exported by OTLP/HTTP to a loopback
# sink that discards them (otlp-sink.py). Prints one markdown table row
# per mode, for docs/benchmarks.md.
#
#   scripts/bench/tracing.sh                      # 2,000 events/s, single events, 15 s per mode
#   RATE=3000 BATCH=10 DURATION=30s scripts/bench/tracing.sh
#   MODES="off 100" ROUNDS=3 scripts/bench/tracing.sh   # alternated rounds of some modes
#
# Modes: off (no OTLP endpoint), 1 (parentbased_traceidratio 0.01), 100
# (parentbased_always_on). ROUNDS repeats the modes in turn, so pairs are
# taken alternated on a busy machine. Loopback only, ports 18180-18185 and
# 18318 (the sink), away from a surge dev you may be running.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"

RATE=${RATE:-2000}
BATCH=${BATCH:-1}
DURATION=${DURATION:-15s}
ENTITIES=${ENTITIES:-1000}
PARTITIONS=${PARTITIONS:-6}
MODES=${MODES:-off 1 100}
ROUNDS=${ROUNDS:-1}
SINK_ADDR=127.0.0.1:18318

WORK=$(mktemp -d /tmp/surge-bench-tracing.XXXXXX)
DEV_PID= SINK_PID=
cleanup() {
  for pid in $DEV_PID $SINK_PID; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf 'bench-tracing: %s\n' "$*" >&2; }

make -s build >&2
SURGE=$REPO_ROOT/bin/surge

# run_mode MODE ROUND: start the sink and surge dev with MODE's OTEL_*
# settings, run the load, stop both; add MODE's row to the table.
run_mode() {
  local mode=$1 round=$2 data=$WORK/$1-$2
  mkdir -p "$data"
  local -a env=(OTEL_EXPORTER_OTLP_ENDPOINT= OTEL_TRACES_SAMPLER= OTEL_TRACES_SAMPLER_ARG=)
  case $mode in
    off) ;;
    1) env=(OTEL_EXPORTER_OTLP_ENDPOINT=http://$SINK_ADDR OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01) ;;
    100) env=(OTEL_EXPORTER_OTLP_ENDPOINT=http://$SINK_ADDR OTEL_TRACES_SAMPLER=parentbased_always_on OTEL_TRACES_SAMPLER_ARG=) ;;
    *) log "unknown mode $mode (off, 1, 100)"; exit 2 ;;
  esac
  python3 scripts/bench/otlp-sink.py "$SINK_ADDR" >"$data/sink.out" 2>&1 &
  SINK_PID=$!
  env "${env[@]}" "$SURGE" dev --data-dir "$data" --partitions "$PARTITIONS" --log-level warn \
    --ingest-addr 127.0.0.1:18180 --admin-addr 127.0.0.1:18181 --registry-addr 127.0.0.1:18185 \
    --kafka-addr 127.0.0.1:18182 >"$data/dev.out" 2>"$data/dev.err" &
  DEV_PID=$!
  local waited=0
  until curl -fsS -o /dev/null http://127.0.0.1:18181/readyz 2>/dev/null; do
    if ! kill -0 "$DEV_PID" 2>/dev/null || ((waited > 1200)); then
      log "$mode: surge dev did not become ready; its log:"
      tail -n 30 "$data/dev.err" >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  log "round $round, tracing $mode: load --rate $RATE --batch $BATCH --duration $DURATION --verify"
  "$SURGE" load --ingest-addr 127.0.0.1:18180 --admin-addr 127.0.0.1:18181 --data-dir "$data" \
    --rate "$RATE" --batch "$BATCH" --duration "$DURATION" --entities "$ENTITIES" \
    --verify --drain-timeout 120s >"$data/report" 2> >(grep -v '^drain' >&2) || {
    log "$mode: surge load --verify failed"
    cat "$data/report" >&2
  }
  kill -INT "$DEV_PID"
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=
  kill -INT "$SINK_PID"
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=
  local label=off
  [[ $mode == off ]] || label="$mode %"
  local exported
  exported=$(awk '/^otlp-sink:/ { print $2 " requests, " $5 " B" }' "$data/sink.out")
  cat "$data/report" >&2
  awk -v name="$label" -v round="$round" -v exported="${exported:-0}" '
    /^events accepted/ { gsub(/[()\/s]/, "", $4); rate = $4 }
    /^delivered/       { delivered = $2 " of " $4 }
    /^lost/            { lost = $2 }
    /^e2e latency ms/  { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "p50" || kv[1] == "p99") lat[kv[1]] = kv[2] } }
    /^latency to 202 ms/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "p99") acc = kv[2] } }
    END { printf "| %s | %s | %s | %s | %s | %s ms | %s ms | %s ms | %s |\n", round, name, rate, delivered, lost, lat["p50"], lat["p99"], acc, exported }
  ' "$data/report" >>"$WORK/rows"
}

for round in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    run_mode "$mode" "$round"
  done
done

echo "rate $RATE/s, $BATCH per request, $DURATION per run, $ENTITIES entities, $PARTITIONS partitions, $(nproc) CPUs"
echo "| round | sampling | accepted/s | delivered | lost | e2e p50 | e2e p99 | p99 to 202 | spans exported |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$WORK/rows"
