# test_bench_netns.py — the benchmarks' namespace plumbing: Knot's view of a veth's queues (bench/veth_channels.c), tcp_bench --netns servers, perf stat parsing.
"""No timing assertions: these check that what xdp_bench --queues N and tcp_bench --netns
measure is what they say (the shim changes only a veth's channel answer; a server started
in its own namespace answers over the veth from the client namespace).  The namespace
tests need root and skip with that reason otherwise."""

import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(os.path.dirname(HERE), "bench")
sys.path.insert(0, BENCH)

import netns       # noqa: E402
import tcp_bench   # noqa: E402
import xdp_bench   # noqa: E402

needs_root = pytest.mark.skipif(not netns.is_root(),
                                reason="needs root: creates network namespaces and a veth pair")

# ETHTOOL_GCHANNELS through the libc ioctl (fcntl.ioctl calls it, so a preload sees it):
# prints rx_count tx_count combined_count of the interface.
CHANNELS = """
import fcntl, socket, struct, sys
buf = bytearray(struct.pack("9I", 0x3C, *[0] * 8))
ifr = struct.pack("16sP", sys.argv[1].encode(), __import__("ctypes").addressof(
    (__import__("ctypes").c_char * len(buf)).from_buffer(buf)))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    fcntl.ioctl(s.fileno(), 0x8946, ifr)
v = struct.unpack("9I", buf)
print(v[5], v[6], v[8])
"""


def channels(pair, preload):
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = xdp_bench.build_veth_channels()
    r = subprocess.run(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c", CHANNELS,
                        pair.server_if], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    return tuple(int(x) for x in r.stdout.split())


@needs_root
def test_veth_channels_reports_paired_queues_as_combined():
    with netns.VethPair(rx_queues=2) as pair:
        assert channels(pair, preload=False) == (2, 2, 0)     # what Knot saw: 1 queue
        assert channels(pair, preload=True) == (2, 2, 2)


@needs_root
def test_veth_channels_leaves_a_single_queue_alone():
    with netns.VethPair(rx_queues=1) as pair:
        assert channels(pair, preload=True) == (1, 1, 0)


@needs_root
def test_server_in_its_namespace_answers_over_the_veth(tmp_path):
    zone = tmp_path / "example.zone"
    zone.write_text(netns.ZONE)
    with netns.VethPair() as pair:
        cls = tcp_bench.in_netns(tcp_bench.servers.Robdns, pair.server_ns, pair.server_v4)
        srv = cls(str(zone), "example.com.", cpu=None, workers=1)
        try:
            srv.start()
            srv.wait_answer(limit=60)           # probed over 127.0.0.1 of its namespace
            r = pair.run(pair.client_ns, ["kdig", "+tcp", "+timeout=2", "+retry=0",
                                          f"@{pair.server_v4}", "-p", str(srv.port),
                                          "www.example.com.", "A"], timeout=20)
            assert "status: NOERROR" in r.stdout and "198.18.0.53" in r.stdout, r.stdout
            assert f"From {pair.server_v4}@{srv.port}(TCP)" in r.stdout, r.stdout
        finally:
            srv.stop()


def test_parse_perf_counts_in_event_order():
    text = ("1500;;raw_syscalls:sys_enter;5000000;100.00;;\n"
            "600;;irq:softirq_entry;5000000;100.00;;\n"
            "90;;sched:sched_waking;5000000;100.00;;\n")
    assert tcp_bench.parse_perf(text) == {"syscalls": 1500, "NET_RX softirqs": 600,
                                          "wakings": 90}
    with pytest.raises(RuntimeError):
        tcp_bench.parse_perf("<not counted>;;raw_syscalls:sys_enter;0;0.00;;\n")


def test_busy_threads_counts_threads_over_a_share():
    before = {1: 0, 2: 0, 3: 0}
    assert xdp_bench.busy_threads(before, {1: 50, 2: 45, 3: 5}) == 2
    assert xdp_bench.busy_threads(before, {1: 100, 2: 0, 3: 0}) == 1
    assert xdp_bench.busy_threads(before, {1: 0, 2: 0, 3: 0}) == 0


@needs_root
def test_rps_steers_the_client_end_and_restores_it():
    with netns.VethPair() as pair:
        path = tcp_bench.Path("veth-rps", pair.server_v4, pair.client_ns,
                              rps=(pair.client_ns, pair.client_if, 1))

        def mask():
            r = pair.run(pair.client_ns, ["cat", f"/sys/class/net/{pair.client_if}/queues/rx-0/rps_cpus"])
            assert r.returncode == 0, r.stderr
            return int(r.stdout.strip().replace(",", ""), 16)
        assert mask() == 0
        path.steer(True)
        assert mask() == 2          # CPU 1
        path.steer(False)
        assert mask() == 0


def test_thread_ticks_counts_each_thread_of_the_process_by_its_id():
    # a thread that spun is one entry of its own, under its own id, with its CPU
    import threading
    box = {}

    def spin():
        box["tid"] = threading.get_native_id()
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        box["ticks"] = xdp_bench.thread_ticks(os.getpid())
    t = threading.Thread(target=spin)
    t.start()
    t.join()
    ticks = box["ticks"]
    assert os.getpid() in ticks and box["tid"] in ticks
    assert ticks[box["tid"]] >= 0.1 * os.sysconf("SC_CLK_TCK")
