"""What a job says becomes a message with a code (jobs/messages.py), put into words when read. Texts
stored before are kept as they were (shown through the catalogue, so an English text that is a
msgid still reads in Korean); an error's message and recommended action now come from its code."""

from django.db import migrations, models


def keep_texts(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    JobEvent = apps.get_model("jobs", "JobEvent")
    for job in Job.objects.exclude(result_message="", progress_message="", error_detail="").iterator():
        Job.objects.filter(pk=job.pk).update(
            result=job.result_message or {}, progress_note=job.progress_message or {},
            detail=job.error_detail or {})
    for event in JobEvent.objects.exclude(message="").iterator():
        JobEvent.objects.filter(pk=event.pk).update(note=event.message)


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
