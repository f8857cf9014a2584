#!/usr/bin/env bash
# Starts or stops the project's own PostgreSQL and Redis, with their data under .state/.
# Setting DATABASE_URL or REDIS_URL (environment or .env) uses existing servers instead.
#   scripts/services.sh start|stop|status
#   scripts/services.sh postgres-start   (PostgreSQL only: scripts/test.sh's extra servers; stop ends them too)
source "$(dirname "$0")/lib.sh"

pg_data="$STATE/postgres"
pg_run="$STATE/run"
redis_dir="$STATE/redis"

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# The cluster's superuser is the OS user that runs it (postgres as root), reachable only
# through the local socket by peer authentication; the app connects over TCP with a
# password as `messenger_app`, which owns the database and is not a superuser.
pg_super="$( [ "$(id -u)" = 0 ] && echo postgres || id -un )"
app_role=messenger_app
as_super_psql() { as_postgres psql -h "$pg_run" -p "$PG_PORT" -U "$pg_super" -v ON_ERROR_STOP=1 -qtA "$@"; }

pg_start() {
  if [ -n "${DATABASE_URL:-}" ]; then log "PostgreSQL: using DATABASE_URL"; return; fi
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then log "PostgreSQL: POSTGRES_PASSWORD is empty (.env)"; exit 1; fi
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
    as_postgres "$PG_BIN/initdb" -D "$pg_data" -U "$pg_super" \
      --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # pg_stat_statements is loaded (a few % of a statement's cost) so that a profile can read
  # what each statement costs (`python -m bench api-throughput` --profile, docs/performance.md); its
  # view exists once a superuser runs CREATE EXTENSION in some database. A cluster already
  # running keeps its settings until it is restarted (scripts/services.sh stop; start).
  if as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then
    log "PostgreSQL: running on 127.0.0.1:$PG_PORT"
  else
    as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -o \
      "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $pg_run -c max_connections=300 -c shared_preload_libraries=pg_stat_statements -c fsync=${POSTGRES_FSYNC:-on} -c password_encryption=scram-sha-256" \
      start >/dev/null
    log "PostgreSQL: started on 127.0.0.1:$PG_PORT"
  fi
  pg_upgrade_auth
  pg_app_role
  pg_legacy_role_retire
}

# The superuser of clusters made before the app role, `messenger`: kept (initdb made it the
# bootstrap role, which PostgreSQL keeps a superuser) but it can no longer sign in, by any
# method; and a superuser no more when it is not the bootstrap role.
pg_legacy_role_retire() {
  [ "$pg_super" = messenger ] && return 0
  as_super_psql -d postgres <<'SQL'
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'messenger' AND rolcanlogin) AS live,
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'messenger' AND rolsuper AND oid <> 10) AS demote \gset
\if :live
ALTER ROLE messenger NOLOGIN PASSWORD NULL;
\endif
\if :demote
ALTER ROLE messenger NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\endif
SQL
}

# A cluster made before the app role existed: its superuser was `messenger` and local
# connections were trusted. Give the OS user a superuser role, then trust no one.
pg_upgrade_auth() {
  local hba="$pg_data/pg_hba.conf"
  as_postgres grep -qE '^local[[:space:]].*trust' "$hba" || return 0
  log "PostgreSQL: switching local connections from trust to peer authentication"
  as_postgres psql -h "$pg_run" -p "$PG_PORT" -U messenger -d postgres -v ON_ERROR_STOP=1 -qtA -v role="$pg_super" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') AS missing \gset
\if :missing
CREATE ROLE :"role" SUPERUSER LOGIN;
\endif
SQL
  # The old superuser had the app's password: it no longer signs in with one.
  [ "$pg_super" = messenger ] || as_postgres psql -h "$pg_run" -p "$PG_PORT" -U "$pg_super" -d postgres -qc \
    "ALTER ROLE messenger PASSWORD NULL" >/dev/null
  as_postgres sed -i -E 's/^(local[[:space:]].*)trust[[:space:]]*$/\1peer/' "$hba"
  as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" reload >/dev/null
}

