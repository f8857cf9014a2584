#!/usr/bin/env bash
# Starts every process of the Procfile under honcho in the foreground (Ctrl-C stops them),
# or `scripts/run.sh stop` stops a honcho started elsewhere.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
pidfile="$STATE/honcho.pid"
if [ "${1:-}" = stop ]; then
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -TERM "$(cat "$pidfile")"; log "processes stopped"
  fi
  rm -f "$pidfile"; exit 0
fi
cat <<INFO

  Messenger          ${SITE_URL}/
  API docs           ${SITE_URL}/api/docs/
  Django admin       ${SITE_URL}/admin/
  Centrifugo admin   http://127.0.0.1:${CENTRIFUGO_PORT:-8801}/   (password: CENTRIFUGO_ADMIN_PASSWORD in .env)
  Demo logins        ${DEMO_USERNAME} and ${DEMO_USERNAME}-friend, password ${DEMO_PASSWORD}   (also in .env)
  Flower (Celery)    http://127.0.0.1:${FLOWER_PORT:-5555}/   ${FLOWER_USER:-flower} / ${FLOWER_PASSWORD}
  Emails sent        .state/mail/*.eml   (docs/background-jobs.md)

INFO
echo $$ > "$pidfile"
# The environment is already complete (lib.sh read .env without overriding it); honcho's
# own .env loading would override the environment, so it gets an empty file.
exec "$VENV/bin/honcho" start -e /dev/null
