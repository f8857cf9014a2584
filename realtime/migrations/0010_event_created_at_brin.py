import django.contrib.postgres.indexes
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    """The index on `Event.created_at` becomes a BRIN index: the pruning task reads it once a
    day, and a B-tree wrote an entry for every event (about 3 % of a message's WAL). Events
    are appended in time order, so a summary per block range finds the old ones. Dropped and
    built again without blocking writes; only the daily task runs meanwhile without it."""

    atomic = False

    dependencies = [
        ("realtime", "0009_also_to_index_partial"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="event", name="realtime_event_created_at"),
        AddIndexConcurrently(
            model_name="event",
            index=django.contrib.postgres.indexes.BrinIndex(fields=["created_at"], name="realtime_event_created_at"),
        ),
    ]