# The app's role (password from .env), owner of the database `messenger` and of everything
# in it; CREATEDB for the test databases. Idempotent; also takes over what an older cluster's
# superuser `messenger` created.
pg_app_role() {
  as_super_psql -d postgres -v role="$app_role" -v pw="$POSTGRES_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') AS missing \gset
\if :missing
CREATE ROLE :"role" LOGIN CREATEDB NOSUPERUSER PASSWORD :'pw';
\else
ALTER ROLE :"role" LOGIN CREATEDB NOSUPERUSER PASSWORD :'pw';
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'messenger') AS nodb \gset
\if :nodb
CREATE DATABASE messenger OWNER :"role";
\endif
ALTER DATABASE messenger OWNER TO :"role";
-- An older cluster's databases (the test databases among them) made by `messenger`.
SELECT format('ALTER DATABASE %I OWNER TO %I', datname, :'role') FROM pg_database
WHERE pg_get_userbyid(datdba) = 'messenger' AND :'role' <> 'messenger' AND datname NOT IN ('postgres', 'template0', 'template1')
\gexec
SQL
  as_super_psql -d messenger -v role="$app_role" <<'SQL'
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
              n.nspname, c.relname, :'role')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND pg_get_userbyid(c.relowner) <> :'role'
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))
\gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'role')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> :'role'
\gexec
ALTER SCHEMA public OWNER TO :"role";
SQL
}

pg_stop() {
  local data
  # make test's extra servers too (scripts/test.sh: one per test process after the first).
  for data in "$pg_data" "$STATE"/test-*/postgres; do
    [ -f "$data/PG_VERSION" ] || continue
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 && log "PostgreSQL: stopped ($data)" || true
  done
}

# Redis asks for REDIS_PASSWORD (generated into .env by setup.sh). The password is in a
# config file only the owner reads, not on a command line that `ps` shows.
redis_cli() { REDISCLI_AUTH="${REDIS_PASSWORD:-}" redis-cli -p "$REDIS_PORT" "$@"; }

redis_start() {
  if [ -n "${REDIS_URL:-}" ]; then log "Redis: using REDIS_URL"; return; fi
  if [ -z "${REDIS_PASSWORD:-}" ]; then log "Redis: REDIS_PASSWORD is empty (.env)"; exit 1; fi
  mkdir -p "$redis_dir"
  (umask 077; printf 'requirepass "%s"\n' "$REDIS_PASSWORD" > "$redis_dir/redis.conf")
  if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    # Started before Redis had a password: set it on the running server.
    redis-cli -p "$REDIS_PORT" config set requirepass "$REDIS_PASSWORD" >/dev/null
    log "Redis: running on 127.0.0.1:$REDIS_PORT, password now required"; return
  fi
  if redis_cli ping 2>/dev/null | grep -q PONG; then
    log "Redis: running on 127.0.0.1:$REDIS_PORT"; return
  fi
  redis-server "$redis_dir/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$redis_dir" --daemonize yes \
    --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" \
    --appendonly yes --save "" >/dev/null
  for _ in $(seq 50); do redis_cli ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  if ! redis_cli ping 2>/dev/null | grep -q PONG; then
    # Another server holding the port (another checkout's, with another password) lands here.
    log "Redis: no answer with REDIS_PASSWORD on 127.0.0.1:$REDIS_PORT ($(redis_cli ping 2>&1 | head -1)); see $redis_dir/redis.log"
    exit 1
  fi
  log "Redis: started on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  redis_cli shutdown nosave >/dev/null 2>&1 && log "Redis: stopped" || true
}

case "${1:-}" in
  start) pg_start; redis_start ;;
  stop) redis_stop; pg_stop ;;
  postgres-start) pg_start ;;
  status)
    as_postgres "$PG_BIN/pg_ctl" -D "$pg_data" status || true
    redis_cli ping || true ;;
  *) echo "usage: $0 start|stop|status|postgres-start" >&2; exit 2 ;;
esac
