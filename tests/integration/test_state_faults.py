"""The state file (and Redis) failing under a running keyrelay: never a failed request.

Deleted, its folder deleted, its disk full, its folder read-only and then fixed, a restart
that reuses pids, Redis away while keys are blocked: each over real sockets, against a
real gunicorn.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.gunicorn import ROOT, Gunicorn
from bench.redisserver import RedisServer
from providers.secrets import fingerprint
from tests.fakes.upstream import FakeUpstream, Reply, wait_until

from .clients import add, ask, me
from .helpers import IN_CI, KEY_A, KEY_B, StartGateway, fake_env
from .test_shared_state import ask_on_new_connections, pids_that_served, request_lines

pytestmark = pytest.mark.integration


#: KEY_A's fingerprint, as the stores name it.
KEY_A_ID = fingerprint(KEY_A)


def rate_limit_key_a(fake: FakeUpstream, retry_after: str = "120") -> None:
    fake.default = lambda hit: (
        Reply(status=429, headers={"Retry-After": retry_after}) if hit.key == KEY_A else None
    )


def asked(fake: FakeUpstream, key: str) -> int:
    return len(fake.hits_for(key, path="/chat/completions"))


def worker_pids(gateway: Gunicorn) -> list[int]:
    return [int(p) for p in re.findall(r"Booting worker with pid: (\d+)", gateway.logs())]


def respawn_a_worker(gateway: Gunicorn) -> None:
    """Kill one worker; gunicorn's master starts another (which boots on the file as it is)."""
    before = worker_pids(gateway)
    os.kill(before[-1], signal.SIGKILL)
    wait_until(lambda: len(worker_pids(gateway)) > len(before), timeout=15, message="a respawn")


def live_workers(gateway: Gunicorn) -> set[int]:
    pids = set(worker_pids(gateway))
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def until_every_worker_served(gateway: Gunicorn) -> list[int]:
    """Requests on new connections until every live worker has served one of them."""
    mark, statuses = len(gateway.logs()), []
    while not live_workers(gateway) <= pids_that_served(gateway.logs()[mark:]):
        assert len(statuses) < 300, "the requests never reached every worker"
        statuses += ask_on_new_connections(gateway.url, 5)
    return statuses


def every_worker_back_on_the_file(gateway: Gunicorn) -> None:
    """Wait until every live worker's latest request was served on the file (a worker may
    still be in its one-second recheck, answering from its own state, for a moment)."""
    mark = len(gateway.logs())

    def shared_everywhere() -> bool:
        ask_on_new_connections(gateway.url, 2)
        latest = {
            int(str(line["pid"])): line["state"] for line in request_lines(gateway.logs()[mark:])
        }
        return live_workers(gateway) <= {pid for pid, state in latest.items() if state is None}

    wait_until(shared_everywhere, timeout=15, message="every worker back on the file")


def one_block_for_every_worker(gateway: Gunicorn, fake: FakeUpstream) -> None:
    """A key blocked now is asked once, however many workers serve: they share one file."""
    rate_limit_key_a(fake)
    before = asked(fake, KEY_A)
    statuses = until_every_worker_served(gateway)
    assert statuses == [200] * len(statuses)
    assert asked(fake, KEY_A) - before == 1


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of the test's own (root only: a full disk, a read-only folder)."""
    where = tmp_path / "mnt"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if IN_CI:
            pytest.fail(f"cannot mount a tmpfs in CI: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_state_file_deleted_while_running_costs_no_request(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.db"
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="2", STATE_URL=f"sqlite:///{state}")
    gateway = start_gateway(env, worker_class=None)
    assert ask_on_new_connections(gateway.url, 6) == [200] * 6
    state.unlink()  # its -wal and -shm stay behind, as a careless operator leaves them
    respawn_a_worker(gateway)
    assert ask_on_new_connections(gateway.url, 10) == [200] * 10
    assert gateway.request("GET", "/health").status_code == 200
    wait_until(state.exists, timeout=10, message="a new state file")
    every_worker_back_on_the_file(gateway)
    one_block_for_every_worker(gateway, fake)
    assert "Worker failed to boot" not in gateway.logs()


def test_a_state_folder_deleted_while_running_keeps_one_truth(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "state.db"
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="2", STATE_URL=f"sqlite:///{state}")
    gateway = start_gateway(env, worker_class=None)
    assert ask_on_new_connections(gateway.url, 4) == [200] * 4
    shutil.rmtree(state.parent)
    respawn_a_worker(gateway)
    assert ask_on_new_connections(gateway.url, 10) == [200] * 10
    wait_until(state.exists, timeout=10, message="a new state folder and file")
    every_worker_back_on_the_file(gateway)
    one_block_for_every_worker(gateway, fake)
    with sqlite3.connect(state) as db:  # what a new process (flask keys) reads says so too
        assert db.execute("SELECT COUNT(*) FROM keys WHERE blocked_until > 0").fetchone() == (1,)


