#!/usr/bin/env bash
# interop.sh — Surge's topics read and written by a client that is neither Go
# nor Surge's: Python's confluent-kafka (librdkafka) with Confluent's Avro
# serializer and schema registry client (tests/interop/).
#
#   scripts/interop.sh                      against `surge dev` (embedded cluster)
#   scripts/interop.sh --brokers HOST:PORT  against a real Kafka cluster, with the
#                                           standalone registry, services and admin API
#   scripts/interop.sh ... -- PYTEST_ARGS   extra pytest arguments (e.g. -k consumer)
#
# It creates tests/interop/.venv (once; again when requirements.txt changes),
# installs the pinned requirements from wheels, builds bin/ (make build),
# starts Surge on free loopback ports with a temporary data directory, waits
# for every /readyz, runs pytest, stops what it started and exits with
# pytest's status. Logs of the started processes are printed when a run fails.
set -euo pipefail

readonly PROG=interop.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly SUITE=$REPO_ROOT/tests/interop
readonly VENV=$SUITE/.venv
readonly BIN=$REPO_ROOT/bin
READY_TIMEOUT=${INTEROP_READY_TIMEOUT:-90} # seconds, for every process to answer /readyz

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: scripts/interop.sh [--brokers HOST:PORT] [-- PYTEST_ARGS...]

  (no flag)           run the interop tests against 'surge dev' (embedded Kafka)
  --brokers H:P       run them against that Kafka cluster, with 'surge registry',
                      surge-ingest, surge-enrich, surge-fanout, surge-dispatcher and
                      'surge admin' started here (e.g. --brokers "\$(scripts/kafka.sh start)")

env: INTEROP_READY_TIMEOUT (seconds, default 90), PYTHON (default python3)
EOF
}

