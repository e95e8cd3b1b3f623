"""This process's id, known without asking the kernel: kept in a module, renewed in a forked child.

Code that must notice a fork (pools, threads, files opened per process) compares ids on
every request; ``os.getpid`` is a system call each time, and a request made about thirty.
"""

from __future__ import annotations

import os

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current_pid() -> int:
    """``os.getpid()``, without the system call."""
    return _pid
