"""The project's pytest plugins (testing.plugins): data and the site for every app's tests,
real Centrifugo processes for the real-time tests, a real Celery worker, SMTP server and
Flower for the background-work tests, and the throttles' counters."""

pytest_plugins = [
    "testing.plugins.data",
    "testing.plugins.realtime",
    "testing.plugins.background",
    "testing.plugins.throttling",
]
