#!/usr/bin/env bash
# `make dev`: set up what is missing, build, and run the worker under `wrangler dev` on
# 127.0.0.1:${EDGEAUTH_PORT:-8787}, with a dev-only local OpenID Provider for single sign-on
# (scripts/dev_provider.mjs; EDGEAUTH_DEV_PROVIDER=0 leaves it out). Extra arguments go to
# wrangler, e.g.
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

# The local OpenID Provider: on unless EDGEAUTH_DEV_PROVIDER=0, or IDENTITY_PROVIDERS is given.
dev_provider=on
case "${EDGEAUTH_DEV_PROVIDER:-1}" in
  1) ;;
  0) dev_provider="off (EDGEAUTH_DEV_PROVIDER=0)" ;;
  *) fail "EDGEAUTH_DEV_PROVIDER=$EDGEAUTH_DEV_PROVIDER is not understood" "set it to 0 (no local provider) or 1" ;;
esac
for arg in "$@"; do
  case "$arg" in
    IDENTITY_PROVIDERS:* | --var=IDENTITY_PROVIDERS:*) dev_provider="off (IDENTITY_PROVIDERS given to wrangler)" ;;
  esac
done

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

# Passkeys for the demo: the RP ID is localhost (WebAuthn refuses IP addresses), and a one-time
# enrollment link for the demo user, minted with the dev key, is printed below.
PASSKEY_VARS=(--var "PASSKEY_RP_ID:localhost" --var "PASSKEY_ORIGINS:http://localhost:$PORT")
enrollment_link() {
  local log
  log="$(log_file enroll-demo-user)"
  cargo run --quiet --locked --bin edgeauth -- enroll --key .dev.vars --url "http://localhost:$PORT" \
    "$DEMO_USER" --roles user,admin --name "Demo User" --ttl 86400 2>"$log" ||
    fail "minting the demo user's passkey enrollment link" "see $log"
}
ENROLL_LINK="$(enrollment_link)"

# wrangler and the provider are this script's children, stopped whichever way it ends: Ctrl-C,
# SIGTERM to this script alone, a failed step, or wrangler exiting. On a signal, it then dies of
# that signal itself, so that make (or a calling shell) sees an interrupt, not an exit status.
WRANGLER_PID=""
DEV_PROVIDER_PID=""
stop_children() {
  local pid
  for pid in $WRANGLER_PID $DEV_PROVIDER_PID; do
    kill -TERM "$pid" 2>/dev/null || true # wrangler stops its workerd itself
  done
  for pid in $WRANGLER_PID $DEV_PROVIDER_PID; do
    wait "$pid" 2>/dev/null || true
  done
}
on_exit() {
  local status=$?
  trap - EXIT
  stop_children
  exit "$status"
}
trap on_exit EXIT
trap 'trap - EXIT INT; stop_children; kill -INT $$' INT
trap 'trap - EXIT TERM; stop_children; kill -TERM $$' TERM

# The dev-only OpenID Provider: a real oidc-provider on a loopback port the OS picks, with the
# same demo user. Its client secret is a published dev value, like the demo password.
LOCAL_DEMO_CLIENT_ID=edgeauth-dev
LOCAL_DEMO_CLIENT_SECRET=dev-only-local-demo-provider-secret
DEV_PROVIDER_READY_SECS=30
DEV_PROVIDER_VARS=()
start_dev_provider() {
  local log dir line
  log="$(log_file dev-provider)"
  # Its one line of stdout (ISSUER=…) through a FIFO: read with a bound, and at once at EOF
  # when the provider dies first.
  dir="$(mktemp -d "${TMPDIR:-/tmp}/edgeauth-dev.XXXXXX")"
  mkfifo "$dir/stdout"
  LOCAL_DEMO_CLIENT_SECRET="$LOCAL_DEMO_CLIENT_SECRET" \
    node scripts/dev_provider.mjs "$PORT" "$LOCAL_DEMO_CLIENT_ID" >"$dir/stdout" 2>"$log" &
  DEV_PROVIDER_PID=$!
  exec 3<"$dir/stdout"
  rm -rf "$dir"
  if ! IFS= read -r -t "$DEV_PROVIDER_READY_SECS" -u 3 line; then
    exec 3<&-
    tail -n 20 "$log" >&2
    fail "starting the local OpenID Provider (no issuer within ${DEV_PROVIDER_READY_SECS}s, or it exited)" \
      "see $log, or run without it: EDGEAUTH_DEV_PROVIDER=0 make dev"
  fi
  exec 3<&-
  [[ "$line" =~ ^ISSUER=(http://127\.0\.0\.1:[0-9]+)$ ]] ||
    fail "the local OpenID Provider printed '$line', not ISSUER=http://127.0.0.1:<port>" "see $log"
  local issuer="${BASH_REMATCH[1]}"
  # wrangler splits --var NAME:VALUE at the first ':' only, so the JSON's colons survive.
  local providers
  printf -v providers '%s' \
    '[{"id": "local", "label": "Local demo provider", "issuer": "'"$issuer"'",' \
    ' "client_id": "'"$LOCAL_DEMO_CLIENT_ID"'", "client_secret_secret": "LOCAL_DEMO_CLIENT_SECRET",' \
    ' "scopes": ["openid", "email", "profile", "groups"], "mapping": {"default_roles": ["user"]}}]'
  DEV_PROVIDER_VARS=(--var "IDENTITY_PROVIDERS:$providers"
    --var "LOCAL_DEMO_CLIENT_SECRET:$LOCAL_DEMO_CLIENT_SECRET")
  say "dev: local OpenID Provider (dev only) at $issuer (log: $log)"
}

if [ "$dev_provider" = on ]; then
  start_dev_provider
else
  say "dev: no local OpenID Provider: $dev_provider"
fi

say "dev: starting wrangler dev on http://$HOST:$PORT (Ctrl-C stops it)"
say "dev: open http://$HOST:$PORT/app in a browser and sign in as $DEMO_USER / $DEMO_PASSWORD (dev only)"
if [ "$dev_provider" = on ]; then
  say "dev: or with \"Sign in with Local demo provider\", as $DEMO_USER / $DEMO_PASSWORD there: you are local:$DEMO_USER"
fi
say "dev: passkeys: enroll one for $DEMO_USER at (dev only, one use, 24 h)"
say "dev:   $ENROLL_LINK"
say "dev:   then sign in at http://localhost:$PORT/app with \"Sign in with a passkey\" (passkeys need the localhost name)"
say "dev: or try  curl -s http://$HOST:$PORT/healthz"
# Our --var options come before --ip: wrangler's --var takes every value up to the next option.
# A var given again in "$@" comes last, and the last one wins. In the background, so that the
# traps above run at once; <&0 keeps the terminal as its stdin (& alone would give /dev/null).
"$EDGEAUTH_ROOT/node_modules/.bin/wrangler" dev "${DEV_PROVIDER_VARS[@]}" "${PASSKEY_VARS[@]}" --ip "$HOST" --port "$PORT" \
  --show-interactive-dev-session=false "$@" <&0 &
WRANGLER_PID=$!
wait "$WRANGLER_PID"
