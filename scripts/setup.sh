#!/usr/bin/env bash
# Installs what is missing; idempotent and quick when everything is there.
#   Debian packages: PostgreSQL, Redis, Chromium, nginx + Nchan, wrk (bench), PgBouncer and
#   socat (the cluster profile)
#   .venv with the pinned Python dependencies
#   Centrifugo built once into a cache outside the clone, keyed by version
#   centrifuge-js copied from the npm registry into the static files
#   .env with generated secrets, written on the first run only
source "$(dirname "$0")/lib.sh"

apt_packages=(postgresql redis-server chromium nginx-light libnginx-mod-nchan wrk pgbouncer socat)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts its own servers on the default ports; the project runs its own.
  service nginx stop >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
  service pgbouncer stop >/dev/null 2>&1 || true
fi

lock="$ROOT/requirements/lock.txt"
stamp="$VENV/.lock.sha256"
want="$(cat "$ROOT"/requirements/*.in "$lock" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python dependencies into .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$ROOT/requirements/dev.in" -c "$lock"
  "$VENV/bin/pip" check
  echo "$want" > "$stamp"
fi

if [ ! -x "$CENTRIFUGO_BIN" ]; then
  if ! command -v go >/dev/null; then
    log "Centrifugo and the load generator are built from source: install Go 1.26 or newer (bench/loadgen/go.mod; Debian 12's golang is too old)"
    exit 1
  fi
  log "building Centrifugo $CENTRIFUGO_VERSION (slow the first time; cached in $CACHE)"
  mkdir -p "$(dirname "$CENTRIFUGO_BIN")"
  GOBIN="$(dirname "$CENTRIFUGO_BIN")" GOFLAGS=-mod=mod \
    go install "github.com/centrifugal/centrifugo/v6@$CENTRIFUGO_VERSION"
fi

# The benchmark's load generator (Go), built into the same cache, keyed by its sources' hash.
if command -v go >/dev/null; then
  "$ROOT/bench/loadgen/build.sh" >/dev/null || log "could not build bench/loadgen (make bench needs it)"
fi

vendor="$ROOT/web/static/web/vendor"
if [ -d "$ROOT/web" ] && [ ! -f "$vendor/centrifuge.js" ]; then
  log "installing centrifuge-js from the npm registry"
  if ! command -v npm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  (cd "$ROOT/web/js" && npm ci --silent --no-audit --no-fund)
  mkdir -p "$vendor"
  cp "$ROOT/web/js/node_modules/centrifuge/dist/centrifuge.js" "$vendor/centrifuge.js"
fi

if [ ! -f "$ENV_FILE" ]; then
  log "writing $ENV_FILE with fresh secrets"
  secret() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
  # umask 077: the file is the owner's alone from its creation, not only after the chmod.
  (umask 077; sed \
    -e "s|^DJANGO_SECRET_KEY=.*|DJANGO_SECRET_KEY=$(secret 50)|" \
    -e "s|^POSTGRES_PASSWORD=.*|POSTGRES_PASSWORD=$(secret 24)|" \
    -e "s|^REDIS_PASSWORD=.*|REDIS_PASSWORD=$(secret 24)|" \
    -e "s|^CENTRIFUGO_TOKEN_HMAC_SECRET=.*|CENTRIFUGO_TOKEN_HMAC_SECRET=$(secret 32)|" \
    -e "s|^CENTRIFUGO_HTTP_API_KEY=.*|CENTRIFUGO_HTTP_API_KEY=$(secret 32)|" \
    -e "s|^CENTRIFUGO_ADMIN_PASSWORD=.*|CENTRIFUGO_ADMIN_PASSWORD=$(secret 16)|" \
    -e "s|^CENTRIFUGO_ADMIN_SECRET=.*|CENTRIFUGO_ADMIN_SECRET=$(secret 32)|" \
    -e "s|^FLOWER_PASSWORD=.*|FLOWER_PASSWORD=$(secret 16)|" \
    -e "s|^DEMO_PASSWORD=.*|DEMO_PASSWORD=$(secret 9)|" \
    "$ROOT/.env.example" > "$ENV_FILE")
  chmod 600 "$ENV_FILE"
fi
# Web Push: a VAPID key pair (P-256), generated once; the public key is what browsers get.
if ! grep -q '^PUSH_VAPID_PRIVATE_KEY=.' "$ENV_FILE"; then
  log "adding a generated VAPID key pair (Web Push) to $ENV_FILE"
  sed -i '/^PUSH_VAPID_P[A-Z]*_KEY=/d' "$ENV_FILE"
  (cd "$ROOT" && .venv/bin/python -m push.vapid) >> "$ENV_FILE"
fi
# A secret added to .env.example after this .env was written: appended, freshly generated.
if ! grep -q '^REDIS_PASSWORD=.' "$ENV_FILE"; then
  log "adding a generated REDIS_PASSWORD to $ENV_FILE"
  sed -i '/^REDIS_PASSWORD=/d' "$ENV_FILE"
  printf 'REDIS_PASSWORD=%s\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')" >> "$ENV_FILE"
fi
