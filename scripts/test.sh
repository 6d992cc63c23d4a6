#!/usr/bin/env bash
# The test command the README gives. Its stages:
#
#   tests        every crate's unit, integration and end-to-end tests, except
#                the ones that need PostgreSQL
#   postgres     the tests named `postgres_*` (or in a `postgres_*` module):
#                the PostgreSQL store suite and the PostgreSQL twins of the
#                multi-node tests; needs SWITCHBOARD_TEST_DATABASE_URL
#                (eval "$(bash scripts/postgres-ci.sh)" starts a server)
#   postgres TLS the tests named `postgres_tls_*`: the store and the CLI
#                over TLS with the test CA; needs SWITCHBOARD_TEST_DATABASE_TLS_URL
#                (set by the same script)
#   doc tests    the examples in doc comments (nextest does not run them),
#                the README's library example among them
#   examples     every program in examples/, against the sandbox
#   conformance  Microsoft's own Python clients (msal, msgraph-sdk) against
#                the sandbox (scripts/conformance.sh); needs python3 and PyPI
#
# Every stage runs even when an earlier one failed. A stage that cannot run
# is reported SKIPPED, by name, with the reason, never as passed; when CI is
# set (CI=true) a skipped stage counts as a failure. The summary at the end
# lists each stage's result; the exit status is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# The tests that need PostgreSQL, by name (see crates/switchboard-store/tests/database_url),
# and among them those that need its TLS listener.
PG_ANY='test(/(^|::)postgres_/)'
PG_TLS='test(/(^|::)postgres_tls_/)'
PG_SUBSTRING='postgres_'
PG_TLS_SUBSTRING='postgres_tls_'

in_ci() { [ -n "${CI:-}" ] && [ "${CI:-}" != "false" ] && [ "${CI:-}" != "0" ]; }

results=()
failed=0
logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT

record() { # record RESULT NAME [DETAIL]
  local line
  line="$(printf '%-8s %s' "$1" "$2")"
  [ -n "${3:-}" ] && line="$line: $3"
  results+=("$line")
}

skip() { # skip NAME REASON
  echo "SKIPPED: $1 ($2)"
  if in_ci; then
    record FAIL "$1" "skipped in CI: $2"
    failed=1
  else
    record SKIPPED "$1" "$2"
  fi
}

# stage NAME COMMAND...: runs it; exit status 77 means "could not run", with
# the reason on the command's last output line that starts with "skipped: ".
stage() {
  local name="$1" log status reason
  shift
  echo
  echo "== $name"
  log="$logdir/stage.log"
  "$@" 2>&1 | tee "$log"
  status="${PIPESTATUS[0]}"
  if [ "$status" = 0 ]; then
    record PASS "$name"
  elif [ "$status" = 77 ]; then
    reason="$(grep -o 'skipped: .*' "$log" | tail -n 1 | sed 's/^skipped: //')"
    skip "$name" "${reason:-the stage said it could not run}"
  else
    record FAIL "$name" "exit status $status"
    failed=1
  fi
}

if command -v cargo-nextest >/dev/null 2>&1; then
  runner="nextest"
  stage "tests" cargo nextest run --workspace --no-fail-fast -E "not $PG_ANY"
else
  runner="cargo test"
  echo "cargo-nextest is not installed; using cargo test (cargo install --locked cargo-nextest)"
  stage "tests" cargo test --workspace --no-fail-fast --lib --bins --tests -- --skip "$PG_SUBSTRING"
fi

if [ -n "${SWITCHBOARD_TEST_DATABASE_URL:-}" ]; then
  if [ "$runner" = nextest ]; then
    stage "postgres store suite" cargo nextest run --workspace --no-fail-fast -E "$PG_ANY and not $PG_TLS"
  else
    stage "postgres store suite" cargo test --workspace --no-fail-fast --lib --bins --tests -- "$PG_SUBSTRING" --skip "$PG_TLS_SUBSTRING"
  fi
else
  echo
  echo "== postgres store suite"
  skip "postgres store suite" "SWITCHBOARD_TEST_DATABASE_URL not set; eval \"\$(bash scripts/postgres-ci.sh)\" starts a server"
fi

if [ -n "${SWITCHBOARD_TEST_DATABASE_URL:-}" ] && [ -n "${SWITCHBOARD_TEST_DATABASE_TLS_URL:-}" ]; then
  if [ "$runner" = nextest ]; then
    stage "postgres TLS tests" cargo nextest run --workspace --no-fail-fast -E "$PG_TLS"
  else
    stage "postgres TLS tests" cargo test --workspace --no-fail-fast --lib --bins --tests -- "$PG_TLS_SUBSTRING"
  fi
else
  echo
  echo "== postgres TLS tests"
  skip "postgres TLS tests" "SWITCHBOARD_TEST_DATABASE_TLS_URL and SWITCHBOARD_TEST_DATABASE_URL not both set; eval \"\$(bash scripts/postgres-ci.sh)\" starts a server with TLS"
fi

stage "doc tests" cargo test --workspace --doc

stage "examples" bash scripts/examples.sh

stage "conformance (msal, msgraph-sdk)" bash scripts/conformance.sh

echo
echo "== summary ($runner)"
for line in "${results[@]}"; do
  echo "$line"
done
exit "$failed"
