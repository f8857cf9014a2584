"""Usernames and emails unique regardless of case; the plain-text keys of DRF's old token
table (rest_framework.authtoken, replaced by knox's digests) deleted with the table."""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        # Only when the app's role owns it (an old database upgraded by scripts/services.sh).
        migrations.RunSQL(
            """
            DO $$ BEGIN
              IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema()
                         AND tablename = 'authtoken_token' AND tableowner = current_user) THEN
                DROP TABLE authtoken_token;
              END IF;
            END $$;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('username'), name='user_username_ci_unique', violation_error_message='This username is taken.'),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('email'), name='user_email_ci_unique', violation_error_message='This email is taken.'),
        ),
    ]
