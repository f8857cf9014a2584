#!/usr/bin/env bash
# Runs pytest against the project's services (make test has started PostgreSQL and Redis).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export DJANGO_SETTINGS_MODULE=messenger.settings.test

# The suite runs in TEST_PROCESSES pytest-xdist processes: most tests wait on real servers, not
# on the CPU. Each process has its own test database, Redis prefixes and servers, and its own
# PostgreSQL server: the feed's cursors read the server's oldest running transaction
# (realtime.selectors), which another process's test would otherwise hold back. The first
# process uses make test's PostgreSQL; the others get one each, under .state/test-<n>/.
processes="${TEST_PROCESSES:-3}"
ports=("$PG_PORT")
for ((n = 1; n < processes; n++)); do
  port=$((PG_PORT + 200 * n))
  MESSENGER_STATE_DIR="$STATE/test-$n" MESSENGER_PG_PORT="$port" "$ROOT/scripts/services.sh" postgres-start
  ports+=("$port")
done
export TEST_DATABASE_PORTS="$(IFS=,; echo "${ports[*]}")"

# --create-db: a fresh test database each run, so a migration added since is never skipped.
# --durations: the slowest tests in every run, where make test's time goes.
# --dist loadgroup: each xdist_group's tests (the cluster suite, the faults) on one process, in
# turn. `scripts/test.sh -n 0 <args>` runs everything in this process alone.
exec "$VENV/bin/pytest" --create-db --durations=40 -n "$processes" --dist loadgroup "$@"
