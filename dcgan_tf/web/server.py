"""The web app's HTTP server: waitress (a multi-threaded production WSGI server in pure
Python; Flask's own server is for development only), hardened against slow clients.

    server = create_server(app, host, port, threads, body_timeout)
    server.run()
"""

from __future__ import annotations

import math
import time

from dcgan_tf.web.api import MAX_BODY_BYTES

BODY_TIMEOUT_S = 10.0  # default --body_timeout: most seconds a request body may take


def _deadline_channel(body_timeout: float):
    """A waitress channel that drops a connection whose request (headers and body) has
    taken longer than `body_timeout` seconds to arrive, so clients that send a few bytes
    at a time cannot hold connections open (waitress's channel_timeout only sees silence)."""
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        def received(self, data):
            now = time.monotonic()
            if self.request is None or not hasattr(self, "_started"):
                self._started = now  # these bytes begin a new request
            elif now - self._started > body_timeout:
                self.will_close = True
                return False
            return super().received(data)

    return DeadlineChannel


def create_server(app, host: str, port: int, threads: int = 4,
                  body_timeout: float = BODY_TIMEOUT_S):
    """waitress server for `app`: a declared body above the limit is refused at once (413,
    before any of it is read); a connection silent for `body_timeout` seconds, or whose
    request takes longer than that to arrive, is closed."""
    import waitress

    sockets = {}
    server = waitress.create_server(
        app, map=sockets, host=host, port=port, threads=threads,
        max_request_body_size=MAX_BODY_BYTES + 1,
        channel_timeout=max(1, math.ceil(body_timeout)), cleanup_interval=1,
        clear_untrusted_proxy_headers=True)
    channel = _deadline_channel(body_timeout)
    for listener in list(sockets.values()) + [server]:
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
    return server
