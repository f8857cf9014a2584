#!/usr/bin/env bash
# Starts every process of the stack under supervisord in the foreground (Ctrl-C stops them
# all), or `scripts/run.sh stop` stops a supervisord started elsewhere. The configs of
# nginx and supervisord are rendered first from deploy/ and the environment into $STATE.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
conf="$STATE/supervisord.conf"
ctl() { "$VENV/bin/supervisorctl" -c "$conf" "$@"; }
if [ "${1:-}" = stop ]; then
  if [ -S "$STATE/run/supervisor.sock" ] && ctl pid >/dev/null 2>&1; then
    ctl shutdown >/dev/null && log "processes stopped"
  fi
  exit 0
fi
if [ -S "$STATE/run/supervisor.sock" ] && ctl pid >/dev/null 2>&1; then
  log "already running (supervisord $(ctl pid)); scripts/run.sh stop first"; exit 1
fi
"$VENV/bin/python" manage.py serving_config >/dev/null
cat <<INFO

  Messenger          ${SITE_URL}/   (also http://localhost:${WEB_PORT:-8800}/)
  API docs           ${SITE_URL}/api/docs/
  Django admin       ${SITE_URL}/admin/
  Centrifugo admin   http://127.0.0.1:${CENTRIFUGO_INTERNAL_PORT:-8804}/   (loopback only; password: CENTRIFUGO_ADMIN_PASSWORD in .env)
  Demo logins        ${DEMO_USERNAME} and ${DEMO_USERNAME}-friend, password ${DEMO_PASSWORD}   (also in .env)
  Flower (Celery)    http://127.0.0.1:${FLOWER_PORT:-5555}/   ${FLOWER_USER:-flower} / ${FLOWER_PASSWORD}
  Emails sent        .state/mail/*.eml   (docs/background-jobs.md)
  Logs               .state/log/<process>.log; .venv/bin/supervisorctl -c .state/supervisord.conf status

INFO
exec "$VENV/bin/supervisord" -c "$conf"
