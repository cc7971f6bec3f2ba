"""Handoff summaries are now written with the trip (desk.summary), not by a task on `llm`.

A trip whose summary task was still queued or running when this version arrived would read
"Writing the summary…" forever: that task is gone. Those trips say their summary failed.
"""

from django.db import migrations


def fail_unwritten_summaries(apps, schema_editor):
    Handoff = apps.get_model("desk", "Handoff")
    Handoff.objects.filter(summary_status__in=["pending", "running"]).update(
        summary_status="failed"
    )


class Migration(migrations.Migration):

    dependencies = [
        ("desk", "0002_assignment_and_console_sockets"),
    ]

    operations = [
        migrations.RunPython(fail_unwritten_summaries, migrations.RunPython.noop),
    ]
