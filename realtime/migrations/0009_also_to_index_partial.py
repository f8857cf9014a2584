import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The GIN index on `also_to` keeps only the events that name users (nearly every event,
    each message's, names nobody, and GIN indexed its empty array too). Built beside the old
    one before that is dropped, both without blocking writes."""

    atomic = False

    dependencies = [
        ("realtime", "0008_notify_after_commit"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="event",
            index=django.contrib.postgres.indexes.GinIndex(
                condition=models.Q(("also_to", []), _negated=True),
                fields=["also_to"],
                name="realtime_event_named_users",
            ),
        ),
        RemoveIndexConcurrently(model_name="event", name="realtime_event_also_to"),
    ]
