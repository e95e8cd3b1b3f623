"""The process id kept without a system call follows a fork."""

from __future__ import annotations

import os

from providers import current_pid


def test_current_pid_is_the_process_id_here_and_in_a_forked_child() -> None:
    assert current_pid() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exits
        os.write(write, f"{current_pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen, actual = os.read(read, 64).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert int(seen) == int(actual) == child
    assert current_pid() == os.getpid() != child
