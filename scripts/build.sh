#!/usr/bin/env bash
# Builds the worker bundle (build/index.js + build/index_bg.wasm) with worker-build, release mode.
# A no-op when the bundle is newer than every input: wrangler runs this as its [build] command at
# start and again right after. Needs `scripts/setup.sh` to have run.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

OUT_WASM=build/index_bg.wasm
OUT_JS=build/index.js
INPUTS=(src Cargo.toml Cargo.lock rust-toolchain.toml scripts/build.sh)

# The configuration is checked on every run, fresh bundle or not: wrangler runs this script when
# `wrangler dev` or `wrangler deploy` starts, so a bad ACCESS_RULES or ORIGIN_URL stops it there
# instead of answering 500 to every request.
config_log="$(log_file check-config)"
if ! cargo run --quiet --locked --bin edgeauth -- check-config wrangler.toml >"$config_log" 2>&1; then
  tail -n 5 "$config_log" >&2
  fail "wrangler.toml [vars] are not a valid edgeauth configuration" "fix the line above; full log: $config_log"
fi

if [ -f "$OUT_WASM" ] && [ -f "$OUT_JS" ] &&
  [ -z "$(find "${INPUTS[@]}" -newer "$OUT_WASM" -print -quit 2>/dev/null)" ] &&
  [ -z "$(find "${INPUTS[@]}" -newer "$OUT_JS" -print -quit 2>/dev/null)" ]; then
  say "build: up to date ($OUT_WASM)"
  exit 0
fi

export_build_env
for tool in "$WORKER_BUILD_BIN" "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  [ -x "$tool" ] || fail "build tool $tool is missing" "run: make setup (or scripts/setup.sh)"
done

log="$(log_file build)"
say "build: worker-build --release, wasm std from $(wasm_std_mode) (log: $log)"
start=$SECONDS
if ! "$WORKER_BUILD_BIN" --release >"$log" 2>&1; then
  # A compile error is the fix itself: show the end of the log, not just its name.
  tail -n 40 "$log" >&2
  fail "building the worker (worker-build --release)" "fix the error above; full log: $log"
fi
[ -f "$OUT_WASM" ] && [ -f "$OUT_JS" ] ||
  fail "worker-build left no $OUT_WASM" "see $log"
optimize_wasm "$OUT_WASM" >>"$log" 2>&1 || fail "wasm-opt on $OUT_WASM" "see $log"
# The bench and vector-test routes exist only in feature builds made into target/; a production
# bundle that contains one (e.g. a feature build raced this one in the shared target directory)
# is removed rather than served.
if grep -q -a -e '/__bench/verify' -e '/__test/vectors' "$OUT_WASM"; then
  rm -f "$OUT_WASM" "$OUT_JS"
  fail "the production bundle contains a test-only route" "run scripts/build.sh again, with no bench or test build running"
fi
touch "$OUT_WASM" "$OUT_JS"
say "build: done in $((SECONDS - start))s: $OUT_WASM $(wc -c <"$OUT_WASM") bytes, $(gzip -9c "$OUT_WASM" | wc -c) gzip"
