"""What the broker still holds: the jobs whose messages wait in a queue or sit reserved by a worker.

A Redis that restarts keeps nothing (unless it persists), and a worker that loses its connection
cannot always give its reserved messages back (portal/broker.py): such jobs stay Queued in the
database with no message anywhere. The reaper asks here which queued jobs the broker still holds and
sends the others again (a message delivered twice runs once: Job.start claims the job).
"""

import base64
import json
import logging

import redis

log = logging.getLogger(__name__)


def held_job_ids(app):
    """The job ids of every task message in the app's queues and among the reserved (unacked) ones;
    None when the broker cannot be read (or is not Redis): then nothing is known to be lost."""
    try:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            if not hasattr(channel, "unacked_key"):
                return None
            # kombu prefixes only the commands it uses itself (global_keyprefix, as the tests set):
            # a plain client on the same connections, and every key prefixed here.
            prefix = getattr(channel.client, "global_keyprefix", "")
            client = redis.Redis(connection_pool=channel.client.connection_pool)
            queues = set(app.amqp.queues) | {app.conf.task_default_queue}
            names = [channel._q_for_pri(queue, priority) for queue in queues for priority in channel.priority_steps]
            pipe = client.pipeline()
            for name in names:
                pipe.lrange(prefix + name, 0, -1)
            pipe.hvals(prefix + channel.unacked_key)
            *listed, reserved = pipe.execute()
    except Exception:
        log.warning("Could not read the broker's queues", exc_info=True)
        return None
    messages = [raw for batch in listed for raw in batch]
    for raw in reserved:  # [message, exchange, routing key]
        try:
            messages.append(json.dumps(json.loads(raw)[0]))
        except (ValueError, TypeError, IndexError, KeyError):
            continue
    return {job_id for job_id in map(_job_id, messages) if job_id is not None}


def _job_id(raw):
    """The job id a task message carries (our tasks take only the job's id)."""
    try:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return int(args[0]) if args else None
    except (ValueError, TypeError, KeyError, IndexError):
        return None
