"""A workaround in kombu's Redis transport, applied wherever the Celery app is loaded.

When the connection to Redis drops, kombu gives the messages a worker reserved but has not acked
back to Redis (`QoS.restore_unacked`). If the channel's pool went with the connection and the
transport's client is already unset (the order kombu's own close takes, and a finalizer can run
later still), building a new client reads `connection.client.hostname` of None: AttributeError,
which the worker reports as "CRITICAL Unrecoverable error" and exits (kombu #582 and #970, celery
#7705 show the same family). A connection error there is as fatal while Redis is still down.

Those messages cannot be given back then, and need not be: every job lives in the database, and
the reaper sends again a queued job whose message the broker no longer holds (jobs/broker.py).
So the restore is tried, and if it cannot be done, the worker says so and carries on.
"""

import logging

log = logging.getLogger(__name__)


def guard_restore_of_unacked_messages():
    from kombu.transport import redis

    original = redis.QoS.restore_unacked
    if getattr(original, "guarded", False):
        return

    def restore_unacked(self, client=None):
        try:
            return original(self, client)
        except (AttributeError, *redis.Transport.connection_errors) as error:
            count = len(self._delivered)
            self._delivered.clear()
            log.warning("Could not give %d unacknowledged message(s) back to Redis (%r): their jobs stay "
                        "queued in the database, and the reaper sends them again.", count, error)
            return None

    restore_unacked.guarded = True
    redis.QoS.restore_unacked = restore_unacked
