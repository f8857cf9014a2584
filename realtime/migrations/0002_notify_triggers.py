"""Wake-ups on commit, so nothing waits for a poll interval.

- centrifugo_outbox: `pg_notify('centrifugo_outbox', partition)` wakes Centrifugo's outbox
  consumer (its `partition_notification_channel`).
- realtime_event: `pg_notify('realtime_events', id)` wakes the long-poll and SSE listeners.

PostgreSQL delivers a NOTIFY only when the transaction commits, and never a rolled-back one.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION centrifugo_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('centrifugo_outbox', NEW.partition::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER centrifugo_outbox_notify AFTER INSERT ON centrifugo_outbox
    FOR EACH ROW EXECUTE FUNCTION centrifugo_outbox_notify();

CREATE OR REPLACE FUNCTION realtime_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('realtime_events', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER realtime_event_notify AFTER INSERT ON realtime_event
    FOR EACH ROW EXECUTE FUNCTION realtime_event_notify();
"""

REVERSE_SQL = """
DROP TRIGGER IF EXISTS centrifugo_outbox_notify ON centrifugo_outbox;
DROP FUNCTION IF EXISTS centrifugo_outbox_notify();
DROP TRIGGER IF EXISTS realtime_event_notify ON realtime_event;
DROP FUNCTION IF EXISTS realtime_event_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("realtime", "0001_initial")]
    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
