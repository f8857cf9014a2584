"""The Celery app. Its configuration is the Django settings under the CELERY_ namespace
(see messenger/settings/celery.py); tasks are found in every installed app's tasks.py.

Start a worker with `celery -A messenger worker`; deploy/supervisor/supervisord.conf.template
shows the flags used.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messenger.settings.local")

app = Celery("messenger")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
