#!/usr/bin/env bash
# supervisord's `centrifugo` program: renders Centrifugo's config from the template and
# the environment (secrets stay under .state/, never in git), checks it with `centrifugo
# checkconfig`, waits until the database answers (the outbox consumer pings it on start and
# exits without it), then runs Centrifugo in the foreground.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
config="$STATE/centrifugo/config.json"
"$VENV/bin/python" manage.py centrifugo_config --output "$config" --wait-db 60 >/dev/null
# Centrifugo reads CENTRIFUGO_* variables and a .env in its working directory as config
# overrides; ours mean something else (CENTRIFUGO_PORT...), so the file is its only source.
for var in $(compgen -e | grep '^CENTRIFUGO_'); do unset "$var"; done
cd "$(dirname "$config")"
exec "$CENTRIFUGO_BIN" --config "$config"
