"""Run the whole portal in the foreground: web server, Celery worker and Celery beat. Ctrl-C stops all."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.embedded import redis_answers, start_embedded_redis


class Command(BaseCommand):
    help = "Run web, worker and beat together (with an embedded Redis when none answers at REDIS_URL)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("VAULTLINE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")

    def handle(self, *args, bind, concurrency, **options):
        env = os.environ.copy()
        embedded = None
        if redis_answers(settings.REDIS_URL):
            self.stdout.write(f"Using Redis at {settings.REDIS_URL}")
        else:
            embedded, env["REDIS_URL"] = start_embedded_redis(settings.VAR_DIR / "redis")
            self.stdout.write(f"No Redis answered at {settings.REDIS_URL}; started an embedded one at {env['REDIS_URL']}")
        python = sys.executable
        commands = {
            "web": [python, "-m", "gunicorn", "portal.wsgi", "--bind", bind, "--workers", "2",
                    "--threads", "4", "--access-logfile", "-"],
            "worker": [python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                       "--concurrency", str(concurrency)],
            "beat": [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                     "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }
        # SIGTERM (e.g. from a service manager) stops the children too, like Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        children = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Vaultline is running at http://{bind}/ — press Ctrl-C to stop."))
        try:
            while all(child.poll() is None for child in children.values()):
                time.sleep(0.5)
            stopped = [name for name, child in children.items() if child.poll() is not None]
            self.stderr.write(f"{', '.join(stopped)} stopped; stopping the rest.")
        except (KeyboardInterrupt, SystemExit):
            self.stdout.write("Stopping…")
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children.values():
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            if embedded is not None:
                embedded.shutdown()
