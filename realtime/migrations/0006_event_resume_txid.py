import realtime.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0005_event_visibility_and_position"),
    ]

    # Events written before: their own transaction id (treated as "no older writer running").
    operations = [
        migrations.AddField(
            model_name="event",
            name="resume_txid",
            field=models.BigIntegerField(db_default=realtime.models.ResumeTransactionId(), editable=False),
        ),
        migrations.RunSQL("update realtime_event set resume_txid = txid", migrations.RunSQL.noop),
    ]
