"""The missed-message digest: one email per user gathering the messages they have not read
within a window after they arrived (models, services, tasks, apis)."""
