#!/usr/bin/env bash
# singles.sh — issue 18's table: single-event flash-sale traffic end to end
# through Surge next to the bare chain (scripts/bench/barechain: HTTP ingest
# → embedded Kafka with a data dir → consumer → HTTP POST → sink, nothing of
# Surge), the same driver (`surge load`) on the same machine, alternated
# round by round, and the ratio of the medians.
#
#   scripts/bench/singles.sh                      # 3 rounds, --rate max --batch 1, 20 s
#   ROUNDS=5 RATE=2000 BATCH=1 scripts/bench/singles.sh
#   BATCH=10 RATE=5000 TARGETS=surge scripts/bench/singles.sh
#
# Each round starts the target fresh (its own data dir), warms it up for
# WARMUP, then loads it for DURATION. Surge is `surge dev` with
# `surge load --verify` (every event delivered, signed, in order per
# entity; the run fails on any loss or reordering); its CPU per delivery is
# the dev process's utime+stime over the measured run (from /proc) divided
# by the deliveries, derived events included. End-to-end events/s is
# delivered / (load time + drain time) for Surge and delivered / (first
# accept → last arrival) for the bare chain. Loopback only; ports 18180+.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO_ROOT"
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-max}
BATCH=${BATCH:-1}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
ENTITIES=${ENTITIES:-200}
PARTITIONS=${PARTITIONS:-6}
CONCURRENCY=${CONCURRENCY:-64}
TARGETS=${TARGETS:-bare surge}
GO=${GO:-go}

log() { printf 'singles: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number, got $ROUNDS"
[[ $DURATION =~ ^[0-9]+s$ ]] || die "DURATION must be whole seconds like 20s, got $DURATION"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-singles.XXXXXX")
PID=
cleanup() {
  [[ -n $PID ]] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p bin
"$GO" build -o bin/surge ./cmd/surge
(cd scripts/bench/barechain && "$GO" build -o "$REPO_ROOT/bin/barechain" .)
SURGE=$REPO_ROOT/bin/surge
TICKS=$(getconf CLK_TCK)
load() { # load ADDR [flags]: surge load with the run's shape
  local addr=$1
  shift
  "$SURGE" load --ingest-addr "$addr" --rate "$RATE" --batch "$BATCH" --entities "$ENTITIES" \
    --concurrency "$CONCURRENCY" "$@"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_http() { # wait_http URL: until it answers (60 s)
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null || curl -sS -o /dev/null --max-time 2 -X POST "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || die "$1 did not answer within 60 s"
    sleep 0.2
  done
}

# bare ROUND: one bare-chain round; appends "events/s p99 cpu" to bare.rows.
bare() {
  local dir=$WORK/bare$1
  mkdir -p "$dir"
  bin/barechain --listen 127.0.0.1:18180 --data-dir "$dir/kafka" --partitions "$PARTITIONS" >"$dir/out" 2>"$dir/err" &
  PID=$!
  wait_http http://127.0.0.1:18180/v1/events
  load 127.0.0.1:18180 --duration "$DURATION" >"$dir/load" 2>/dev/null || die "surge load against the bare chain failed: $(tail -3 "$dir/load")"
  kill -TERM "$PID"
  wait "$PID" || die "barechain failed: $(cat "$dir/err")"
  PID=
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.0f %.1f %.0f %d %d" % (r["events_per_s"], r["p99_ms"], r["cpu_us_per_event"], r["delivered"], r["accepted"]))' "$dir/out" | tee -a "$WORK/bare.rows" >&2
}

# surge ROUND: one surge dev round with --verify; appends the same columns.
surge() {
  local dir=$WORK/surge$1 before after
  mkdir -p "$dir"
  "$SURGE" dev --data-dir "$dir/data" --partitions "$PARTITIONS" --log-level warn \
    --ingest-addr 127.0.0.1:18180 --admin-addr 127.0.0.1:18181 --registry-addr 127.0.0.1:18185 \
    --kafka-addr 127.0.0.1:18192 </dev/null >"$dir/dev.out" 2>"$dir/dev.err" &
  PID=$!
  local deadline=$((SECONDS + 120))
  until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:18181/readyz 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || die "surge dev exited: $(tail -5 "$dir/dev.err")"
    ((SECONDS < deadline)) || die "surge dev not ready within 120 s"
    sleep 0.2
  done
  load 127.0.0.1:18180 --duration "$WARMUP" >/dev/null 2>&1 || true
  sleep 3
  before=$(cpu_ticks "$PID")
  load 127.0.0.1:18180 --duration "$DURATION" --verify --admin-addr 127.0.0.1:18181 --data-dir "$dir/data" \
    --drain-timeout 120s >"$dir/report" 2>/dev/null || die "surge load --verify failed: $(cat "$dir/report")"
  after=$(cpu_ticks "$PID")
  kill -TERM "$PID"
  wait "$PID" || log "surge dev exited non-zero on SIGTERM"
  PID=
  awk -v dur="${DURATION%s}" -v ticks=$((after - before)) -v hz="$TICKS" '
    /^delivered/       { delivered = $2; accepted = $4; d = $0; sub(/.*all, /, "", d); sub(/ after.*/, "", d); drain = d + 0; if (d ~ /ms$/) drain /= 1000; else if (d ~ /m[0-9]/) { split(d, mm, "m"); drain = mm[1] * 60 + mm[2] } }
    /^lost/            { lost = $2 }
    /^reordered/       { reordered = $2 }
    /^derived events/  { derived = $3 }
    /^e2e latency ms/  { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "p99") p99 = kv[2] } }
    END {
      if (lost != 0 || reordered != 0) { print "lost " lost " reordered " reordered > "/dev/stderr"; exit 1 }
      printf "%.0f %.1f %.0f %d %d\n", delivered / (dur + drain), p99, ticks / hz * 1e6 / (delivered + derived), delivered, accepted
    }' "$dir/report" | tee -a "$WORK/surge.rows" >&2
  [[ -z ${KEEP:-} ]] || cp "$dir/report" "$KEEP.surge$1.report"
}

log "$ROUNDS rounds of: ${TARGETS// / then }; rate $RATE, $BATCH per request, $DURATION, $ENTITIES entities, $PARTITIONS partitions, $CONCURRENCY connections, $(nproc) CPUs"
for round in $(seq "$ROUNDS"); do
  for target in $TARGETS; do
    log "round $round: $target"
    case $target in
      bare) bare "$round" ;;
      surge) surge "$round" ;;
      *) die "unknown target $target (bare, surge)" ;;
    esac
  done
done

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "| target | events/s end to end (rounds) | median | p99 ms (median) | CPU µs per event (median) |"
echo "| --- | --- | --- | --- | --- |"
for target in $TARGETS; do
  rows=$WORK/$target.rows
  printf '| %s | %s | %s | %s | %s |\n' "$target" "$(cut -d' ' -f1 "$rows" | paste -sd' ' | sed 's/ / · /g')" \
    "$(cut -d' ' -f1 "$rows" | median)" "$(cut -d' ' -f2 "$rows" | median)" "$(cut -d' ' -f3 "$rows" | median)"
done
if [[ -f $WORK/bare.rows && -f $WORK/surge.rows ]]; then
  awk -v s="$(cut -d' ' -f1 "$WORK/surge.rows" | median)" -v b="$(cut -d' ' -f1 "$WORK/bare.rows" | median)" \
    'BEGIN { printf "surge / bare chain: %.2f×\n", s / b }'
fi
