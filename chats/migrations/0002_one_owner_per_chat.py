"""A chat has exactly one owner: at most one by a partial unique index, at least one by a
deferred constraint trigger, checked at commit (a hand-over demotes, then promotes, within
one transaction; a deleted chat takes its memberships with it)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chats', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(
            """
            CREATE FUNCTION chats_owner_required() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
              the_chat bigint;
            BEGIN
              IF TG_TABLE_NAME = 'chats_chat' THEN
                the_chat := NEW.id;
              ELSE
                the_chat := OLD.chat_id;
              END IF;
              IF EXISTS (SELECT 1 FROM chats_chat WHERE id = the_chat)
                 AND NOT EXISTS (SELECT 1 FROM chats_membership WHERE chat_id = the_chat AND role = 'owner') THEN
                RAISE EXCEPTION 'chat % has no owner', the_chat USING ERRCODE = '23514';
              END IF;
              RETURN NULL;
            END $$;
            CREATE CONSTRAINT TRIGGER chats_membership_owner_required
              AFTER UPDATE OF role OR DELETE ON chats_membership
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION chats_owner_required();
            CREATE CONSTRAINT TRIGGER chats_chat_owner_required
              AFTER INSERT ON chats_chat
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION chats_owner_required();
            """,
            reverse_sql="""
            DROP TRIGGER chats_chat_owner_required ON chats_chat;
            DROP TRIGGER chats_membership_owner_required ON chats_membership;
            DROP FUNCTION chats_owner_required();
            """,
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.UniqueConstraint(condition=models.Q(('role', 'owner')), fields=('chat',), name='membership_one_owner_per_chat', violation_error_message='A chat has exactly one owner.'),
        ),
    ]
