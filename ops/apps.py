from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations tooling, apart from what runs in requests: the configs of nginx, supervisord,
    Centrifugo and the cluster profile, the development SMTP sink, and their commands."""

    name = "ops"
    verbose_name = "Operations"
