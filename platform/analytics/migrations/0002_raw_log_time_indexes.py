"""Time indexes on the raw log the rollups are rebuilt from.

Kept here (not in memory's migrations, which other work owns) because only the rollup
rebuild and the dashboard's bounded raw reads need them.
"""

from django.db import migrations

INDEXES = [
    ("analytics_msg_created_idx", "memory_message", "created_at"),
    ("analytics_msg_updated_idx", "memory_message", "updated_at"),
    ("analytics_conv_org_created_idx", "memory_conversation", "organization_id, created_at"),
    ("analytics_conv_org_resolved_idx", "memory_conversation", "organization_id, resolved_at"),
    ("analytics_feedback_created_idx", "memory_feedback", "created_at"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("memory", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, columns in INDEXES
    ]
