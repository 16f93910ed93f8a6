#!/usr/bin/env bash
# `make dev`: set up what is missing, build, and run the worker under `wrangler dev` on
# 127.0.0.1:${EDGEAUTH_PORT:-8787}. Extra arguments go to wrangler, e.g.
#   scripts/dev.sh --var ORIGIN_URL:http://127.0.0.1:3000
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

PORT="${EDGEAUTH_PORT:-8787}"
HOST=127.0.0.1

check_port_free() {
  if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then
    fail "port $PORT on $HOST is already in use" \
      "stop whatever listens there (ss -ltnp 'sport = :$PORT' shows it) or run: EDGEAUTH_PORT=8788 make dev"
  fi
}

check_port_free # before a long set-up, and again after it
"$EDGEAUTH_ROOT/scripts/setup.sh"
"$EDGEAUTH_ROOT/scripts/build.sh"
check_port_free

export_wrangler_env

# The demo user, written into the local Workers KV that wrangler dev reads (.wrangler/state).
DEMO_USER=demo
DEMO_PASSWORD=demo-password
seed_demo_user() {
  local log record
  log="$(log_file seed-demo-user)"
  record="$(printf '%s\n' "$DEMO_PASSWORD" |
    cargo run --quiet --locked --bin edgeauth -- add-user "$DEMO_USER" --roles user,admin \
      --name "Demo User" --record-only 2>"$log")" ||
    fail "hashing the demo user's password" "see $log"
  "$EDGEAUTH_ROOT/node_modules/.bin/wrangler" kv key put --local --binding USERS \
    "user:$DEMO_USER" "$record" >>"$log" 2>&1 ||
    fail "seeding the demo user into the local KV" "see $log"
}
seed_demo_user

say "dev: starting wrangler dev on http://$HOST:$PORT (Ctrl-C stops it)"
say "dev: open http://$HOST:$PORT/app in a browser and sign in as $DEMO_USER / $DEMO_PASSWORD (dev only)"
say "dev: or try  curl -s http://$HOST:$PORT/healthz"
exec "$EDGEAUTH_ROOT/node_modules/.bin/wrangler" dev --ip "$HOST" --port "$PORT" \
  --show-interactive-dev-session=false "$@"
