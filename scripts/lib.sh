# Shared paths and helpers for the project's scripts. Source it; do not run it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${MESSENGER_STATE_DIR:-$ROOT/.state}"
VENV="$ROOT/.venv"
ENV_FILE="$ROOT/.env"
CACHE="${MESSENGER_CACHE_DIR:-$HOME/.cache/messenger}"
CENTRIFUGO_VERSION="v6.9.1"
CENTRIFUGO_BIN="$CACHE/centrifugo-$CENTRIFUGO_VERSION/centrifugo"

# Ports of the project's own, so servers already on the default ports do not clash.
PG_PORT="${MESSENGER_PG_PORT:-55432}"
REDIS_PORT="${MESSENGER_REDIS_PORT:-56379}"

log() { printf '\033[1m[messenger]\033[0m %s\n' "$*" >&2; }

# Read KEY from the env file (empty when absent).
env_get() { [ -f "$ENV_FILE" ] && sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1 || true; }

# The env file holds ports and secrets for scripts, supervisord and Django; like Django's
# read_env, it only fills what the environment does not already set.
load_env_file() {
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    [[ "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || continue
    key="${line%%=*}"
    [ -n "${!key+x}" ] || export "$key=${line#*=}"
  done < "$1"
}
[ -f "$ENV_FILE" ] && load_env_file "$ENV_FILE"
PG_PORT="${MESSENGER_PG_PORT:-$PG_PORT}"
REDIS_PORT="${MESSENGER_REDIS_PORT:-$REDIS_PORT}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
