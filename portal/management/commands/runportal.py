"""Run the whole portal in the foreground: web server, Celery worker and Celery beat. Ctrl-C stops all.

A child that dies is started again (after 1, 2, 4 … 60 s, and the wait resets once it has run a
minute), with a line saying so: one crashed worker never takes the web and beat down with it.
The children run in their own process groups, so the terminal's Ctrl-C reaches only this process,
which then stops each child once (SIGTERM, SIGKILL after a grace period): a gunicorn master that
got SIGINT from the terminal and SIGTERM from us re-entered its shutdown and hung on the port.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.embedded import redis_answers, start_embedded_redis

GRACE = 15  # seconds a child has to stop before it is killed
MAX_BACKOFF = 60
STABLE_AFTER = 60  # a child that ran this long starts again at once if it dies
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    command: list
    process: subprocess.Popen = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: float | None = None


def default_web_threads():
    """Two: a second request can go on while one waits on the database or streams a download, and no
    more, as threads of one process share one core's interpreter (bench/crowd.py: at fifty people on
    two cores, four threads a process doubled the server's p95 against one or two)."""
    return 2


def default_web_workers():
    """Gunicorn's own advice: two processes a core, plus one (a request waiting on the database frees
    its core for another)."""
    return 2 * (os.cpu_count() or 1) + 1


class Command(BaseCommand):
    help = "Run web, worker and beat together (with an embedded Redis when none answers at REDIS_URL)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("VAULTLINE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--concurrency", type=int, default=2, help="Worker processes.")
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("VAULTLINE_WEB_WORKERS", 0)) or
                            default_web_workers(), help="Web server processes (default: two a CPU, plus one).")
        parser.add_argument("--web-threads", type=int, default=int(os.environ.get("VAULTLINE_WEB_THREADS", 0)) or
                            default_web_threads(),
                            help="Threads of each web server process.")

    def handle(self, *args, bind, concurrency, web_workers, web_threads, **options):
        env = os.environ.copy()
        embedded = None
        if redis_answers(settings.REDIS_URL):
            self.say(f"Using Redis at {settings.REDIS_URL}")
        else:
            embedded, env["REDIS_URL"] = start_embedded_redis(settings.VAR_DIR / "redis")
            self.say(f"No Redis answered at {settings.REDIS_URL}; started an embedded one at {env['REDIS_URL']}")
        python = sys.executable
        children = [
            Child("web", [python, "-m", "gunicorn", "portal.wsgi", "--bind", bind, "--workers", str(web_workers),
                          "--threads", str(web_threads), "--access-logfile", "-", "--graceful-timeout", str(GRACE - 5)]),
            Child("worker", [python, "-m", "celery", "-A", "portal", "worker", "--loglevel", "INFO",
                             "--concurrency", str(concurrency)]),
            Child("beat", [python, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO",
                           "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME]),
        ]
        # SIGTERM (a service manager) and SIGHUP (the terminal closed) stop everything, as Ctrl-C
        # does; and Ctrl-C works even where a shell started us in the background with SIGINT ignored.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: sys.exit(0))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            for child in children:
                self.start(child, env)
            self.say(self.style.SUCCESS(f"Vaultline is running at http://{bind}/ — press Ctrl-C to stop."))
            while True:
                for child in children:
                    self.watch(child, env)
                time.sleep(0.5)
        except (KeyboardInterrupt, SystemExit):
            self.say("Stopping…")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
            self.stop(children)
            if embedded is not None:
                embedded.shutdown()
            self.say("Stopped.")

    def say(self, line):
        self.stdout.write(line)
        self.stdout.flush()

    def start(self, child, env):
        # Its own session: the terminal's Ctrl-C (sent to the foreground group) reaches only us; and it
        # gets SIGTERM if we die without stopping it (SIGKILL), so nothing outlives us holding the port.
        child.process = subprocess.Popen(child.command, env=env, start_new_session=True, preexec_fn=_die_with_parent)
        child.started, child.restart_at = time.monotonic(), None
        self.say(f"[runportal] {child.name} started (pid {child.process.pid}).")

    def watch(self, child, env):
        """Start a child that died again, after its back-off."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                self.start(child, env)
            return
        code = child.process.poll()
        if code is None:
            return
        _signal_group(child.process, signal.SIGKILL)  # what it left behind (pool processes, gunicorn workers)
        if now - child.started >= STABLE_AFTER:
            child.backoff = 1.0
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.stderr.write(f"[runportal] {child.name} (pid {child.process.pid}) {how}; "
                          f"starting it again in {child.backoff:.0f} s.")
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def stop(self, children):
        """Each child once: SIGTERM to it (it stops its own workers: a Celery worker finishes or gives
        back its tasks, gunicorn its requests), then SIGKILL to its whole group after the grace period."""
        running = [child.process for child in children if child.process and child.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        for process in running:  # what a child left in its group (a gunicorn or pool worker)
            _signal_group(process, signal.SIGKILL)


def _die_with_parent():
    """In the child, before it runs: ask Linux to send it SIGTERM when runportal dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: Ctrl-C and SIGTERM still stop everything


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
