#!/usr/bin/env bash
# `make test`: set up what is missing, run the host unit tests (cargo test), build the worker,
# then the integration suite, which starts a real origin and `wrangler dev` and stops both.
# Arguments, if any, are integration test files to run instead of all of tests/integration/.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

start=$SECONDS
phase_start=$SECONDS
phases=()
phase_done() { # NAME: remembers how long the phase since the last call took
  phases+=("$1 $((SECONDS - phase_start))s")
  phase_start=$SECONDS
}

"$EDGEAUTH_ROOT/scripts/setup.sh"
phase_done setup

say "test: host unit tests (cargo test --locked)"
cargo_log="$(log_file cargo-test)"
cargo test --locked 2>&1 | tee "$cargo_log"
phase_done "cargo test"
cargo_counts="$(awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d ignored", p, f, i }' "$cargo_log")"

# A bounded run of every fuzz target (EDGEAUTH_FUZZ_SECONDS in all), or the property tests where
# no nightly toolchain can be had; it says which ran.
"$EDGEAUTH_ROOT/scripts/fuzz.sh"
phase_done fuzz

"$EDGEAUTH_ROOT/scripts/build.sh"
phase_done build

"$EDGEAUTH_ROOT/scripts/check_bundle.sh"
phase_done deploy-dry-run

"$EDGEAUTH_ROOT/scripts/build_vector_tests.sh"
phase_done vector-tests-build

say "test: integration tests under wrangler dev (node --test)"
export_wrangler_env
if [ -f "$PYTHON_REQUIREMENTS" ]; then
  EDGEAUTH_PYTHON="$(python_venv_dir)/bin/python"
  export EDGEAUTH_PYTHON
fi
if [ $# -gt 0 ]; then files=("$@"); else files=(tests/integration/*.test.mjs); fi
node --test --test-reporter=spec "${files[@]}"
phase_done integration

say "test: all passed in $((SECONDS - start))s (${phases[*]/%/,} cargo tests: $cargo_counts; integration counts above)"
