"""Fault helpers: a port that accepts connections and never answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port whose listener never accepts nor answers: every
    connect hangs in the handshake or the first read, until a timeout."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        yield int(sock.getsockname()[1])
