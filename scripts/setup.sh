#!/usr/bin/env bash
# Does every set-up step that is missing and skips, quickly, every step already done:
# system packages, the pinned Rust toolchain, the wasm32 standard library, host tools in the
# version-keyed cache outside the clone, npm packages, and the dev signing key in .dev.vars.
# Each failure prints one line naming the step, the fix and the log file.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

apt_updated=false
apt_install() {
  local log
  log="$(log_file setup-apt)"
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    fail "installing Debian packages $* needs root" "run: sudo apt-get install -y $*"
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "setup: installing Debian packages: $* (log: $log)"
  if ! $apt_updated; then
    $sudo apt-get update >>"$log" 2>&1 || fail "apt-get update" "check the network and $log"
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1 ||
    fail "apt-get install $*" "see $log"
}

missing_debs() {
  local pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || printf '%s ' "$pkg"
  done
}

step_system_packages() {
  # pkg-config and libssl-dev: `cargo install worker-build` links OpenSSL.
  local missing
  read -ra missing <<<"$(missing_debs pkg-config libssl-dev gcc)"
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

step_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
    fail "node and npm are not installed" "install Node.js 20.3 or newer (wrangler 4.86 needs it)"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=3)?0:1)' ||
    fail "node $(node --version) is too old" "install Node.js 20.3 or newer"
}

toolchain_channel() {
  awk -F'"' '/^channel/ { print $2; exit }' rust-toolchain.toml
}

step_rust_toolchain() {
  command -v rustup >/dev/null 2>&1 ||
    fail "rustup is not installed" "install rustup, then run this again"
  local channel log
  channel="$(toolchain_channel)"
  if ! rustup toolchain list | grep -q "^$channel-"; then
    log="$(log_file setup-rust-toolchain)"
    say "setup: installing Rust $channel from rust-toolchain.toml (log: $log)"
    if ! timeout 600 rustup toolchain install >"$log" 2>&1; then
      # Offline rustup: reuse an installed stable of exactly the pinned version, if there is one.
      local stable_dir
      stable_dir="$(rustup toolchain list -v | awk '/^stable-/ { print $NF; exit }')"
      if [ -n "$stable_dir" ] && "$stable_dir/bin/rustc" --version | grep -q "^rustc $channel "; then
        rustup toolchain link "$channel" "$stable_dir" >>"$log" 2>&1 ||
          fail "linking stable as Rust $channel" "see $log"
      else
        fail "installing Rust $channel" "see $log; rustup needs to reach its download server"
      fi
    fi
  fi
  local installed
  installed="$(rustup component list --installed 2>/dev/null)"
  if ! grep -q '^rustfmt' <<<"$installed" || ! grep -q '^clippy' <<<"$installed"; then
    log="$(log_file setup-rust-components)"
    timeout 300 rustup component add rustfmt clippy >"$log" 2>&1 ||
      fail "adding rustfmt and clippy" "see $log"
  fi
}

write_debian_shims() {
  local dir
  dir="$(debian_shims_dir)"
  mkdir -p "$dir/bin" "$dir/empty-target-libdir"
  # worker-build runs `cargo` from PATH: make it Debian's.
  cat >"$dir/bin/cargo" <<SHIM
#!/bin/sh
exec $DEBIAN_CARGO "\$@"
SHIM
  # worker-build asks rustc for the wasm32 target-libdir and wants an existing directory; with
  # std built from source there is none, so answer that one query with an empty directory.
  cat >"$dir/bin/rustc" <<SHIM
#!/bin/sh
if [ "\$*" = "--target $WASM_TARGET --print target-libdir" ]; then
  echo "$dir/empty-target-libdir"
  exit 0
fi
exec $DEBIAN_RUSTC "\$@"
SHIM
  chmod +x "$dir/bin/cargo" "$dir/bin/rustc"
}

step_wasm_std_debian() {
  local missing
  read -ra missing <<<"$(missing_debs "${DEBIAN_RUST_PACKAGES[@]}")"
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  [ -x "$DEBIAN_WASM_LD" ] || fail "wasm-ld is not at $DEBIAN_WASM_LD" "apt-get install -y lld-22"
  [ -d /usr/lib/rustlib/src/rust ] || fail "Rust std sources are missing" "apt-get install -y rust-web-src"
  write_debian_shims
}

step_wasm_std() {
  case "${EDGEAUTH_WASM_STD:-auto}" in
    debian) step_wasm_std_debian; return ;;
    rustup | auto) ;;
    *) wasm_std_mode >/dev/null ;; # reports the bad value
  esac
  rustup_has_wasm_target && return
  local log
  log="$(log_file setup-wasm-target)"
  say "setup: adding the $WASM_TARGET target with rustup (log: $log)"
  if timeout 120 rustup target add "$WASM_TARGET" >"$log" 2>&1; then
    return
  fi
  if [ "${EDGEAUTH_WASM_STD:-auto}" = rustup ]; then
    fail "rustup target add $WASM_TARGET" "see $log, or unset EDGEAUTH_WASM_STD to fall back to Debian's toolchain"
  fi
  say "setup: rustup could not add $WASM_TARGET; using Debian's Rust with std built from source"
  step_wasm_std_debian
}

# install_tool NAME VERSION DIR [cargo install flags...]: one `cargo install`, into DIR, atomically.
install_tool() {
  local name="$1" version="$2" dir="$3" log partial
  shift 3
  log="$(log_file "setup-install-$name-$version")"
  partial="$dir.partial.$$"
  rm -rf "$partial"
  if ! cargo install "$name" --version "$version" --root "$partial" "$@" >"$log" 2>&1; then
    rm -rf "$partial"
    echo "FAILED" >>"$log"
    return 1
  fi
  rm -rf "$dir"
  mv "$partial" "$dir"
}

