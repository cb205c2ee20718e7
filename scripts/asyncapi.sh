#!/usr/bin/env bash
# asyncapi.sh — validates docs/asyncapi.json, the AsyncAPI document of
# Surge's topics, with the official AsyncAPI parser and its Avro schema
# parser (make test-asyncapi).
#
#   scripts/asyncapi.sh [FILE]      FILE defaults to docs/asyncapi.json
#
# It installs tests/asyncapi/package-lock.json (@asyncapi/parser and
# @asyncapi/avro-schema-parser, pinned) with `npm ci` into
# tests/asyncapi/node_modules, again only when the lock file changed, and
# runs tests/asyncapi/validate.mjs, which exits non-zero on any error the
# parser reports. That the file is the document the code generates is
# checked by `make test` (TestAsyncAPIDocumentIsCurrent).
set -euo pipefail

readonly PROG=asyncapi.sh
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly SUITE=$REPO_ROOT/tests/asyncapi
FILE=${1:-$REPO_ROOT/docs/asyncapi.json}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not installed (Node.js 20 or later)"
command -v npm >/dev/null 2>&1 || die "npm is not installed"
[[ -f $FILE ]] || die "no such file: $FILE"

stamp=$SUITE/node_modules/.surge-package-lock.json
if ! cmp -s "$SUITE/package-lock.json" "$stamp"; then
  log "installing the pinned AsyncAPI parser (npm ci in tests/asyncapi)"
  start=$SECONDS
  (cd "$SUITE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  cp "$SUITE/package-lock.json" "$stamp"
  log "installed in $((SECONDS - start))s"
fi
log "validating $FILE"
node "$SUITE/validate.mjs" "$FILE"
