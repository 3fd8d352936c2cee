# test_bench_tools.py — the benchmark tools themselves work: zone generator, /proc accounting, dnsperf parsing, echo floor.
"""No timing assertions here: the benchmarks' figures live in bench/RESULTS.md.  These
tests check that what produces those figures is right (a zone the peers accept, a query
mix that is what it claims, CPU time read from the right /proc fields)."""

import os
import signal
import socket
import subprocess
import sys
import time

import dns.message
import dns.name
import dns.rdatatype
import dns.zone
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import genzone   # noqa: E402
import procfs    # noqa: E402
import qps_bench  # noqa: E402
import servers   # noqa: E402

ORIGIN = genzone.DEFAULT_ORIGIN


@pytest.fixture(scope="module")
def small_zone(tmp_path_factory):
    d = tmp_path_factory.mktemp("genzone")
    zpath, qpath = str(d / "z.zone"), str(d / "z.queries")
    z = genzone.write_files(3000, zpath, qpath, nqueries=4000)
    return z, zpath, qpath


def test_genzone_is_deterministic(tmp_path, small_zone):
    _, zpath, qpath = small_zone
    genzone.write_files(3000, str(tmp_path / "a.zone"), str(tmp_path / "a.queries"), nqueries=4000)
    assert open(zpath).read() == open(tmp_path / "a.zone").read()
    assert open(qpath).read() == open(tmp_path / "a.queries").read()


def test_genzone_record_count_and_types_match_dnspython(small_zone):
    z, zpath, _ = small_zone
    zone = dns.zone.from_file(zpath, ORIGIN, relativize=False)
    count = sum(len(rds) for _, node in zone.items() for rds in node.rdatasets)
    assert count == z.records >= 3000
    types = {rds.rdtype for _, node in zone.items() for rds in node.rdatasets}
    for t in ("SOA", "NS", "A", "AAAA", "MX", "TXT", "CNAME", "SRV"):
        assert dns.rdatatype.from_text(t) in types, t
    names = [n for n, _ in zone.items()]
    assert any(n.labels[0] == b"*" for n in names), "no wildcard"
    # Delegations below the apex, with in-bailiwick glue.
    apex = dns.name.from_text(ORIGIN)
    cuts = [n for n, node in zone.items() if n != apex and node.get_rdataset(1, dns.rdatatype.NS)]
    assert cuts
    glued = [c for c in cuts if any(n != c and n.is_subdomain(c) for n in names)]
    assert glued


def test_genzone_empty_non_terminals_are_empty(small_zone):
    z, zpath, _ = small_zone
    zone = dns.zone.from_file(zpath, ORIGIN, relativize=False)
    names = {n for n, _ in zone.items()}
    assert z.ents
    for ent in z.ents[:200]:
        n = dns.name.from_text(ent, dns.name.from_text(ORIGIN))
        assert n not in names, f"{n} owns records"
        assert any(m.is_subdomain(n) and m != n for m in names), f"{n} has no descendants"


