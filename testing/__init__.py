"""Test support, apart from the product: real processes (PostgreSQL clusters, nginx, granian,
uvicorn, Centrifugo, Celery, SMTP, Chromium) started on this machine for the tests and the
benchmarks, and the pytest plugins that give them to tests (`testing.plugins`).

No production module imports this package (an import-linter contract in pyproject.toml).
"""
