"""Replies and versions follow a deleted message in the database (after 0003 has made the
foreign keys: Django adds them at the end of a migration)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0003_messaging_replies_reactions_edits_announcement"),
    ]

    operations = [
        # Deleting a message (a chat's messages, in one statement) clears replies to it and
        # deletes its versions in the database: Django's DO_NOTHING keeps the fast delete.
        migrations.RunSQL(
            sql=[
                "ALTER TABLE chats_message DROP CONSTRAINT chats_message_reply_to_id_1734ed38_fk_chats_message_id",
                "ALTER TABLE chats_message ADD CONSTRAINT chats_message_reply_to_id_1734ed38_fk_chats_message_id"
                " FOREIGN KEY (reply_to_id) REFERENCES chats_message (id) ON DELETE SET NULL"
                " DEFERRABLE INITIALLY DEFERRED",
                "ALTER TABLE chats_messageedit DROP CONSTRAINT chats_messageedit_message_id_c2c8fd1c_fk_chats_message_id",
                "ALTER TABLE chats_messageedit ADD CONSTRAINT chats_messageedit_message_id_c2c8fd1c_fk_chats_message_id"
                " FOREIGN KEY (message_id) REFERENCES chats_message (id) ON DELETE CASCADE"
                " DEFERRABLE INITIALLY DEFERRED",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