brokers=""
pytest_args=()
while (($# > 0)); do
  case $1 in
    --brokers) (($# >= 2)) || { usage; die "--brokers needs HOST:PORT"; }; brokers=$2; shift 2 ;;
    --brokers=*) brokers=${1#--brokers=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; pytest_args=("$@"); break ;;
    *) usage; die "unknown option: $1" ;;
  esac
done
if [[ -n $brokers && ! $brokers =~ ^[^,:]+:[0-9]+(,[^,:]+:[0-9]+)*$ ]]; then
  die "--brokers $brokers is not HOST:PORT[,HOST:PORT...]"
fi
[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "INTEROP_READY_TIMEOUT must be a number of seconds"

PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required (Python 3.10+ with the venv module)"
command -v curl >/dev/null 2>&1 || die "curl is required"
cd "$REPO_ROOT"

# ---------------------------------------------------------------------------
# Python environment: pinned versions, wheels only.
# ---------------------------------------------------------------------------

# shellcheck source=lib/python-env.sh
. "$REPO_ROOT/scripts/lib/python-env.sh"

# ---------------------------------------------------------------------------
# Processes we start: one log each in $WORK, stopped on exit.
# ---------------------------------------------------------------------------

WORK=""
names=()
pids=()

# shellcheck disable=SC2317  # cleanup and show_logs run from the EXIT trap
cleanup() {
  local rc=$? i pid deadline
  trap - EXIT INT TERM
  for i in "${!pids[@]}"; do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + 20))
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "${names[$i]} (pid $pid) did not stop within 20s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  ((${#pids[@]} == 0)) || log "stopped ${names[*]}"
  if [[ -n $WORK && -d $WORK ]]; then
    if ((rc != 0)); then
      show_logs
      log "kept the logs in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# shellcheck disable=SC2317
show_logs() {
  local f
  for f in "$WORK"/*.log; do
    [[ -f $f ]] || continue
    log "---- last lines of ${f##*/} ----"
    tail -n 25 "$f" >&2
  done
}

# start NAME CMD...: run CMD in the background, output to $WORK/NAME.log.
start() {
  local name=$1
  shift
  "$@" </dev/null >"$WORK/$name.log" 2>&1 &
  names+=("$name")
  pids+=($!)
  log "started $name (pid $!)"
}

# wait_ready NAME URL: until URL answers 200, failing early if NAME exited.
wait_ready() {
  local name=$1 url=$2 i pid="" deadline=$((SECONDS + READY_TIMEOUT))
  for i in "${!names[@]}"; do [[ ${names[$i]} == "$name" ]] && pid=${pids[$i]}; done
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      die "$name exited before it was ready (log: $WORK/$name.log)"
    fi
    ((SECONDS < deadline)) || die "$name not ready at $url within ${READY_TIMEOUT}s"
    sleep 0.25
  done
  log "$name ready ($url)"
}

# ---------------------------------------------------------------------------

started_at=$SECONDS
ensure_venv "$VENV" "$SUITE/requirements.txt" \
  'import confluent_kafka as c, importlib.metadata as m; print("confluent-kafka", m.version("confluent-kafka"), "librdkafka", c.libversion()[0])'
log "building bin/ (make build)"
make --no-print-directory build >&2 || die "make build failed"

trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-interop.XXXXXX")

if [[ -z $brokers ]]; then
  mode=embedded
  mapfile -t ports < <(free_ports 4)
  ingest=127.0.0.1:${ports[0]} admin=127.0.0.1:${ports[1]} kafka=127.0.0.1:${ports[2]} registry=127.0.0.1:${ports[3]}
  log "mode: embedded (surge dev, data dir $WORK/data)"
  start surge-dev "$BIN/surge" dev --data-dir "$WORK/data" \
    --ingest-addr "$ingest" --admin-addr "$admin" --kafka-addr "$kafka" --registry-addr "$registry"
  wait_ready surge-dev "http://$ingest/readyz"
  wait_ready surge-dev "http://$admin/readyz"
  brokers=$kafka
  export INTEROP_DATA_DIR=$WORK/data INTEROP_ADMIN_TOKEN=""
  # surge dev serves every stage's metrics on the admin listener.
  export INTEROP_ENRICH_METRICS_URL=http://$admin/metrics
else
  mode=kafka
  mapfile -t ports < <(free_ports 6)
  registry=127.0.0.1:${ports[0]} ingest=127.0.0.1:${ports[1]} admin=127.0.0.1:${ports[2]}
  enrich_m=127.0.0.1:${ports[3]} fanout_m=127.0.0.1:${ports[4]} dispatcher_m=127.0.0.1:${ports[5]}
  log "mode: real Kafka at $brokers (standalone registry, services and admin API)"
  token=$(head -c 32 /dev/urandom | base64 | tr -d '+/=\n')
  common=(--brokers "$brokers" --registry "http://$registry")
  start registry "$BIN/surge" registry --brokers "$brokers" --registry-addr "$registry"
  wait_ready registry "http://$registry/readyz"
  # Stable instance ids: a rerun fences a killed run's open transactions
  # at once instead of waiting for them to time out.
  start ingest "$BIN/surge-ingest" "${common[@]}" --ingest-addr "$ingest" --instance-id interop
  start enrich "$BIN/surge-enrich" "${common[@]}" --metrics-addr "$enrich_m" --instance-id interop
  start fanout "$BIN/surge-fanout" "${common[@]}" --metrics-addr "$fanout_m"
  start dispatcher "$BIN/surge-dispatcher" "${common[@]}" --metrics-addr "$dispatcher_m" --allow-loopback
  # The token goes through the environment, not argv (ps would show it).
  SURGE_ADMIN_TOKEN=$token start admin "$BIN/surge" admin "${common[@]}" --admin-addr "$admin" --allow-loopback
  wait_ready ingest "http://$ingest/readyz"
  wait_ready enrich "http://$enrich_m/readyz"
  wait_ready fanout "http://$fanout_m/readyz"
  wait_ready dispatcher "http://$dispatcher_m/readyz"
  wait_ready admin "http://$admin/readyz"
  export INTEROP_ADMIN_TOKEN=$token INTEROP_DATA_DIR=""
  export INTEROP_ENRICH_METRICS_URL=http://$enrich_m/metrics
fi
log "Surge is up after $((SECONDS - started_at))s: ingest $ingest, admin $admin, registry $registry, kafka $brokers"

export INTEROP_MODE=$mode INTEROP_BROKERS=$brokers INTEROP_REGISTRY_URL=http://$registry \
  INTEROP_INGEST_URL=http://$ingest INTEROP_ADMIN_URL=http://$admin INTEROP_SURGE_BIN=$BIN/surge
log "running pytest (tests/interop, $mode)"
rc=0
# No __pycache__ or .pytest_cache in the source tree.
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest -v \
  --rootdir "$SUITE" -c "$SUITE/pytest.ini" "$SUITE" "${pytest_args[@]}" || rc=$?
if ((rc == 0)); then
  log "PASS ($mode) in $((SECONDS - started_at))s"
else
  log "FAIL ($mode): pytest exited $rc"
fi
exit "$rc"
