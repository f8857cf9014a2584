# The Celery app is loaded with Django, so @shared_task binds to it and on-commit sends use
# the project's broker settings in every process (web, shell, worker).
from .celery import app as celery_app

__all__ = ["celery_app"]
