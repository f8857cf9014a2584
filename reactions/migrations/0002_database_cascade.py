"""Reactions follow a deleted message in the database (after 0001 has made the foreign key)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reactions", "0001_initial"),
    ]

    operations = [
        # Deleting a message deletes its reactions in the database (see Reaction.message).
        migrations.RunSQL(
            sql=[
                "ALTER TABLE reactions_reaction DROP CONSTRAINT reactions_reaction_message_id_31e9b73c_fk_chats_message_id",
                "ALTER TABLE reactions_reaction ADD CONSTRAINT reactions_reaction_message_id_31e9b73c_fk_chats_message_id"
                " FOREIGN KEY (message_id) REFERENCES chats_message (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
