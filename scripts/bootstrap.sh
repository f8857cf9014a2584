#!/usr/bin/env bash
# Brings the database to the current schema and creates the demo data once.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
"$VENV/bin/python" manage.py migrate --no-input -v 0
"$VENV/bin/python" manage.py collectstatic --no-input -v 0
"$VENV/bin/python" manage.py bootstrap_demo
