"""A GIN index on the messages' text as `simple` tsvectors (no stemming, no stop words: chat
text is in any language and full of names). The search query uses the very same expression,
so PostgreSQL can use the index."""

from django.db import migrations

INDEX = "create index if not exists message_text_search on chats_message using gin (to_tsvector('simple', text))"


class Migration(migrations.Migration):
    dependencies = [("chats", "0001_initial")]

    operations = [migrations.RunSQL(INDEX, "drop index if exists message_text_search")]
