"""The HTTP protocol of `stepline serve`'s workers: uvicorn's own, with TCP_NODELAY set.

asyncio sets TCP_NODELAY on the connections it accepts only when the listening socket says
it is TCP (`proto == IPPROTO_TCP`); the socket uvicorn binds in its parent for its workers is
made with `socket.socket(family)`, `proto` 0, so a worker's responses (head and body are two
writes) waited for the client's delayed ACK: about 50 ms a request with `--workers 2`, 17
req/s for one client where one worker serves 110. Named as a string in `uvicorn.run(http=...)`,
so that it is imported in each worker.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
