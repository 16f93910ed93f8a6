#!/usr/bin/env bash
# Deployability check, run by `make test`: `wrangler deploy --dry-run --outdir` builds exactly what
# `wrangler deploy` would upload (offline: no account, no network), then the upload is checked
# against the Workers script size limits:
#   - compressed (gzip) size: 3 MB on the Free plan, 10 MB on Paid. We hold the Free limit, so the
#     gateway deploys on any account; the check fails well before a deploy would be rejected.
#   - uncompressed size: 64 MB on every plan.
# Source maps are not uploaded (upload_source_maps is off), so they are not counted.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

GZIP_LIMIT=3000000
RAW_LIMIT=64000000

export_build_env
export_wrangler_env
outdir="$(mktemp -d "${TMPDIR:-/tmp}/edgeauth-deploy-XXXXXX")"
trap 'rm -rf "$outdir"' EXIT
deploy_log="$(log_file deploy-dry-run)"
say "test: wrangler deploy --dry-run --outdir (log: $deploy_log)"
if ! CI=true npx --no-install wrangler deploy --dry-run --outdir "$outdir" >"$deploy_log" 2>&1; then
  tail -n 20 "$deploy_log" >&2
  fail "wrangler deploy --dry-run did not build the bundle" "see $deploy_log"
fi

raw=0
gz=0
files=()
for file in "$outdir"/*.js "$outdir"/*.wasm; do
  [ -f "$file" ] || continue
  files+=("$(basename "$file")")
  raw=$((raw + $(stat -c %s "$file")))
  gz=$((gz + $(gzip -9 -c "$file" | wc -c)))
done
if [ ! -f "$outdir/index.js" ] || ! compgen -G "$outdir/*.wasm" >/dev/null; then
  fail "the dry-run bundle lacks index.js or the .wasm module (got: ${files[*]:-nothing})" "see $deploy_log"
fi
if [ "$gz" -gt "$GZIP_LIMIT" ]; then
  fail "the Worker upload is $gz bytes gzipped, over the ${GZIP_LIMIT}-byte Free-plan limit" \
    "shrink the wasm (see Cargo.toml [profile.release]) or move to a Paid plan and raise GZIP_LIMIT"
fi
if [ "$raw" -gt "$RAW_LIMIT" ]; then
  fail "the Worker upload is $raw bytes uncompressed, over the ${RAW_LIMIT}-byte limit" "shrink the wasm"
fi
say "test: deployable: ${files[*]}: $raw bytes, $gz gzipped (limits: $GZIP_LIMIT gzipped on the Free plan, $RAW_LIMIT uncompressed)"
