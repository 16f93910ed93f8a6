# shellcheck shell=bash disable=SC2034
# Shared by the scripts in this folder: paths, messages, and the environment the build tools need.
# Sourced, not run. Every script that sources it runs from the repository root.

set -euo pipefail

EDGEAUTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$EDGEAUTH_ROOT"

# Host tools live outside the clone, keyed by version, so fresh clones on one machine share them.
EDGEAUTH_CACHE_DIR="${EDGEAUTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeauth}"
TOOLS_DIR="$EDGEAUTH_CACHE_DIR/tools"
LOG_DIR="$EDGEAUTH_ROOT/target/logs"

WORKER_BUILD_VERSION="0.8.7"
WASM_TARGET="wasm32-unknown-unknown"

# Path B of the wasm32 standard library: Debian's Rust with std rebuilt from source.
DEBIAN_RUST_PACKAGES=(rustc-web cargo-web rust-web-src lld-22)
DEBIAN_RUSTC=/usr/bin/rustc
DEBIAN_CARGO=/usr/bin/cargo
DEBIAN_WASM_LD=/usr/lib/llvm-22/bin/wasm-ld

say() { printf 'edgeauth: %s\n' "$*" >&2; }

# fail WHAT HOW: the one line a person reads when a step fails.
fail() {
  printf 'edgeauth: FAILED: %s. Fix: %s\n' "$1" "$2" >&2
  exit 1
}

log_file() {
  mkdir -p "$LOG_DIR"
  printf '%s/%s.log' "$LOG_DIR" "$1"
}

# The wasm-bindgen version the crate is locked to; wasm-bindgen-cli must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

worker_build_dir() { printf '%s/worker-build-%s' "$TOOLS_DIR" "$WORKER_BUILD_VERSION"; }
wasm_bindgen_dir() { printf '%s/wasm-bindgen-cli-%s' "$TOOLS_DIR" "$(wasm_bindgen_version)"; }
# Python packages the interop tests use, in a venv keyed by the requirements file's content.
PYTHON_REQUIREMENTS=tests/interop/requirements.txt
python_venv_dir() {
  printf '%s/python-interop-%s' "$TOOLS_DIR" "$(sha256sum "$PYTHON_REQUIREMENTS" | cut -c1-16)"
}
debian_shims_dir() { printf '%s/debian-wasm-shims' "$TOOLS_DIR"; }

rustup_has_wasm_target() {
  command -v rustup >/dev/null 2>&1 &&
    rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"
}

# Which wasm32 std the build uses: "rustup" (path A) or "debian" (path B).
# EDGEAUTH_WASM_STD=rustup|debian forces one; otherwise rustup when its target is installed.
wasm_std_mode() {
  case "${EDGEAUTH_WASM_STD:-auto}" in
    rustup | debian) printf '%s' "$EDGEAUTH_WASM_STD" ;;
    auto) if rustup_has_wasm_target; then printf rustup; else printf debian; fi ;;
    *) fail "EDGEAUTH_WASM_STD=$EDGEAUTH_WASM_STD is not understood" \
      "set it to rustup, debian, or leave it unset" ;;
  esac
}

# Exports what worker-build needs to run offline with our own tools (and, for path B, Debian's
# Rust). Call after setup; the build and dev scripts (and wrangler's [build] command) rely on it.
export_build_env() {
  WASM_BINDGEN_BIN="$(wasm_bindgen_dir)/bin/wasm-bindgen"
  WASM_OPT_BIN="$EDGEAUTH_ROOT/node_modules/binaryen/bin/wasm-opt"
  ESBUILD_BIN="$EDGEAUTH_ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
  WORKER_BUILD_BIN="$(worker_build_dir)/bin/worker-build"
  export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN WORKER_BUILD_BIN
  # Wasm only (native release builds keep Cargo.toml's opt-level 3): measured smallest gzip with
  # no cost on the request path, whose crypto runs in WebCrypto.
  export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
  if [ "$(wasm_std_mode)" = debian ]; then
    PATH="$(debian_shims_dir)/bin:$PATH"
    export PATH
    export RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$DEBIAN_WASM_LD"
    # Its own target dir: switching compilers must not invalidate the other path's build.
    export CARGO_TARGET_DIR="$EDGEAUTH_ROOT/target/debian-wasm"
  fi
}

# Keeps wrangler local and quiet: no account, no metrics, no prompts.
export_wrangler_env() {
  export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
}

# build_feature_worker FEATURE OUT_DIR LOG_NAME: the worker with a test- or bench-only cargo
# feature, built into OUT_DIR (never build/) and optimized like the production bundle.
build_feature_worker() {
  local feature="$1" out="$2" log
  export_build_env
  log="$(log_file "$3")"
  say "build: $feature worker (cargo feature $feature) into $out (log: $log)"
  if ! "$WORKER_BUILD_BIN" --release --out-dir "$out" . --features "$feature" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "building the $feature worker" "fix the error above; full log: $log"
  fi
  optimize_wasm "$out/index_bg.wasm" >>"$log" 2>&1 || fail "wasm-opt ($feature build)" "see $log"
}

# optimize_wasm FILE: wasm-opt -O in place, without the names section (worker-build's own wasm-opt
# step always keeps it, so Cargo.toml turns that step off). The features are worker-build's list:
# rustc's wasm32 defaults plus the exception handling of wasm-bindgen's catch wrappers.
optimize_wasm() {
  "$WASM_OPT_BIN" "$1" -O --strip-debug --strip-producers \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling \
    -o "$1.opt" && mv "$1.opt" "$1"
}
