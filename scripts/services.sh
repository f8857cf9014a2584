#!/usr/bin/env bash
# Starts or stops the project's own PostgreSQL and Redis, with their data under .state/.
# Setting DATABASE_URL or REDIS_URL (environment or .env) uses existing servers instead.
#   scripts/services.sh start|stop|status
source "$(dirname "$0")/lib.sh"

pg_data="$STATE/postgres"
pg_run="$STATE/run"
redis_dir="$STATE/redis"

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_start() {
  if [ -n "${DATABASE_URL:-}" ]; then log "PostgreSQL: using DATABASE_URL"; return; fi
  mkdir -p "$STATE" "$pg_run"
  # initdb refuses root: the cluster belongs to the postgres user.
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_run"
    # The postgres user must reach .state/ (a clone under a private temp dir is 700).
    dir="$STATE"
    until runuser -u postgres -- test -x "$STATE" || [ "$dir" = / ]; do chmod o+x "$dir"; dir="$(dirname "$dir")"; done
  fi
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    log "PostgreSQL: initialising a cluster in $pg_data"
    mkdir -p "$pg_data"; [ "$(id -u)" = 0 ] && chown postgres "$pg_data"
    pwfile="$(mktemp)"; printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
    as_postgres "$PG_BIN/initdb" -D "$pg_data" -U messenger --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  if as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    log "PostgreSQL: running on 127.0.0.1:$PG_PORT"
  else
    as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -o \
      "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pg_run -c max_connections=300 -c fsync=${POSTGRES_FSYNC:-on}" \
      start >/dev/null
    log "PostgreSQL: started on 127.0.0.1:$PG_PORT"
  fi
  if ! as_postgres psql -h "$pg_run" -p "$PG_PORT" -U messenger -d postgres -tAc \
      "select 1 from pg_database where datname='messenger'" | grep -q 1; then
    as_postgres psql -h "$pg_run" -p "$PG_PORT" -U messenger -d postgres -qc "create database messenger"
  fi
}

pg_stop() {
  [ -f "$pg_data/PG_VERSION" ] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 && log "PostgreSQL: stopped" || true
}

redis_start() {
  if [ -n "${REDIS_URL:-}" ]; then log "Redis: using REDIS_URL"; return; fi
  mkdir -p "$redis_dir"
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "Redis: running on 127.0.0.1:$REDIS_PORT"; return
  fi
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$redis_dir" --daemonize yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" \
    --appendonly yes --save "" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log "Redis: started on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 && log "Redis: stopped" || true
}

case "${1:-}" in
  start) pg_start; redis_start ;;
  stop) redis_stop; pg_stop ;;
  status)
    as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" status || true
    redis-cli -p "$REDIS_PORT" ping || true ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
