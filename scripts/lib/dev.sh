# shellcheck shell=bash
# dev.sh — sourced by scripts/schemathesis.sh and scripts/console.sh: a
# surge dev of their own on free loopback ports, and its stop. The caller
# defines log and die, sets BIN (where bin/surge is) and READY_TIMEOUT,
# and sources lib/python-env.sh first (free_ports).

dev_pid=""
dev_rc=0

# start_dev WORK: start $BIN/surge dev with its data in WORK/data and its
# log in WORK/surge-dev.log, on four free loopback ports (sets ingest,
# admin, kafka and registry to host:port), and wait until its /readyz
# answers 200.
start_dev() {
  local work=$1 deadline ports
  mapfile -t ports < <(free_ports 4)
  ingest=127.0.0.1:${ports[0]} admin=127.0.0.1:${ports[1]} kafka=127.0.0.1:${ports[2]} registry=127.0.0.1:${ports[3]}
  "$BIN/surge" dev --data-dir "$work/data" \
    --ingest-addr "$ingest" --admin-addr "$admin" --kafka-addr "$kafka" --registry-addr "$registry" \
    </dev/null >"$work/surge-dev.log" 2>&1 &
  dev_pid=$!
  log "started surge dev (pid $dev_pid, data dir $work/data)"
  deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "http://$admin/readyz" 2>/dev/null; do
    kill -0 "$dev_pid" 2>/dev/null || die "surge dev exited before it was ready (log: $work/surge-dev.log)"
    ((SECONDS < deadline)) || die "surge dev not ready at http://$admin/readyz within ${READY_TIMEOUT}s"
    sleep 0.25
  done
}

# stop_dev: SIGTERM, wait up to 20 s, then SIGKILL; sets dev_rc.
stop_dev() {
  local deadline
  [[ -n $dev_pid ]] || return 0
  kill -TERM "$dev_pid" 2>/dev/null || true
  deadline=$((SECONDS + 20))
  while kill -0 "$dev_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$dev_pid" 2>/dev/null; then
    log "surge dev (pid $dev_pid) did not stop within 20s; killing it"
    kill -KILL "$dev_pid" 2>/dev/null || true
  fi
  dev_rc=0
  wait "$dev_pid" 2>/dev/null || dev_rc=$?
  log "stopped surge dev (exit status $dev_rc)"
  dev_pid=""
}
