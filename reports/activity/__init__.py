"""The daily activity report: per chat and day, built and emailed to staff by two short
idempotent tasks (models, services, tasks, apis)."""
