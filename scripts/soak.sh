#!/usr/bin/env bash
# `make soak`: the soak test (tests/integration/soak.test.mjs) alone, for longer than `make test`
# runs it: a mixed load of logins, renewals, logouts, revocations, machine credentials and
# attacks against one real `wrangler dev`, judged request by request.
# SOAK_SECONDS (default 600), SOAK_CONCURRENCY (default 32), SOAK_MAX_REQUESTS (default: no
# bound) and SOAK_SEED (replay a run's draws) are passed on to the test.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

start=$SECONDS
export SOAK_SECONDS="${SOAK_SECONDS:-600}"
export SOAK_CONCURRENCY="${SOAK_CONCURRENCY:-32}"

"$EDGEAUTH_ROOT/scripts/setup.sh"
"$EDGEAUTH_ROOT/scripts/build.sh"

# The test makes users, enrollment links and service tokens with the CLI.
say "soak: building the edgeauth CLI (cargo build --locked --bin edgeauth)"
cli_log="$(log_file soak-cli)"
if ! cargo build --locked --bin edgeauth >"$cli_log" 2>&1; then
  tail -n 40 "$cli_log" >&2
  fail "building the edgeauth CLI" "fix the error above; full log: $cli_log"
fi

say "soak: ${SOAK_SECONDS}s at concurrency ${SOAK_CONCURRENCY} under wrangler dev (node --test tests/integration/soak.test.mjs)"
export_wrangler_env
node --test --test-reporter=spec tests/integration/soak.test.mjs

say "soak: passed in $((SECONDS - start))s (its summary lines above; the edge's log: target/logs/wrangler-soak.log)"
