import realtime.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0006_message_event_redaction_index"),
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
