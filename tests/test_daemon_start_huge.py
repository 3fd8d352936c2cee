"""test_daemon_start_huge — a start moves its images into huge pages (lib/rd_huge.c) only once
the workers have had a quiet moment after READY (issue 14): a collapse makes a worker that
touches the page in hand wait, so it must not run during the first burst of queries; and
it still comes soon after, for the spread over many zones depends on it."""

import asyncio
import socket
import struct
import threading
import time
import types

import pytest

from robdns import _core, daemon
from serverproc import RobdnsServer
from test_huge_images import N, ZONE     # zones of ~1.3 KB of image: a block of several 2 MiB pages


def thp_madvise():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            # madvise only: with "always" the heap gets huge pages of its own before
            # any release, and with "never" there are none to wait for
            return "[madvise]" in f.read()
    except OSError:
        return False


def anon_huge_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return 0


def run_release(counts, quiet=0.05, latest=0.5, poll=0.02):
    """Daemon._release_huge_pages against a scripted query counter: (seconds until the
    release, counter reads)."""
    calls, released = [], []
    it = iter(counts)

    def seen():
        calls.append(1)
        return next(it, counts[-1])

    fake = types.SimpleNamespace(HUGE_QUIET_S=quiet, HUGE_POLL_S=poll, HUGE_LATEST_S=latest,
                                 _queries_seen=seen)
    real = _core.huge_hold
    _core.huge_hold = lambda held: released.append((held, time.monotonic()))
    try:
        t0 = time.monotonic()
        asyncio.run(daemon.Daemon._release_huge_pages(fake))
    finally:
        _core.huge_hold = real
    assert [h for h, _ in released] == [False]
    return released[0][1] - t0, len(calls)


def test_released_once_quiet_for_the_whole_window():
    # queries until the third read, then none: released once a whole quiet window (three
    # polls) has gone by, not at the first read that saw no query
    t, reads = run_release([0, 10, 20] + [20] * 20, quiet=0.1, poll=0.02, latest=5.0)
    assert reads >= 5 and 0.14 <= t < 2.0        # bounds loose: a busy host sleeps longer


def test_a_short_pause_does_not_release():
    # one poll without a query inside a burst: still held; released at the latest
    counts = [0, 5, 5, 9] + list(range(10, 10 ** 6, 3))
    t, reads = run_release(counts, quiet=0.25, poll=0.02, latest=0.3)
    assert 0.3 <= t < 1.0


def test_released_at_the_latest_under_steady_load():
    t, reads = run_release(list(range(0, 10 ** 6, 7)), quiet=0.05, poll=0.02, latest=0.3)
    assert 0.3 <= t < 1.0 and reads >= 5


@pytest.mark.skipif(not thp_madvise(), reason="transparent huge pages are not in madvise mode on this host")
def test_start_collapses_only_after_the_first_burst(tmp_path):
    zones = {f"z{i}.huge.test.": ZONE.format(name=f"z{i}.huge.test.", i=i % 250 + 1)
             for i in range(N)}
    srv = RobdnsServer(tmp_path, zones, families=(4,), start=False, log_level="warning")
    stop = threading.Event()
    answered = []

    def flood():
        # one query in flight at a time from before the start until told to stop: the
        # workers never have a quiet tenth of a second (bounded in count and time)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.02)
        wire = b"\x03www\x02z1\x04huge\x04test\x00\x00\x01\x00\x01"
        deadline = time.monotonic() + 90
        for qid in range(2_000_000):
            if stop.is_set() or time.monotonic() > deadline:
                break
            s.sendto(struct.pack("!HHHHHH", qid & 0xffff, 0, 1, 0, 0, 0) + wire,
                     ("127.0.0.1", srv.port))
            try:
                s.recv(512)
                answered.append(1)
            except socket.timeout:
                pass
        s.close()

    t = threading.Thread(target=flood)
    t.start()
    try:
        srv.start(timeout=120)
        time.sleep(1.0)                  # READY, answering: still no huge page
        assert answered and anon_huge_kb(srv.pid) == 0
        stop.set()
        t.join()
        deadline = time.monotonic() + 30  # quiet now: the block is collapsed soon
        while anon_huge_kb(srv.pid) < 2048 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert anon_huge_kb(srv.pid) >= 2048
        assert srv.query("www.z7.huge.test.", "A").answer[0][0].address == "192.0.2.8"
    finally:
        stop.set()
        t.join()
        srv.close()
