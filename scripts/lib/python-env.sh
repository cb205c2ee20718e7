# shellcheck shell=bash
# python-env.sh — sourced by scripts/interop.sh, scripts/schemathesis.sh and scripts/console.sh:
# a venv with pinned requirements, and free loopback ports. The caller
# defines log and die and sets PYTHON.

# ensure_venv VENV REQUIREMENTS [REPORT]: create VENV if it is missing and
# install REQUIREMENTS into it from wheels only (nothing compiled), again
# whenever the file or the interpreter changes. REPORT, a Python snippet,
# prints what was installed.
ensure_venv() {
  local venv=$1 reqs=$2 report=${3:-} stamp=$1/.requirements.sha256 want
  if [[ ! -x $venv/bin/python ]]; then
    log "creating $venv ($("$PYTHON" --version 2>&1))"
    mkdir -p "$(dirname "$venv")"
    "$PYTHON" -m venv "$venv" || die "could not create a venv (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  want=$({ cat "$reqs"; "$venv/bin/python" --version; } | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    log "python packages up to date in $venv"
    return 0
  fi
  log "installing ${reqs#"$REPO_ROOT"/} into $venv (pinned, wheels only)"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: -r "$reqs" || die "pip install failed"
  echo "$want" >"$stamp"
  if [[ -n $report ]]; then
    log "installed: $("$venv/bin/python" -c "$report")"
  fi
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, one per line.
free_ports() {
  "$PYTHON" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}
