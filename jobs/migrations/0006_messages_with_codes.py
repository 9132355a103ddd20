"""What a job says becomes a message with a code (jobs/messages.py), put into words when read. Texts
stored before are kept as they were (shown through the catalogue, so an English text that is a
msgid still reads in Korean); an error's message and recommended action now come from its code."""

from django.db import migrations, models
from django.db.models import F, Func


def keep_texts(apps, schema_editor):
    """Each text becomes a JSON string, in one statement per column (a large install has millions of jobs)."""
    Job = apps.get_model("jobs", "Job")
    JobEvent = apps.get_model("jobs", "JobEvent")
    as_json = "to_jsonb" if schema_editor.connection.vendor == "postgresql" else "json_quote"

    def json_text(column, output):
        return Func(F(column), function=as_json, output_field=output)

    for old, new in (("result_message", "result"), ("progress_message", "progress_note"), ("error_detail", "detail")):
        Job.objects.exclude(**{old: ""}).update(**{new: json_text(old, Job._meta.get_field(new))})
    JobEvent.objects.exclude(message="").update(note=json_text("message", JobEvent._meta.get_field("note")))
    if schema_editor.connection.vendor == "postgresql":  # the columns are dropped next, in this transaction
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [("jobs", "0005_operations_registered")]

    operations = [
        migrations.AddField("job", "progress_note", models.JSONField(blank=True, default=dict)),
        migrations.AddField("job", "result", models.JSONField(blank=True, default=dict, verbose_name="result")),
        migrations.AddField("job", "detail", models.JSONField(blank=True, default=dict, verbose_name="error detail")),
        migrations.AddField("jobevent", "note", models.JSONField(blank=True, default=dict)),
        migrations.RunPython(keep_texts, migrations.RunPython.noop),
        migrations.RemoveField("job", "progress_message"),
        migrations.RemoveField("job", "result_message"),
        migrations.RemoveField("job", "error_message"),
        migrations.RemoveField("job", "recommended_action"),
        migrations.RemoveField("job", "error_detail"),
        migrations.RemoveField("jobevent", "message"),
    ]
