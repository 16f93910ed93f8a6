#!/usr/bin/env bash
# `make lint`: formatting check and clippy with warnings as errors, on the host (all targets)
# and, when the wasm32 std comes from rustup, on the wasm32 library build too.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

"$EDGEAUTH_ROOT/scripts/setup.sh" rust

say "lint: cargo fmt --check"
cargo fmt --all --check
say "lint: clippy (host, all targets)"
cargo clippy --all-targets --locked -- -D warnings
if [ "$(wasm_std_mode)" = rustup ]; then
  say "lint: clippy ($WASM_TARGET, lib)"
  cargo clippy --lib --target "$WASM_TARGET" --locked -- -D warnings
  say "lint: clippy ($WASM_TARGET, lib, test/bench-only features bench,vector-tests)"
  cargo clippy --lib --target "$WASM_TARGET" --locked --features bench,vector-tests -- -D warnings
else
  say "lint: skipping wasm32 clippy: the wasm32 std comes from Debian's toolchain (path B); host clippy still ran"
fi
say "lint: clean"
