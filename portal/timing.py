"""How long the portal took to answer a request, in the response (Server-Timing: app;dur=<ms>): the
browser's developer tools show it beside the network's time, and bench/crowd.py reads it to tell the
server's time from the time a request waited for a free web process."""

import time


class ServerTimingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response
