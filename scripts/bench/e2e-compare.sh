#!/usr/bin/env bash
# e2e-compare.sh — the same `surge load --verify` run through the whole
# pipeline twice in one go: on surge dev's embedded cluster (kfake) and on a
# real Apache Kafka broker (scripts/kafka.sh, via `surge dev --brokers`).
# Prints one markdown table row per target, for docs/benchmarks.md.
#
#   scripts/bench/e2e-compare.sh                 # 5,000 events/s, 10 per request, 30 s
#   RATE=2000 BATCH=1 DURATION=20s WARMUP=30s scripts/bench/e2e-compare.sh
#   TARGETS=kafka scripts/bench/e2e-compare.sh   # only one of: embedded kafka
#
# Everything listens on loopback, on ports away from a surge dev you may be
# running (18080-18085, 18092) and from scripts/kafka.sh's default (19092), 19692 and up by default
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"

RATE=${RATE:-5000}
BATCH=${BATCH:-10}
DURATION=${DURATION:-30s}
ENTITIES=${ENTITIES:-1000}
PARTITIONS=${PARTITIONS:-6}
TARGETS=${TARGETS:-embedded kafka}
WARMUP=${WARMUP:-30s}
export KAFKA_PORT=${KAFKA_PORT:-19692}
export SURGE_KAFKA_STATE=${SURGE_KAFKA_STATE:-/tmp/surge-kafka-compare}

WORK=$(mktemp -d /tmp/surge-e2e-compare.XXXXXX)
DEV_PID=
cleanup() {
  if [[ -n $DEV_PID ]]; then
    kill -INT "$DEV_PID" 2>/dev/null || true
    wait "$DEV_PID" 2>/dev/null || true
  fi
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf 'e2e-compare: %s\n' "$*" >&2; }

make -s build >&2
SURGE=$REPO_ROOT/bin/surge

# run_target NAME LABEL [surge dev flags...]: start surge dev, run the
# load, stop; add the row LABEL to the table.
run_target() {
  local name=$1 label=$2
  shift 2
  local data=$WORK/$name
  mkdir -p "$data"
  "$SURGE" dev --data-dir "$data" --partitions "$PARTITIONS" --log-level warn \
    --ingest-addr 127.0.0.1:18080 --admin-addr 127.0.0.1:18081 --registry-addr 127.0.0.1:18085 \
    --kafka-addr 127.0.0.1:18092 "$@" >"$data/dev.out" 2>"$data/dev.err" &
  DEV_PID=$!
  local waited=0
  until curl -fsS -o /dev/null http://127.0.0.1:18081/readyz 2>/dev/null; do
    if ! kill -0 "$DEV_PID" 2>/dev/null || ((waited > 1200)); then
      log "$name: surge dev did not become ready; its log:"
      tail -n 30 "$data/dev.err" >&2
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  # Warm up first, at the run's rate: a fresh broker's JVM is several
  # times slower until its JIT has compiled the hot paths (the first
  # transactions also wait for Kafka to create __transaction_state).
  log "$name: warming up for $WARMUP"
  "$SURGE" load --ingest-addr 127.0.0.1:18080 --rate "$RATE" --batch "$BATCH" --duration "$WARMUP" \
    --entities "$ENTITIES" >/dev/null 2>&1 || true
  sleep 10 # let the warm-up drain
  log "$name: surge dev ready and warm; load --rate $RATE --batch $BATCH --duration $DURATION --verify"
  "$SURGE" load --ingest-addr 127.0.0.1:18080 --admin-addr 127.0.0.1:18081 --data-dir "$data" \
    --rate "$RATE" --batch "$BATCH" --duration "$DURATION" --entities "$ENTITIES" \
    --verify --drain-timeout 120s >"$data/report" 2> >(grep -v '^drain' >&2) || {
    log "$name: surge load --verify failed"
    cat "$data/report" >&2
  }
  kill -INT "$DEV_PID"
  wait "$DEV_PID" 2>/dev/null || true
  DEV_PID=
  cat "$data/report" >&2
  # One row: target | accepted/s | delivered | lost | reordered | dups | p50 | p99 | max
  awk -v name="$label" '
    /^events accepted/ { gsub(/[()\/s]/, "", $4); rate = $4 }
    /^delivered/       { delivered = $2 " of " $4 }
    /^lost/            { lost = $2 }
    /^reordered/       { reordered = $2 }
    /^duplicates/      { dups = $2 }
    /^e2e latency ms/  { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "p50" || kv[1] == "p99" || kv[1] == "max") lat[kv[1]] = kv[2] } }
    END { printf "| %s | %s | %s | %s | %s | %s | %s ms | %s ms | %s ms |\n", name, rate, delivered, lost, reordered, dups, lat["p50"], lat["p99"], lat["max"] }
  ' "$data/report" >>"$WORK/rows"
}

for target in $TARGETS; do
  case $target in
    embedded) run_target embedded "embedded (kfake)" ;;
    kafka)
      brokers=$(scripts/kafka.sh start)
      run_target kafka "Apache Kafka ${KAFKA_VERSION:-4.4.0}, 1 broker" --brokers "$brokers"
      scripts/kafka.sh stop >/dev/null 2>&1
      ;;
    *) log "unknown target $target (embedded, kafka)"; exit 2 ;;
  esac
done

echo "rate $RATE/s, $BATCH per request, $DURATION, $ENTITIES entities, $PARTITIONS partitions, $(nproc) CPUs"
echo "| target | accepted/s | delivered | lost | reordered | duplicates | e2e p50 | e2e p99 | e2e max |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$WORK/rows"
