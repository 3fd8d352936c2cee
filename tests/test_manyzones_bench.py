# test_manyzones_bench.py — bench/manyzones_bench.py starts every server from the same host state: zone files written back and read once after the bench writes them, one unmeasured start per server, dirty data written back before each measured start.
import argparse
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import manyzones_bench as mz   # noqa: E402


@pytest.fixture
def log(monkeypatch):
    """Every os.sync() as ("sync",) in one list with the fakes' events."""
    events = []
    monkeypatch.setattr(mz.os, "sync", lambda: events.append(("sync",)))
    return events


def test_generate_writes_back_and_reads_every_new_file_once(tmp_path, monkeypatch, log):
    # the first server started must not pay for the bench's own writes (their write-back
    # and the first reader's atime updates): both done before generate returns
    monkeypatch.setattr(mz, "OUT", str(tmp_path))
    real_open = open

    def traced_open(path, mode="r", *a, **k):
        log.append(("open", os.path.basename(path), mode))
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr(mz, "open", traced_open, raising=False)
    d, names = mz.generate(25)
    files = [n + "zone" for n in names]
    writes = [i for i, e in enumerate(log) if e[0] == "open" and e[2] == "w" and e[1] in files]
    reads = {e[1]: i for i, e in enumerate(log) if e[0] == "open" and "r" in e[2] and e[1] in files}
    syncs = [i for i, e in enumerate(log) if e == ("sync",)]
    stamp = [i for i, e in enumerate(log) if e[0] == "open" and e[1] == "complete"]
    assert len(writes) == 25 and sorted(reads) == sorted(files)
    assert min(reads.values()) > max(writes)                 # read after every write
    assert syncs and max(reads.values()) < syncs[-1] < stamp[0]
    for f in files:
        with real_open(os.path.join(d, f)) as fh:
            assert "SOA" in fh.read()
    # a second call finds the stamp: nothing written, read or synced again
    del log[:]
    assert mz.generate(25) == (d, names) and log == []


class FakeServer:
    """start/stop/wait_answer of a bench server, each logged; no process."""
    port = 0

    def __init__(self, log, label, names):
        self.log, self.label, self.names = log, label, names

    def start(self):
        self.log.append(("start", self.label, len(self.names)))

    def stop(self):
        self.log.append(("stop", self.label))

    def wait_answer(self, limit):
        return 0.5

    def pids(self):
        return []


def fake_servers(monkeypatch, log):
    monkeypatch.setattr(mz, "ManyNSD", lambda zdir, names, cpu=None: FakeServer(log, "nsd", names))
    monkeypatch.setattr(mz, "ManyKnot", lambda zdir, names, cpu=None: FakeServer(log, "knot", names))
    monkeypatch.setattr(mz, "ManyRobdns",
                        lambda zdir, names, storage, cpu=None: FakeServer(log, "robdns", names))
    monkeypatch.setattr(mz, "installed_robdns", lambda repo, zdir, names, storage, cpu:
                        FakeServer(log, "before" if repo else "this", names))
    monkeypatch.setattr(mz, "wait_all", lambda srv, names, limit: 1.0)
    monkeypatch.setattr(mz, "tree_cpu_seconds", lambda srv: 0.9)


def test_start_rounds_warm_every_server_up_and_write_back_before_each_measured_start(
        tmp_path, monkeypatch, log):
    fake_servers(monkeypatch, log)
    names = [mz.zone_name(i) for i in range(7)]
    args = argparse.Namespace(pin=True, before=str(tmp_path), start_only=3, limit=5.0)
    out = mz.start_rounds(str(tmp_path), names, args)
    starts = [i for i, e in enumerate(log) if e[0] == "start"]
    assert len(starts) == 3 + 3 * 3
    # every start with all the zones; the first three, one per server, unmeasured
    assert all(log[i][2] == len(names) for i in starts)
    assert sorted(log[i][1] for i in starts[:3]) == ["before", "nsd", "this"]
    # each measured start right after a write-back; a warm-up start is not measured
    for i in starts[3:]:
        assert log[i - 1] == ("sync",)
    assert {k: len(v) for k, v in out["runs"].items()} == {"this": 3, "before": 3, "nsd": 3}
    # the order still rotates: each server first in one round
    firsts = [log[i][1] for i in starts[3::3]]
    assert sorted(firsts) == ["before", "nsd", "this"]


@pytest.mark.parametrize("warm", [True, False])
def test_run_server_warms_up_unless_told_not_to(tmp_path, monkeypatch, log, warm):
    fake_servers(monkeypatch, log)
    monkeypatch.setattr(mz, "OUT", str(tmp_path))
    names = [mz.zone_name(i) for i in range(5)]
    monkeypatch.setattr(mz, "sweep", lambda port, names, limit: 0.1)
    monkeypatch.setattr(mz.procfs, "memory_kb", lambda pids: {"rss": 1024, "pss": 1024})
    args = argparse.Namespace(pin=True, limit=5.0, qps_seconds=0, warm_up=warm)
    out = mz.run_server("nsd", str(tmp_path), names, args, str(tmp_path / "storage"))
    starts = [i for i, e in enumerate(log) if e[0] == "start"]
    assert len(starts) == (2 if warm else 1)
    assert log[starts[-1] - 1] == ("sync",)
    if warm:
        assert log[starts[0] + 1] == ("stop", "nsd")     # stopped before the measured one
    assert out["ready_s"] == 1.0
