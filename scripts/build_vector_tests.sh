#!/usr/bin/env bash
# Builds the test-only worker: the same crate with the `vector-tests` cargo feature (the route of
# src/adapter/vector_tests.rs), into target/vector-tests/ (never build/), with a wrangler.toml
# for it. A no-op when the output is newer than every input. `scripts/test.sh` runs it.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

OUT=target/vector-tests
OUT_WASM=$OUT/build/index_bg.wasm
INPUTS=(src Cargo.toml Cargo.lock rust-toolchain.toml scripts/build_vector_tests.sh)

if [ -f "$OUT_WASM" ] && [ -f "$OUT/wrangler.toml" ] &&
  [ -z "$(find "${INPUTS[@]}" -newer "$OUT_WASM" -print -quit 2>/dev/null)" ]; then
  say "build: vector-tests worker up to date ($OUT_WASM)"
  exit 0
fi

build_feature_worker vector-tests "$OUT/build" build-vector-tests
compat="$(awk -F'"' '/^compatibility_date/ { print $2; exit }' wrangler.toml)"
cat >"$OUT/wrangler.toml" <<TOML
# Written by scripts/build_vector_tests.sh: edgeauth with the test-only vector route.
name = "edgeauth-vector-tests"
main = "build/index.js"
compatibility_date = "$compat"
TOML
touch "$OUT_WASM"
