#!/usr/bin/env bash
# supervisord's `centrifugo` program: renders Centrifugo's config from the template and
# the environment (secrets stay under .state/, never in git), checks it with `centrifugo
# checkconfig`, waits until the database answers (the outbox consumer pings it on start and
# exits without it), then runs Centrifugo in the foreground. Its argument: which node of this
# machine (0 by default; ops.centrifugo.node_count decides how many there are).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
node="${1:-0}"
if [ "$node" = 0 ]; then config="$STATE/centrifugo/config.json"; else config="$STATE/centrifugo/node$node/config.json"; fi
"$VENV/bin/python" manage.py centrifugo_config --node "$node" --output "$config" --wait-db 60 >/dev/null
# Centrifugo reads CENTRIFUGO_* variables and a .env in its working directory as config
# overrides; ours mean something else (CENTRIFUGO_PORT...), so the file is its only source.
for var in $(compgen -e | grep '^CENTRIFUGO_'); do unset "$var"; done
cd "$(dirname "$config")"
exec "$CENTRIFUGO_BIN" --config "$config"
