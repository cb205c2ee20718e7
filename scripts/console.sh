#!/usr/bin/env bash
# console.sh — the operator console in headless Chromium (make test-console).
#
#   scripts/console.sh           the browser test
#   scripts/console.sh --bench   BenchmarkConsolePages with the browser's timings
#
# It installs Debian's chromium when /usr/bin/chromium is missing (apt-get,
# as root), installs tests/console/package-lock.json (playwright-core,
# pinned) with `npm ci` when node_modules does not match it, builds
# bin/surge, starts `surge dev` on free loopback ports with a temporary data
# directory, waits for /readyz, and runs tests/console/console.test.mjs with
# node's test runner. The test writes its screenshots into docs/console/
# (docs/console.md shows them). surge dev is stopped with SIGTERM and must
# exit 0. Its log is kept when the run fails. --bench installs the same and
# runs `go test -bench ConsolePages` (1,000 subscriptions, 100,000 attempts)
# with SURGE_CONSOLE_BROWSER=1, so tests/console/timings.mjs measures the
# pages in Chromium too (make bench-console).
set -euo pipefail

readonly PROG=console.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly SUITE=$REPO_ROOT/tests/console
readonly BIN=$REPO_ROOT/bin
READY_TIMEOUT=${CONSOLE_READY_TIMEOUT:-90} # seconds for surge dev to answer /readyz
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
GO=${GO:-go}
PYTHON=${PYTHON:-python3}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# == 0 || ($# == 1 && $1 == --bench) ]] || die "usage: console.sh [--bench]"
[[ $READY_TIMEOUT =~ ^[0-9]+$ ]] || die "CONSOLE_READY_TIMEOUT must be a whole number, got $READY_TIMEOUT"
command -v node >/dev/null 2>&1 || die "node is required (Node.js 20+)"
command -v npm >/dev/null 2>&1 || die "npm is required"
command -v curl >/dev/null 2>&1 || die "curl is required"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required (to find free ports)"
cd "$REPO_ROOT"
# shellcheck source=lib/python-env.sh
. "$REPO_ROOT/scripts/lib/python-env.sh"
# shellcheck source=lib/dev.sh
. "$REPO_ROOT/scripts/lib/dev.sh"

if [[ ! -x $CHROMIUM ]]; then
  [[ $(id -u) == 0 ]] || die "$CHROMIUM is missing; install Debian's chromium (apt-get install chromium) or set CHROMIUM"
  log "installing Debian's chromium"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
log "$("$CHROMIUM" --version 2>/dev/null || echo "chromium at $CHROMIUM")"

# npm ci again only when the lockfile changed since the last install.
stamp=$SUITE/node_modules/.surge-lock.sha256
want=$(sha256sum "$SUITE/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  log "npm ci in tests/console"
  (cd "$SUITE" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

if [[ ${1:-} == --bench ]]; then
  log "BenchmarkConsolePages with the browser's timings"
  cd "$REPO_ROOT/cmd/surge"
  SURGE_CONSOLE_BROWSER=1 CHROMIUM=$CHROMIUM exec "$GO" test -run '^$' -bench ConsolePages -benchtime "${CONSOLE_BENCHTIME:-5x}" -timeout 20m .
fi
log "building bin/surge"
mkdir -p "$BIN"
"$GO" build -o "$BIN/surge" ./cmd/surge || die "go build ./cmd/surge failed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/surge-console.XXXXXX")
# shellcheck disable=SC2317  # runs from the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_dev
  if ((rc != 0)); then
    [[ -f $WORK/surge-dev.log ]] && { log "---- last lines of surge-dev.log ----"; tail -n 25 "$WORK/surge-dev.log" >&2; }
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_dev "$WORK"
log "surge dev is up: console at http://$admin/console/"

rc=0
SURGE_CONSOLE_ADMIN_URL=http://$admin SURGE_CONSOLE_INGEST_URL=http://$ingest \
  SURGE_CONSOLE_TOKEN_FILE=$WORK/data/admin-token SURGE_CONSOLE_SCREENSHOTS=$REPO_ROOT/docs/console CHROMIUM=$CHROMIUM \
  node --test --test-concurrency=1 "$SUITE/console.test.mjs" || rc=$?
stop_dev
if ((rc == 0 && dev_rc != 0)); then
  log "FAIL: surge dev exited with status $dev_rc on SIGTERM"
  rc=1
fi
exit "$rc"
