"""An index for beat's sweep of conversations whose status moved by `.update()`."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_daily_rollup_and_topic_gaps")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX IF NOT EXISTS analytics_conv_updated_idx "
            "ON memory_conversation (updated_at)",
            reverse_sql="DROP INDEX IF EXISTS analytics_conv_updated_idx",
        )
    ]
