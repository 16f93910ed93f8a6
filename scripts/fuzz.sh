#!/usr/bin/env bash
# A bounded fuzzing run: every target in fuzz/ (cargo fuzz, libFuzzer) from its seeds in
# fuzz/corpus/<target>/, for EDGEAUTH_FUZZ_SECONDS of fuzzing in all (default 80, split evenly,
# one target per core at a time; each target's start adds a second or two), then each target's
# execution count and the total. Any crash, failed assertion, hang (10 s on one input) or
# out-of-memory fails the run; the input is kept in fuzz/artifacts/<target>/ and printed in
# base64. New corpus entries go to a temporary directory, never into the repository.
#
# Installs what is missing (the nightly toolchain with rustup, cargo-fuzz into the tool cache).
# Where either cannot be had, it runs the property tests instead and says so.
# Arguments, if any, are the targets to run (default: all of fuzz/Cargo.toml's).
# EDGEAUTH_FUZZ=props runs the property tests only.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

FUZZ_SECONDS="${EDGEAUTH_FUZZ_SECONDS:-80}"
FUZZ_JOBS="${EDGEAUTH_FUZZ_JOBS:-$(nproc)}"
NIGHTLY="${EDGEAUTH_FUZZ_TOOLCHAIN:-nightly}"
CARGO_FUZZ_VERSION="0.13.2"
# Throughput over the address sanitizer: the crate forbids unsafe code. Overflow checks and
# debug assertions stay on (cargo fuzz's default build).
FUZZ_BUILD_FLAGS=(--sanitizer none)
PROPERTY_TESTS=(--test properties --test path_properties)

start=$SECONDS

property_tests() { # WHY: the fallback, when a fuzzing run cannot be had
  say "fuzz: $1; running the property tests instead (cargo test --locked ${PROPERTY_TESTS[*]})"
  cargo test --locked "${PROPERTY_TESTS[@]}"
  say "fuzz: RAN: the property tests (${PROPERTY_TESTS[*]}) in $((SECONDS - start))s, NOT the fuzz targets: $1"
  exit 0
}

[ "${EDGEAUTH_FUZZ:-}" = props ] && property_tests "EDGEAUTH_FUZZ=props"
command -v rustup >/dev/null 2>&1 || property_tests "rustup is not installed, so no nightly toolchain"

step_nightly() {
  rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1 && return 0
  local log
  log="$(log_file fuzz-setup-nightly)"
  say "fuzz: installing the $NIGHTLY toolchain with rustup (log: $log)"
  timeout 600 rustup toolchain install "$NIGHTLY" --profile minimal >"$log" 2>&1
}

cargo_fuzz_dir() { printf '%s/cargo-fuzz-%s' "$TOOLS_DIR" "$CARGO_FUZZ_VERSION"; }

step_cargo_fuzz() {
  cargo fuzz --version >/dev/null 2>&1 && return 0
  local dir log partial
  dir="$(cargo_fuzz_dir)"
  PATH="$dir/bin:$PATH"
  cargo fuzz --version >/dev/null 2>&1 && return 0
  log="$(log_file "fuzz-setup-cargo-fuzz-$CARGO_FUZZ_VERSION")"
  partial="$dir.partial.$$"
  say "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $dir (about a minute; log: $log)"
  mkdir -p "$TOOLS_DIR"
  rm -rf "$partial"
  if ! timeout 900 cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" \
    --root "$partial" >"$log" 2>&1; then
    rm -rf "$partial"
    return 1
  fi
  rm -rf "$dir"
  mv "$partial" "$dir"
  cargo fuzz --version >/dev/null 2>&1
}

