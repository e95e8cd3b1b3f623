"""The client-gone probe: never blocks, never reads, works past descriptor 1024."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest

from app.body import closed_probe


@pytest.fixture
def high_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair whose server side sits at descriptor 1500 (select() cannot see it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1600:
        pytest.fail(f"the descriptor limit ({hard}) is too low for this test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1600), hard))
    server, client = socket.socketpair()
    high = os.dup2(server.fileno(), 1500)
    server.close()
    pair = socket.socket(fileno=high), client
    yield pair
    for sock in pair:
        sock.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_live_client_is_not_gone_even_past_descriptor_1024(
    high_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = high_pair
    gone = closed_probe(server.fileno())
    assert gone() is False
    client.sendall(b"GET / HTTP/1.1\r\n")  # a pipelined request: still there
    assert gone() is False
    assert server.recv(100) == b"GET / HTTP/1.1\r\n"  # the probe read nothing
    client.close()
    assert gone() is True
