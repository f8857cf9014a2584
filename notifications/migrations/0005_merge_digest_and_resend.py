from django.db import migrations


class Migration(migrations.Migration):
    """Joins the digest (features) and the re-send of exhausted emails (security)."""

    dependencies = [
        ("notifications", "0003_retries_exhausted_at"),
        ("notifications", "0004_digest_sweep_schedule"),
    ]

    operations = []
