#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace for FUZZTIME each (default
# 7s), one `go test -fuzz` per target (it fuzzes one target at a time),
# and prints the executions of each. The list of targets is the code
# itself: every `func Fuzz...` in a _test.go file of a go.work module, so
# a new target is fuzzed without touching this script.
#
# A target that fails leaves its input in <package>/testdata/fuzz/<Target>/;
# fix the code and commit that file, and `go test` keeps running it.
#
# One failure is not the target's: Go 1.26's fuzzing coordinator can report
# "context deadline exceeded" when -fuzztime ends while a worker is still
# executing an input (golang/go#75804, fixed in Go 1.27), and then writes
# no input. A run that fails that way, with no new file under testdata/fuzz,
# is said and run once more; a second such failure, or any other, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-7s}

root=$PWD
targets=()
while IFS= read -r line; do
  targets+=("$line")
done < <(
  for m in $("$GO" list -m -f '{{.Dir}}'); do
    grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' "$m" || true
  done | sed -E "s|^$root/(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($|./\1 \2|" | sort -u
)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"

# inputs DIR: how many inputs a target's corpus directory holds (0 when
# there is none).
inputs() {
  if [[ -d $1 ]]; then find "$1" -type f | wc -l; else echo 0; fi
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
summary=()
start=$SECONDS
for t in "${targets[@]}"; do
  pkg=${t% *}
  name=${t#* }
  corpus=$pkg/testdata/fuzz/$name
  before=$(inputs "$corpus")
  ok=0
  for try in 1 2; do
    if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 10s "$pkg" >"$log" 2>&1; then
      ok=1
      break
    fi
    if ((try == 1)) && grep -q '^    context deadline exceeded$' "$log" && (($(inputs "$corpus") == before)); then
      echo "fuzz: $pkg $name: 'context deadline exceeded' at the end of -fuzztime and no input written (golang/go#75804); running it again" >&2
      continue
    fi
    break
  done
  if ((ok)); then
    result=ok
  else
    result=FAIL
    failed+=("$pkg $name")
    tail -n 40 "$log" >&2
  fi
  execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
  summary+=("$(printf '%-4s %-26s %-36s %10s execs' "$result" "$pkg" "$name" "$execs")")
  echo "${summary[-1]}"
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
  exit 1
fi