def test_a_full_disk_still_honours_a_rate_limit(
    start_gateway: StartGateway, fake: FakeUpstream, tmpfs: Path
) -> None:
    state = tmpfs / "state.db"
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="2", STATE_URL=f"sqlite:///{state}")
    gateway = start_gateway(env, worker_class=None)
    assert ask_on_new_connections(gateway.url, 4) == [200] * 4
    filler = tmpfs / "filler"
    with open(filler, "wb") as fill, pytest.raises(OSError):  # until the disk is full
        while True:
            fill.write(b"\0" * 65536)
            fill.flush()
    rate_limit_key_a(fake, "120")
    before = asked(fake, KEY_A)
    assert ask_on_new_connections(gateway.url, 40) == [200] * 40
    assert asked(fake, KEY_A) - before <= 2  # once per worker at most: each keeps its block
    assert gateway.logs().count("answers again") <= 2  # no flapping warning per request
    filler.unlink()

    def written_back() -> bool:
        assert ask_on_new_connections(gateway.url, 1) == [200]
        with sqlite3.connect(state) as db:
            now = "strftime('%s','now')"
            found = db.execute(f"SELECT COUNT(*) FROM keys WHERE blocked_until > {now}")
            return bool(found.fetchone()[0] == 1)

    # Once the disk has room, the blocks are written back (tried at most once a second).
    wait_until(written_back, timeout=10, message="the block written back to the file")
    assert asked(fake, KEY_A) - before <= 2


def test_a_full_disk_keeps_a_client_keys_limit_and_goes_back_to_the_file(
    start_gateway: StartGateway, fake: FakeUpstream, tmpfs: Path
) -> None:
    state = tmpfs / "state.db"
    env = fake_env(fake, KEY_A, WEB_CONCURRENCY="1", STATE_URL=f"sqlite:///{state}")
    key = add(env, "kate", "--rpm", "4", "--max-concurrent", "2")
    gateway = start_gateway(env, worker_class=None)
    assert ask(gateway, key).status_code == 200
    filler = tmpfs / "filler"
    with open(filler, "wb") as fill, pytest.raises(OSError):  # until the disk is full
        while True:
            fill.write(b"\0" * 65536)
            fill.flush()
    codes = [ask(gateway, key).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]  # never a failed request; the limit held
    assert gateway.logs().count("does not answer") == 1  # on the worker's own copy, said once
    filler.unlink()

    def back_on_the_file() -> bool:
        assert ask(gateway, key).status_code in (200, 429)
        return "answers again" in gateway.logs()

    wait_until(back_on_the_file, timeout=10, message="admission back on the file")
    assert me(gateway, key)["used"]["in_flight"] == 0  # every hold released


def test_a_worker_started_on_a_read_only_folder_recovers(
    start_gateway: StartGateway, fake: FakeUpstream, tmpfs: Path
) -> None:
    state = tmpfs / "state.db"
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    env = fake_env(fake, KEY_A, KEY_B, WEB_CONCURRENCY="2", STATE_URL=f"sqlite:///{state}")
    gateway = start_gateway(env, worker_class=None)
    assert ask_on_new_connections(gateway.url, 4) == [200] * 4
    assert gateway.request("GET", "/ready").json()["state"] == "degraded"
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    # /ready on one kept connection would reach one worker only.
    every_worker_back_on_the_file(gateway)
    one_block_for_every_worker(gateway, fake)


def test_a_lease_whose_pid_was_reused_does_not_keep_its_key_busy(
    start_gateway: StartGateway, fake: FakeUpstream, tmp_path: Path
) -> None:
    """A restarted container reuses its pids: a dead worker's lease carries a pid that is
    alive again. Here the pid is this test's own, with another process's start time."""
    state = tmp_path / "state.db"
    env = fake_env(
        fake,
        KEY_A,
        STATE_URL=f"sqlite:///{state}",
        MAX_CONCURRENT_REQUESTS_PER_KEY_FAKE="1",
        REQUEST_DEADLINE="3",
    )
    first = start_gateway(env)
    assert ask_on_new_connections(first.url, 1) == [200]
    first.stop()
    with sqlite3.connect(state) as db:
        pool, key = db.execute("SELECT pool, key FROM keys").fetchone()
        db.execute(
            "INSERT INTO leases (pool, key, pid, taken, owner) VALUES (?, ?, ?, "
            "strftime('%s','now'), ?)",
            (pool, key, os.getpid(), f"{os.getpid()}:1"),
        )
    again = start_gateway(env)
    assert ask_on_new_connections(again.url, 3) == [200] * 3
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_blocks_set_while_redis_was_away_are_written_back(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    rate_limit_key_a(fake, "60")
    redis_server.stop()
    gateway = start_gateway(fake_env(fake, KEY_A, KEY_B, STATE_URL=redis_server.url))
    assert ask_on_new_connections(gateway.url, 3) == [200] * 3
    assert asked(fake, KEY_A) == 1
    redis_server.start()
    wait_until(
        lambda: gateway.request("GET", "/ready").json()["state"] == "shared",
        timeout=10,
        message="back on Redis",
    )
    assert ask_on_new_connections(gateway.url, 10) == [200] * 10
    assert asked(fake, KEY_A) == 1  # the block decided while Redis was away holds

    def in_redis() -> bool:
        """Written back (tried at most once a second, as requests come)."""
        assert ask_on_new_connections(gateway.url, 1) == [200]
        return bool(redis_server.command("HGET", "keyrelay:keys:fake:source", KEY_A_ID))

    wait_until(in_redis, timeout=10, message="the block written back to Redis")
    assert asked(fake, KEY_A) == 1


def test_the_circuits_generation_word_changes_on_a_full_disk(tmpfs: Path) -> None:
    # In a process of its own: a mapped page the full disk cannot back would kill it (SIGBUS).
    word, filler = tmpfs / "state.db-circuits", tmpfs / "filler"
    script = f"""
from providers.state.sqlite.generation import Generation
word = Generation(__import__("pathlib").Path({str(word)!r}))  # mapped, not yet touched
import os
fill = os.open({str(filler)!r}, os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fill, bytes(65536))
except OSError:
    os.close(fill)
word.bump()
print("changed" if word.value() not in (None, bytes(8)) else "unchanged")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "changed"
