#!/usr/bin/env bash
# schemathesis.sh — the admin API against its own OpenAPI document, on a
# live `surge dev`, with Schemathesis (make test-api-contract).
#
#   scripts/schemathesis.sh                  the whole run
#   scripts/schemathesis.sh -- ST_ARGS...    extra `schemathesis run` arguments
#                                            (e.g. --include-path-regex /v1/sources)
#
# It installs tests/api-contract/requirements.txt (Schemathesis, pinned)
# into a venv under the cache dir ($SURGE_CACHE_DIR, default .cache/; again
# when the requirements change), builds bin/surge, starts `surge dev` on
# free loopback ports with a temporary data directory, waits for /readyz,
# and runs every check (--checks all) in every phase (examples, coverage,
# fuzzing, stateful) with one worker and a fixed seed, plus the hooks of
# tests/api-contract/hooks.py: a write the API refuses must leave every
# listing as it was. It stops surge dev (SIGTERM; it must exit 0) and exits
# non-zero on any failure. The report and surge dev's log are kept when a
# run fails.
set -euo pipefail

readonly PROG=schemathesis.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly SUITE=$REPO_ROOT/tests/api-contract
readonly CACHE_ROOT=${SURGE_CACHE_DIR:-$REPO_ROOT/.cache}
readonly VENV=$CACHE_ROOT/schemathesis/venv
readonly BIN=$REPO_ROOT/bin
READY_TIMEOUT=${CONTRACT_READY_TIMEOUT:-90} # seconds for surge dev to answer /readyz
# Test cases per operation and phase; with 40 the run takes 70-95 s.
MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-40}
# A fixed seed: a failure in CI is the same failure on a laptop.
SEED=${CONTRACT_SEED:-20261202}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: scripts/schemathesis.sh [-- SCHEMATHESIS_RUN_ARGS...]

env: CONTRACT_MAX_EXAMPLES (per operation, default 40), CONTRACT_SEED (default 20261202),
     CONTRACT_READY_TIMEOUT (seconds, default 90), SURGE_CACHE_DIR (default .cache),
     PYTHON (default python3), GO (default go)
EOF
}

st_args=()
while (($# > 0)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --) shift; st_args=("$@"); break ;;
    *) usage; die "unknown option: $1" ;;
  esac
done
for v in READY_TIMEOUT MAX_EXAMPLES SEED; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, got ${!v}"
done

PYTHON=${PYTHON:-python3}
GO=${GO:-go}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required (Python 3.10+ with the venv module)"
command -v curl >/dev/null 2>&1 || die "curl is required"
cd "$REPO_ROOT"

# shellcheck source=lib/python-env.sh
. "$REPO_ROOT/scripts/lib/python-env.sh"
# shellcheck source=lib/dev.sh
. "$REPO_ROOT/scripts/lib/dev.sh"

# ---------------------------------------------------------------------------
# surge dev, one log in $WORK, stopped on exit.
# ---------------------------------------------------------------------------

WORK=""

# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_dev
  if [[ -n $WORK && -d $WORK ]]; then
    if ((rc != 0)); then
      if [[ -f $WORK/surge-dev.log ]]; then
        log "---- last lines of surge-dev.log ----"
        tail -n 25 "$WORK/surge-dev.log" >&2
      fi
      log "kept the logs and the report in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# ---------------------------------------------------------------------------

started_at=$SECONDS
ensure_venv "$VENV" "$SUITE/requirements.txt" \
  'import importlib.metadata as m; print("schemathesis", m.version("schemathesis"))'
log "building bin/surge"
mkdir -p "$BIN"
"$GO" build -o "$BIN/surge" ./cmd/surge || die "go build ./cmd/surge failed"

trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-api-contract.XXXXXX")

start_dev "$WORK"
token=$(<"$WORK/data/admin-token")
log "surge dev is up after $((SECONDS - started_at))s: admin API at http://$admin"

# The token goes through the environment, not argv (ps would show it), to
# the hooks and to Schemathesis (schemathesis.toml's headers).
export SURGE_CONTRACT_ADMIN_URL=http://$admin SURGE_CONTRACT_ADMIN_TOKEN=$token
export SCHEMATHESIS_HOOKS=$SUITE/hooks.py
cmd=("$VENV/bin/schemathesis" --config-file "$SUITE/schemathesis.toml" run "http://$admin/v1/openapi.json"
  --checks all --phases examples,coverage,fuzzing,stateful
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1
  --generation-database none --continue-on-failure
  --request-timeout 30
  --report junit --report-dir "$WORK/report"
  "${st_args[@]}")
log "running: schemathesis run http://$admin/v1/openapi.json --checks all --phases examples,coverage,fuzzing,stateful --max-examples $MAX_EXAMPLES --seed $SEED --workers 1 --request-timeout 30 (hooks: tests/api-contract/hooks.py)"
rc=0
# From $WORK: Schemathesis keeps a .schemathesis/ cache in its working
# directory, which has no place in the source tree.
(cd "$WORK" && PYTHONDONTWRITEBYTECODE=1 "${cmd[@]}") || rc=$?
stop_dev
if ((rc == 0 && dev_rc != 0)); then
  log "FAIL: surge dev exited with status $dev_rc on SIGTERM"
  rc=1
fi
if ((rc == 0)); then
  log "PASS in $((SECONDS - started_at))s"
else
  log "FAIL: schemathesis exited $rc (report: $WORK/report)"
fi
exit "$rc"