def test_genzone_zone_accepted_by_nsd_checkzone(small_zone):
    _, zpath, _ = small_zone
    r = subprocess.run(["nsd-checkzone", ORIGIN, zpath], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def classify(zone, names, nonterminals, qname, qtype):
    """What an authoritative server must answer: answer / nodata / nxdomain / referral / wildcard.
    names: the owner names; nonterminals: every proper ancestor of an owner name."""
    apex = zone.origin
    n = dns.name.from_text(qname)
    # A zone cut above (or at) the name: a referral (RFC 1034 4.3.2 step 3b).
    cur = n
    while cur != apex:
        node = zone.get_node(cur)
        if node is not None and node.get_rdataset(1, dns.rdatatype.NS):
            return "referral"
        cur = cur.parent()
    node = zone.get_node(n)
    if node is not None:
        if node.get_rdataset(1, dns.rdatatype.from_text(qtype)) or node.get_rdataset(1, dns.rdatatype.CNAME):
            return "answer"
        return "nodata"
    if n in nonterminals:
        return "nodata"          # an empty non-terminal
    if dns.name.from_text("*", n.parent()) in names:
        return "wildcard"
    return "nxdomain"


def test_genzone_query_mix(small_zone):
    _, zpath, qpath = small_zone
    zone = dns.zone.from_file(zpath, ORIGIN, relativize=False)
    lines = open(qpath).read().splitlines()
    assert len(lines) == 4000
    names = {n for n, _ in zone.items()}
    nonterminals = set()
    for n in names:
        while n != zone.origin:
            n = n.parent()
            nonterminals.add(n)
    seen = {}
    for line in lines:
        qname, qtype = line.split()
        assert qname.endswith("." + ORIGIN) or qname == ORIGIN
        dns.rdatatype.from_text(qtype)
        c = classify(zone, names, nonterminals, qname, qtype)
        seen[c] = seen.get(c, 0) + 1
    share = {k: v / len(lines) for k, v in seen.items()}
    assert 0.55 < share["answer"] < 0.80
    assert 0.05 < share["nxdomain"] < 0.15
    assert 0.05 < share["nodata"] < 0.20
    assert 0.04 < share["referral"] < 0.12
    assert 0.02 < share["wildcard"] < 0.08


def test_parse_stat_handles_hostile_comm():
    # comm may hold spaces and ')' — the fields must be found after the last ')'.
    line = ("4242 (a) b (c)) R 17 4242 4242 0 -1 4194304 100 0 0 0 "
            "123 45 6 7 20 0 3 0 555 1000 200 18446744073709551615")
    st = procfs.parse_stat(line)
    assert st == {"pid": 4242, "comm": "a) b (c)", "state": "R", "ppid": 17, "utime": 123, "stime": 45}


def test_parse_stat_of_this_process():
    st = procfs.parse_stat(open("/proc/self/stat").read())
    assert st["pid"] == os.getpid() and st["ppid"] == os.getppid()


def test_cpu_ticks_follow_process_time():
    pid = os.getpid()
    t0, c0 = time.process_time(), procfs.cpu_ticks([pid])
    x = 0
    while time.process_time() - t0 < 0.3:
        x += 1
    t1, c1 = time.process_time(), procfs.cpu_ticks([pid])
    measured = (c1 - c0) / procfs.CLK_TCK
    # Same quantity from two interfaces; ticks are 1/CLK_TCK s coarse.
    assert abs(measured - (t1 - t0)) <= 0.05 + 3.0 / procfs.CLK_TCK


def test_process_cpu_counts_threads_that_have_ended():
    # a thread's own task file goes with it; the process's stat keeps its CPU (what the
    # start and secondary benches read after their compile/receive threads are gone)
    import threading

    def spin():
        t = time.thread_time()
        while time.thread_time() - t < 0.3:
            pass
    u0, s0 = procfs.process_cpu([os.getpid()])
    th = threading.Thread(target=spin)
    th.start()
    th.join()
    u1, s1 = procfs.process_cpu([os.getpid()])
    assert (u1 + s1) - (u0 + s0) >= 0.3 - 3.0 / procfs.CLK_TCK
    assert procfs.process_cpu([2 ** 22 + 7]) == (0.0, 0.0)     # no such process: skipped


def test_process_tree_and_memory_include_children():
    child = subprocess.Popen(["sleep", "30"])
    try:
        tree = procfs.process_tree(os.getpid())
        assert os.getpid() in tree and child.pid in tree
        assert procfs.process_tree(child.pid) == [child.pid]
        own = procfs.memory_kb([os.getpid()])
        both = procfs.memory_kb([os.getpid(), child.pid])
        assert own["rss"] > 1000 and both["rss"] > own["rss"]
        assert own["pss"] <= own["rss"] + 4
    finally:
        child.kill()
        child.wait()


def test_parse_status_and_udp_counters():
    st = procfs.parse_status("Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t3\n")
    assert st == {"Name": "x", "VmRSS": 1234, "Threads": "3"}
    udp = procfs.udp_counters()
    assert "RcvbufErrors" in udp and "InDatagrams" in udp


DNSPERF_OUTPUT = """\
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         310912
  Queries completed:    310662 (99.92%)
  Queries lost:         250 (0.08%)

  Response codes:       NOERROR 280000 (90.13%), NXDOMAIN 30662 (9.87%)
  Average packet size:  request 40, response 40
  Run time (s):         3.000057
  Queries per second:   103552.032511

  Average Latency (s):  0.001481 (min 0.000012, max 0.770216)
"""


def test_parse_dnsperf():
    r = qps_bench.parse_dnsperf(DNSPERF_OUTPUT)
    assert (r["sent"], r["completed"], r["lost"]) == (310912, 310662, 250)
    assert r["qps"] == pytest.approx(103552.032511)
    assert r["rcodes"] == {"NOERROR": 280000, "NXDOMAIN": 30662}
    with pytest.raises(ValueError):
        qps_bench.parse_dnsperf("dnsperf: error: could not open file")


def test_context_switches_count_a_thread_that_blocks():
    # Each sleep blocks this thread once: one voluntary switch per sleep at least.
    pid = os.getpid()
    before = procfs.context_switches([pid])["voluntary"]
    for _ in range(20):
        time.sleep(0.001)
    assert procfs.context_switches([pid])["voluntary"] - before >= 20


def test_parse_perf_stat_counts_of_the_receive_calls():
    text = ("12345,,syscalls:sys_enter_recvmmsg,5001234567,100.00,,\n"
            "0,,syscalls:sys_enter_recvmsg,5001234567,100.00,,\n"
            "12340,,syscalls:sys_enter_sendmmsg,5001234567,100.00,,\n"
            "<not counted>,,syscalls:sys_enter_ppoll,0,0.00,,\n")
    assert qps_bench.parse_perf_stat(text) == {"recvmmsg": 12345, "sendmmsg": 12340}
    cmd = qps_bench.perf_syscalls_command([10, 11], 3)
    assert cmd[:2] == ["perf", "stat"] and "10,11" in cmd and cmd[-2:] == ["sleep", "3"]


def test_qps_server_names_carry_the_zone_and_the_hold():
    assert qps_bench.split_name("robdns") == ("robdns", "", None)
    assert qps_bench.split_name("knot@signed") == ("knot", "signed", None)
    assert qps_bench.split_name("robdns@hold0") == ("robdns", "", 0)
    assert qps_bench.split_name("robdns@signed+hold50") == ("robdns", "signed", 50)


def test_qps_copies_are_instances_of_the_same_server_each_named_once():
    # --copies N: robdns#2..#N are more instances of robdns, measured and reported apart
    assert qps_bench.split_name("robdns#3") == ("robdns", "", None)
    a = qps_bench.argparse.Namespace(servers="robdns@before,knot,robdns", dnstap=False, scrape=False,
                                     before="/tree", copies=3, hold=[0])
    # robdns@before named by --servers and by --before is one server (two were started
    # under one name, and the first was never measured nor stopped)
    assert qps_bench.wanted_servers(a) == ["robdns@before", "knot", "robdns", "robdns#2",
                                           "robdns#3", "robdns@hold0"]


def test_qps_fixed_runs_the_client_could_not_drive_are_told_apart():
    # dnsperf starved of its CPU answered 9-31k of 40k in a busy run: another load
    assert qps_bench.rate_met({"qps": 39991.0}, 40000)
    assert not qps_bench.rate_met({"qps": 31408.0}, 40000)
    assert not qps_bench.rate_met({"qps": None}, 40000)
    # the client's sending decides, not the answers: a server that lost a tenth of a run
    # the client drove in full keeps that run (its loss counted), a run the client could
    # not drive is left out whatever was answered
    assert qps_bench.rate_met({"qps": 36000.0, "sent": 320000, "run_time_s": 8.0}, 40000)
    assert not qps_bench.rate_met({"qps": 31000.0, "sent": 250000, "run_time_s": 8.0}, 40000)


def test_qps_report_gives_the_spread_of_identical_instances():
    def load(cpu):
        return {"qps": 40000, "cpu_us_per_query": cpu, "lost": 0, "huge_kb": 14336,
                "neighbours_cpu_ms": 3.0, "neighbours_wakeups": 120}
    med = {"robdns": {"fixed": load(8.0), "saturation": load(5.0)},
           "robdns#2": {"fixed": load(9.0), "saturation": load(5.5)},
           "knot": {"fixed": load(10.0), "saturation": load(6.0)}}
    runs = {"robdns": {"fixed": [{"cpu_us_per_query": 7.5}, {"cpu_us_per_query": 9.0}]},
            "robdns#2": {"fixed": [{"cpu_us_per_query": 8.0}, {"cpu_us_per_query": 8.8}]}}
    data = {"servers": ["robdns", "knot", "robdns#2"], "median": med, "fresh": False, "runs": runs}
    text = "\n".join(qps_bench.instance_report(data))
    assert "| robdns#2 | 14336 | 3.0 | 120 | 3.0 | 120 |" in text
    # instances 1.125 apart, each one's own rounds 1.20 and 1.10 apart (median 1.15)
    assert ("(robdns, robdns#2), CPU µs/query @40k: min 8.00, max 9.00, max/min 1.125; "
            "one instance's rounds max/min, median 1.150; their runs together: the row robdns (x2)") in text
    assert "@sat: min 5.00, max 5.50, max/min 1.100; their runs" in text   # no runs: no rounds' spread
    # a run saved before these figures existed prints no such table
    old = {n: {l: {"cpu_us_per_query": 1.0} for l in ("fixed", "saturation")} for n in med}
    assert qps_bench.instance_report({"servers": list(med), "median": old}) == []


def test_huge_kb_reads_the_2mib_mappings_of_smaps_rollup():
    # an 8 MiB anonymous mapping asked for huge pages and touched (THP madvise or always
    # gives it 2 MiB pages at the fault when the host has free ones): huge_kb counts what
    # /proc/PID/smaps says of each mapping, summed
    import mmap
    m = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)   # not shmem
    try:
        if hasattr(mmap, "MADV_HUGEPAGE"):
            m.madvise(mmap.MADV_HUGEPAGE)
        m.write(b"x" * (8 << 20))
        try:
            m.madvise(getattr(mmap, "MADV_COLLAPSE", 25))  # Linux 6.1: into 2 MiB pages now
        except OSError:
            pass                                 # older kernel, or no free huge page
        got = procfs.huge_kb([os.getpid()])      # read first: khugepaged only adds later
        with open(f"/proc/{os.getpid()}/smaps") as f:
            per_mapping = sum(int(l.split()[1]) for l in f
                              if l.startswith(("AnonHugePages:", "FilePmdMapped:")))
        if per_mapping == 0:
            pytest.skip("the host gave the mapping no 2 MiB page (THP off or no free one): "
                        "0 == 0 would test nothing")
        assert got >= 2048 and got <= per_mapping
    finally:
        m.close()
    assert procfs.huge_kb([2 ** 22 + 7]) == 0         # no such process: nothing, no error


