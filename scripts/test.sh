#!/usr/bin/env bash
# Runs pytest against the project's services (make test has started PostgreSQL and Redis).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export DJANGO_SETTINGS_MODULE=messenger.settings.test
# --create-db: a fresh test database each run, so a migration added since is never skipped.
# --durations: the slowest tests in every run, where make test's time goes.
exec "$VENV/bin/pytest" --create-db --durations=40 "$@"
