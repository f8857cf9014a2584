"""Memberships that existed before read state: read up to their chat's newest message."""

from django.db import migrations

FORWARD = """
insert into reads_readmarker (membership_id, chat_id, user_id, last_read_id, updated_at)
select mb.id, mb.chat_id, mb.user_id,
       coalesce((select max(m.id) from chats_message m where m.chat_id = mb.chat_id), 0), now()
from chats_membership mb
on conflict (membership_id) do nothing
"""


class Migration(migrations.Migration):
    dependencies = [("reads", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, migrations.RunSQL.noop)]