def test_qps_settle_waits_for_the_huge_page_thread():
    class Srv:
        def __init__(self, pid):
            self.pid = pid

        def pids(self):
            return [self.pid]
    # a process without a robdns-huge thread settles after the quiet second
    t = time.monotonic()
    qps_bench.settle(Srv(os.getpid()))
    assert 0.9 < time.monotonic() - t < 5
    # one with such a thread waits for it to end (here: the limit, as it never ends)
    p = subprocess.Popen([sys.executable, "-c", "import threading, time, ctypes\n"
                          "def f():\n"
                          "    ctypes.CDLL(None).prctl(15, b'robdns-huge', 0, 0, 0); time.sleep(60)\n"
                          "threading.Thread(target=f).start(); time.sleep(60)"])
    try:
        time.sleep(0.5)
        t = time.monotonic()
        qps_bench.settle(Srv(p.pid), limit=1.0)
        assert time.monotonic() - t >= 1.9
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("build", [servers.build_echo, qps_bench.build_echo_uring],
                         ids=["recvmmsg", "io_uring"])
def test_echo_floor_sets_qr_and_exits_on_sigterm(build):
    binary = build()
    p = subprocess.Popen([binary, "127.0.0.1", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line and "io_uring" in p.stderr.read():
            pytest.skip("io_uring is not available here (io_uring_disabled, seccomp)")
        port = int(line.split()[1])
        q = dns.message.make_query("www." + ORIGIN, "A")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        wire, _ = s.recvfrom(512)
        sent = q.to_wire()
        assert wire[2] == sent[2] | 0x80 and wire[:2] + wire[3:] == sent[:2] + sent[3:]
        # A response (QR already set) is not answered: no echo loops between two servers.
        s.sendto(wire, ("127.0.0.1", port))
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recvfrom(512)
        s.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_qps_report_ratios_are_vs_knot():
    def load(qps, cpu, lost):
        return {"qps": qps, "cpu_us_per_query": cpu, "lost": lost, "completed": qps * 10,
                "rcvbuf_errors": lost, "server_cpu_s": cpu * qps * 1e-5, "avg_latency_s": 0.001}
    med = {"knot": {"fixed": load(40000, 8.0, 0), "saturation": load(50000, 6.0, 3)},
           "robdns": {"fixed": load(40000, 4.0, 0), "saturation": load(100000, 3.0, 0)}}
    runs = {n: {k: [v] for k, v in loads.items()} for n, loads in med.items()}
    data = {"date": "d", "machine": {"nproc": 2, "cpu": "x", "kernel": "k", "loadavg": ["0", "0", "0"]},
            "rounds": 1, "duration": 10, "servers": ["robdns", "knot"], "runs": runs, "median": med,
            "sample_check": {"robdns": 0}, "notes": []}
    row = next(l for l in qps_bench.report(data).splitlines() if l.startswith("| robdns"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # qps@40k, CPU@40k, vs Knot, lost, latency µs@40k, qps@sat, vs Knot, CPU@sat, vs Knot, lost
    assert cells[1:] == ["40000", "4.00", "0.50x", "0", "1000", "100000", "2.00x", "3.00", "0.50x", "0"]


def test_genzone_sign_produces_a_signed_zone(tmp_path):
    # Offline signing as operators do it (bind9-utils), for the signed-zone benchmark.
    z = genzone.write_files(300, str(tmp_path / "s.zone"))
    out = str(tmp_path / "s.signed")
    genzone.sign(str(tmp_path / "s.zone"), out, nsec3=True)
    zone = dns.zone.from_file(out, ORIGIN, relativize=False)
    types = {rds.rdtype for _, node in zone.items() for rds in node.rdatasets}
    for t in ("DNSKEY", "RRSIG", "NSEC3", "NSEC3PARAM"):
        assert dns.rdatatype.from_text(t) in types, t
    apex = zone.get_node(ORIGIN)
    assert apex.get_rdataset(1, dns.rdatatype.SOA)[0].serial == servers.zone_serial(str(tmp_path / "s.zone"))
    assert z.records < sum(len(rds) for _, node in zone.items() for rds in node.rdatasets)


def test_qps_before_runs_the_other_checkouts_build(tmp_path):
    # --before: robdns@before imports robdns from that checkout first, this one after it.
    srv = servers.RobdnsCheckout(str(tmp_path), "z.zone", ORIGIN, cpu=0, workers=1)
    path = srv.env()["PYTHONPATH"].split(os.pathsep)
    assert path[0] == str(tmp_path) and servers.REPO in path[1:]
    assert qps_bench.split_name("robdns@before") == ("robdns", "before", None)


def test_qps_reads_robdns_counters_when_run_as_a_script(tmp_path):
    # `python3 bench/qps_bench.py` has only bench/ on its path: the robdns rows must still
    # reach the control socket (they failed with "No module named 'robdns'" at the first run).
    # A listener on the socket path shows the request arrived.
    import socket
    import threading
    path = str(tmp_path / "control.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(60)
    got = []

    def accept():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            got.append(conn.recv(65536))
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    code = ("import sys, types; sys.path[:0] = [sys.argv[1]]; import qps_bench\n"
            "srv = types.SimpleNamespace(control=sys.argv[2])\n"
            "try:\n    qps_bench.robdns_batches(srv)\n"
            "except ModuleNotFoundError as e:\n    print('missing', e.name)\n"
            "except Exception as e:\n    print('after the request:', type(e).__name__)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        out = subprocess.run([sys.executable, "-c", code, os.path.dirname(qps_bench.__file__),
                              path], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                             timeout=60)
        t.join(15)
    finally:
        listener.close()
    assert "missing" not in out.stdout, out.stdout + out.stderr
    assert got and got[0], out.stdout + out.stderr          # a request reached the socket


def test_burst_client_gets_every_answer_of_its_bursts_from_the_echo(tmp_path, small_zone):
    # bench/burst.c: bursts of B sent at once, each awaited whole; the echo answers all.
    _, _, qpath = small_zone
    wire = qps_bench.burst_queries(qpath, str(tmp_path / "q.burst"), n=50)
    data = open(wire, "rb").read()
    assert data[0] + 1 < len(data) and data[1 + data[0]] > 0     # length octet, then the query
    p = subprocess.Popen([servers.build_echo(), "127.0.0.1", "0"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline().split()[1])
        out = subprocess.run([qps_bench.build_burst(), str(port), "4", "25", wire],
                             capture_output=True, text=True, timeout=60).stdout.split()
        assert out[:4] == ["answered", "100", "lost", "0"]
    finally:
        p.terminate()
        p.wait(5)


def test_burst_fit_splits_per_burst_and_per_datagram():
    # 25 µs a burst + 5 µs a datagram: CPU per query 30, 17.5, 11.25, 8.125 at B = 1, 2, 4, 8.
    per_burst, per_datagram = qps_bench.burst_fit([(1, 30.0), (2, 17.5), (4, 11.25), (8, 8.125)])
    assert per_burst == pytest.approx(25.0) and per_datagram == pytest.approx(5.0)
    assert qps_bench.burst_fit([(1, 30.0), (1, 31.0)]) is None
    runs = {"robdns": {"1": [{"cpu_us_per_query": 30.0, "wakeups_per_burst": 1.0, "lost": 0}],
                       "4": [{"cpu_us_per_query": 11.25, "wakeups_per_burst": 1.0, "lost": 0}]},
            "knot": {"1": [{"cpu_us_per_query": 40.0, "wakeups_per_burst": 1.0, "lost": 2}],
                     "4": [{"cpu_us_per_query": 17.5, "wakeups_per_burst": 1.0, "lost": 0}]}}
    lines = qps_bench.burst_report({"servers": ["robdns", "knot"], "bursts": runs, "reference": "knot"})
    row = next(l for l in lines if l.startswith("| robdns"))
    # robdns 25 + 5/datagram, knot 30 + 10/datagram
    assert [c.strip() for c in row.strip("|").split("|")] == ["robdns", "30.00", "11.25", "1.00",
                                                              "25.00", "5.00", "0.50x"]
    assert lines[-1] == "Lost in the burst runs: robdns 0, knot 2"
    assert qps_bench.burst_report({"servers": ["knot"], "bursts": {}}) == []
