"""The insert triggers' wake-ups (0002) skip a transaction that sends its own after commit.

A NOTIFY inside a transaction makes PostgreSQL take one lock for the whole cluster at commit
and hold it until the commit's WAL flush is done (so that notifications queue in commit
order): every writer that notifies waits for the others' flushes in turn, instead of sharing
one. The message POST (`chats.services.message_create`) sets `messenger.notify_after_commit`
for its own transaction and sends the same wake-ups in a transaction of their own right after
its commit (`realtime.services.wake_after_commit`); every other writer (the admin, other
services, raw SQL) is woken by the triggers as before.
"""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION centrifugo_outbox_notify() RETURNS trigger AS $$
BEGIN
    IF current_setting('messenger.notify_after_commit', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('centrifugo_outbox', NEW.partition::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION realtime_event_notify() RETURNS trigger AS $$
BEGIN
    IF current_setting('messenger.notify_after_commit', true) IS DISTINCT FROM 'on' THEN
        PERFORM pg_notify('realtime_events', NEW.id::text);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

REVERSE_SQL = """
CREATE OR REPLACE FUNCTION centrifugo_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('centrifugo_outbox', NEW.partition::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION realtime_event_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('realtime_events', NEW.id::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("realtime", "0007_event_resume_txid")]
    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