step_nightly || property_tests "the $NIGHTLY toolchain could not be installed (see $(log_file fuzz-setup-nightly))"
step_cargo_fuzz || property_tests "cargo-fuzz $CARGO_FUZZ_VERSION could not be installed (see $(log_file "fuzz-setup-cargo-fuzz-$CARGO_FUZZ_VERSION"))"
export PATH

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +"$NIGHTLY" fuzz list)
fi
[ ${#targets[@]} -gt 0 ] || fail "no fuzz targets in fuzz/Cargo.toml" "add a [[bin]] per target"
for target in "${targets[@]}"; do
  [ -d "fuzz/corpus/$target" ] || fail "fuzz target $target has no seeds" "add files to fuzz/corpus/$target/"
done

# The fuzz crate resolves its dependencies from the crate's own lockfile, so it fuzzes the
# versions the crate is tested with; only what fuzzing alone needs is added to it.
if [ ! -f fuzz/Cargo.lock ] || [ Cargo.lock -nt fuzz/Cargo.lock ]; then
  cp Cargo.lock fuzz/Cargo.lock
fi

build_log="$(log_file fuzz-build)"
say "fuzz: building ${#targets[@]} targets with $(rustup run "$NIGHTLY" rustc --version) and $(cargo fuzz --version) (log: $build_log)"
build_start=$SECONDS
if ! cargo +"$NIGHTLY" fuzz build "${FUZZ_BUILD_FLAGS[@]}" >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  fail "building the fuzz targets" "fix the error above; full log: $build_log"
fi
build_secs=$((SECONDS - build_start))

[ "$FUZZ_JOBS" -ge 1 ] || FUZZ_JOBS=1
[ "$FUZZ_JOBS" -le ${#targets[@]} ] || FUZZ_JOBS=${#targets[@]}
rounds=$(((${#targets[@]} + FUZZ_JOBS - 1) / FUZZ_JOBS))
per_target=$((FUZZ_SECONDS / rounds))
[ "$per_target" -ge 1 ] || per_target=1

work="$(mktemp -d "${TMPDIR:-/tmp}/edgeauth-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "fuzz: ${#targets[@]} targets, ${per_target}s each, $FUZZ_JOBS at a time (new corpus entries in $work, discarded)"

run_target() { # TARGET: one bounded libFuzzer run; its output in $work/TARGET.log, its status in .rc
  local target="$1" status=0
  mkdir -p "$work/corpus/$target"
  cargo +"$NIGHTLY" fuzz run "${FUZZ_BUILD_FLAGS[@]}" "$target" \
    "$work/corpus/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$per_target" -timeout=10 -print_final_stats=1 \
    >"$work/$target.log" 2>&1 || status=$?
  echo "$status" >"$work/$target.rc"
}

fuzz_start=$SECONDS
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge "$FUZZ_JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
wait

total=0
failed=()
for target in "${targets[@]}"; do
  status="$(cat "$work/$target.rc" 2>/dev/null || echo missing)"
  log="$work/$target.log"
  runs="$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log" | tail -n 1)"
  if [ "$status" != 0 ] || [ -z "$runs" ]; then
    failed+=("$target")
    cp "$log" "$(log_file "fuzz-$target")"
    say "fuzz: $target: FAILED (exit $status); log: $(log_file "fuzz-$target")"
    # The panic (up to its backtrace), or libFuzzer's own verdict (timeout, out of memory).
    awk '/panicked at/ { p = 1 } /stack backtrace:/ { p = 0 } p; /^SUMMARY: / { print }' "$log" |
      head -n 20 >&2 || true
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    if [ -n "$artifact" ] && [ -f "$artifact" ]; then
      say "fuzz: $target: input kept in $artifact; base64: $(base64 -w0 "$artifact")"
      say "fuzz: $target: reproduce with: cargo +$NIGHTLY fuzz run ${FUZZ_BUILD_FLAGS[*]} $target $artifact"
    fi
    continue
  fi
  found="$(find "$work/corpus/$target" -type f | wc -l)"
  say "fuzz: $target: $runs runs in ${per_target}s ($found new corpus entries)"
  total=$((total + runs))
done

rm -rf "$work"
if [ ${#failed[@]} -gt 0 ]; then
  fail "fuzz targets found a failure: ${failed[*]}" \
    "see the input and panic above; fix it, then add the input to fuzz/corpus/<target>/"
fi
say "fuzz: RAN: cargo fuzz (libFuzzer), ${#targets[@]} targets, $total runs in all; fuzzing $((SECONDS - fuzz_start))s, build ${build_secs}s, total $((SECONDS - start))s"
