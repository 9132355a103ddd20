"""The few helpers the repository's thread pools share: calls in order with a bounded look-ahead."""

import collections
import os

THREADS = max(2, min(4, os.cpu_count() or 2))


def in_order(pool, function, items, ahead=THREADS * 2):
    """function(item) for each item on the pool, at most `ahead` in flight, results in order. If the
    taker stops early or a call fails, the calls not yet started are cancelled."""
    window = collections.deque()
    try:
        for item in items:
            window.append(pool.submit(function, item))
            if len(window) > ahead:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for future in window:
            future.cancel()


def batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
