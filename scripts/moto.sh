#!/usr/bin/env bash
# moto.sh — the AWS API emulator of `make test-aws`: moto in server mode
# (moto_server), pinned in tests/aws/requirements.txt, on a loopback port.
#
#   scripts/moto.sh start    install (once) and start it; idempotent; prints its URL last on stdout
#   scripts/moto.sh stop     stop it and forget its state (moto keeps everything in memory)
#   scripts/moto.sh status   say whether it runs, and where (exit 1 if not running)
#   scripts/moto.sh url      print only its URL (exit 1 if not running)
#
# The venv lives under the state dir (SURGE_MOTO_STATE, default
# /tmp/surge-moto) and is made again only when requirements.txt or the
# interpreter changes; packages come from PyPI as wheels (nothing compiled).
set -euo pipefail

readonly PROG=moto.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly REQS=$REPO_ROOT/tests/aws/requirements.txt

STATE_DIR=${SURGE_MOTO_STATE:-/tmp/surge-moto}
MOTO_PORT=${MOTO_PORT:-19500}
MOTO_START_TIMEOUT=${MOTO_START_TIMEOUT:-60}
PYTHON=${PYTHON:-python3}
readonly VENV=$STATE_DIR/venv PID_FILE=$STATE_DIR/moto.pid LOG_FILE=$STATE_DIR/moto.log

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: scripts/moto.sh start | stop | status | url

  start   install moto (pinned, tests/aws/requirements.txt) into $VENV once,
          start moto_server on 127.0.0.1:$MOTO_PORT, wait until it answers;
          idempotent. Prints its URL as the last line of stdout.
  stop    stop it (SIGTERM, SIGKILL after 10 s); not running is no error
  status  running (with URL and pid) or not running; exit 1 if not running
  url     print only the URL; exit 1 if not running

env: SURGE_MOTO_STATE (default /tmp/surge-moto), MOTO_PORT (default 19500),
     MOTO_START_TIMEOUT (seconds, default 60), PYTHON (default python3)
EOF
}

url() { printf 'http://127.0.0.1:%s\n' "$MOTO_PORT"; }

running() {
  [[ -f $PID_FILE ]] && kill -0 "$(<"$PID_FILE")" 2>/dev/null
}

answers() { curl -fsS -o /dev/null --max-time 2 "$(url)/moto-api/" 2>/dev/null; }

start() {
  if running; then
    answers || die "moto_server (pid $(<"$PID_FILE")) runs but does not answer on $(url); see $LOG_FILE"
    log "already running on $(url)"
    url
    return 0
  fi
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required (Python 3.10+ with the venv module)"
  command -v curl >/dev/null 2>&1 || die "curl is required"
  mkdir -p "$STATE_DIR"
  # shellcheck source=lib/python-env.sh
  . "$REPO_ROOT/scripts/lib/python-env.sh"
  ensure_venv "$VENV" "$REQS" 'import moto; print("moto", moto.__version__)'
  if (echo >"/dev/tcp/127.0.0.1/$MOTO_PORT") 2>/dev/null; then
    die "127.0.0.1:$MOTO_PORT is taken by another process; set MOTO_PORT"
  fi
  log "starting moto_server on $(url) (log: $LOG_FILE)"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + MOTO_START_TIMEOUT))
  until answers; do
    if ! running; then
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "moto_server exited during start"
    fi
    if ((SECONDS > deadline)); then
      tail -n 20 "$LOG_FILE" >&2 || true
      stop
      die "moto_server did not answer within ${MOTO_START_TIMEOUT}s"
    fi
    sleep 0.3
  done
  log "ready on $(url)"
  url
}

stop() {
  if ! running; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  local pid
  pid=$(<"$PID_FILE")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop in 10 s; SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status)
    if running; then echo "running: moto_server pid $(<"$PID_FILE") on $(url)"; else echo "not running"; exit 1; fi ;;
  url) running || exit 1; url ;;
  -h | --help) usage ;;
  *) usage; exit 2 ;;
esac