tool_ok() { # DIR BINARY VERSION
  [ -x "$1/bin/$2" ] && "$1/bin/$2" --version 2>/dev/null | grep -qw "$3"
}

step_host_tools() {
  local wb_dir wbc_dir wbc_version pids=() names=()
  wbc_version="$(wasm_bindgen_version)"
  [ -n "$wbc_version" ] || fail "no wasm-bindgen version in Cargo.lock" "run: cargo generate-lockfile"
  wb_dir="$(worker_build_dir)"
  wbc_dir="$(wasm_bindgen_dir)"
  mkdir -p "$TOOLS_DIR"
  # One installer at a time per cache, even across clones.
  exec 9>"$TOOLS_DIR/.install.lock"
  if ! flock -n 9; then
    say "setup: another setup is installing tools into $TOOLS_DIR; waiting for it"
    flock 9
  fi
  if ! tool_ok "$wb_dir" worker-build "$WORKER_BUILD_VERSION"; then
    say "setup: installing worker-build $WORKER_BUILD_VERSION into $wb_dir (about 6 minutes)"
    install_tool worker-build "$WORKER_BUILD_VERSION" "$wb_dir" &
    pids+=($!) names+=("worker-build $WORKER_BUILD_VERSION")
  fi
  if ! tool_ok "$wbc_dir" wasm-bindgen "$wbc_version"; then
    say "setup: installing wasm-bindgen-cli $wbc_version into $wbc_dir (about 4 minutes)"
    # Not --locked: its lockfile pins a crate version the registry does not serve.
    install_tool wasm-bindgen-cli "$wbc_version" "$wbc_dir" &
    pids+=($!) names+=("wasm-bindgen-cli $wbc_version")
  fi
  local i failed=""
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed="${names[$i]}"
  done
  exec 9>&-
  if [ -n "$failed" ]; then
    fail "cargo install $failed" "see $(log_file "setup-install-${failed// /-}")"
  fi
}

step_npm() {
  local stamp=node_modules/.edgeauth-package-lock
  if [ -d node_modules ] && cmp -s package-lock.json "$stamp"; then
    return
  fi
  local log
  log="$(log_file setup-npm)"
  say "setup: npm ci (wrangler, binaryen) (log: $log)"
  npm ci --no-audit --no-fund >"$log" 2>&1 || fail "npm ci" "see $log"
  cp package-lock.json "$stamp"
}

# Debian's Chromium, driven by playwright-core in the browser tests. Playwright's own browser
# download cannot work here; the tests launch /usr/bin/chromium instead.
CHROMIUM_BIN=/usr/bin/chromium
step_chromium() {
  [ -x "$CHROMIUM_BIN" ] && return
  apt_install chromium
  [ -x "$CHROMIUM_BIN" ] || fail "chromium installed but $CHROMIUM_BIN is missing" "apt-get install -y --reinstall chromium"
}

step_python_packages() {
  [ -f "$PYTHON_REQUIREMENTS" ] || return 0
  local dir log
  dir="$(python_venv_dir)"
  [ -f "$dir/.complete" ] && return 0
  command -v python3 >/dev/null 2>&1 || fail "python3 is not installed" "install Python 3 (with venv)"
  log="$(log_file setup-python)"
  say "setup: Python packages from $PYTHON_REQUIREMENTS into $dir (log: $log)"
  rm -rf "$dir"
  { python3 -m venv "$dir" && "$dir/bin/python" -m pip install --disable-pip-version-check -r "$PYTHON_REQUIREMENTS"; } >"$log" 2>&1 ||
    fail "installing the Python packages in $PYTHON_REQUIREMENTS" "see $log"
  touch "$dir/.complete"
}

step_dev_key() {
  if [ -f .dev.vars ] && grep -q '^SIGNING_KEY=' .dev.vars; then
    return
  fi
  local log key
  log="$(log_file setup-dev-key)"
  say "setup: generating a dev-only signing key into .dev.vars (log: $log)"
  key="$(cargo run --quiet --locked --bin edgeauth -- keygen 2>"$log")" ||
    fail "generating the dev signing key with 'edgeauth keygen'" "see $log"
  case "$key" in
    \{*\}) ;;
    *) fail "'edgeauth keygen' did not print one line of JSON" "see $log" ;;
  esac
  if [ "$(printf '%s\n' "$key" | wc -l)" != 1 ] || [[ "$key" == *"'"* ]]; then
    fail "'edgeauth keygen' printed a key that cannot be quoted into .dev.vars" "see $log"
  fi
  local separator=""
  if [ -s .dev.vars ] && [ -n "$(tail -c1 .dev.vars)" ]; then separator=$'\n'; fi
  {
    printf '%s' "$separator"
    echo "# Dev-only signing key, generated by scripts/setup.sh for local 'wrangler dev'. Never deploy it."
    echo "SIGNING_KEY='$key'"
  } >>.dev.vars
  chmod 600 .dev.vars
}

# `setup.sh rust` does only what `make lint` and `make fmt` need.
case "${1:-all}" in
  rust)
    step_rust_toolchain
    step_wasm_std
    ;;
  all)
    step_system_packages
    step_node
    step_rust_toolchain
    step_wasm_std
    step_host_tools
    step_npm
    step_chromium
    step_python_packages
    step_dev_key
    ;;
  *) fail "unknown setup scope '$1'" "run scripts/setup.sh with no argument, or 'rust'" ;;
esac
