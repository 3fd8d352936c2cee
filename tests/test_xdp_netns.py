"""End-to-end tests of the AF_XDP path on a veth pair between two network namespaces
robdns's XDP program and workers on the inner end, queries from the outer end
over IPv4 and IPv6; TCP, ping and other UDP keep working through the same interface;
the program is gone after stop (also without privileges) and after a crash; a stale
netlink-attached program of ours is replaced, a live one or a foreign one is not."""

import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import json
import struct

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

import xdp_frames
from netns import ZONE, VethPair, inside, is_root, pair  # noqa: F401 (pair: fixture)
from robdns import _core, xdp

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not is_root(), reason="needs root: network namespaces and XDP attach"),
    pytest.mark.skipif(not _core.xdp_supported(), reason="built without libxdp/libbpf"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bpf"))
import bpf_build  # noqa: E402  (bpf/bpf_build.py: compiles the foreign program below)

ZONE_V2 = ZONE.replace("2026112701", "2026112702").replace("198.18.0.53", "198.18.1.53")


def make_db(text=ZONE):
    return _core.Database([_core.compile_zone_text("example.com.", text)])


@pytest.fixture(scope="module")
def program():
    return xdp.load_xdp_program()


def start(pair, program, db, **kw):
    cfg = xdp.parse_xdp_config({"interface": pair.server_if, **kw})
    with inside(pair.server_ns):
        return xdp.start_xdp_workers(cfg, db, program=program)


def stop(pair, workers):
    with inside(pair.server_ns):
        workers.stop()


QUERIES = [("www.example.com.", "A"), ("WwW.ExAmPlE.cOm.", "AAAA"), ("nope.example.com.", "A"),
           ("example.com.", "SOA"), ("mail.example.com.", "MX"), ("other.org.", "A")]


@pytest.mark.parametrize("mode", ["native", "generic"])
def test_queries_over_ipv4_and_ipv6_are_answered_by_the_engine(pair, program, mode):
    db = make_db()
    w = start(pair, program, db, mode=mode)
    try:
        assert w.info["mode"] == mode
        assert ("xdp " if mode == "native" else "xdpgeneric") in pair.xdp_prog_line()
        assert pair.attached_program()[1] == "rd_xdp_dns"
        sent = 0
        for family in (socket.AF_INET, socket.AF_INET6):
            for name, rtype in QUERIES:
                q = dns.message.make_query(name, rtype, use_edns=0)
                wire = q.to_wire()
                got = pair.exchange(wire, family)
                sent += 1
                assert got is not None, f"no answer to {name}/{rtype} over {family.name}"
                # The XDP path answers exactly what the engine answers for these bytes.
                assert got == _core.answer(db, wire)
                r = dns.message.from_wire(got)
                assert r.id == q.id and r.question[0].name == q.question[0].name
                if name.lower() == "www.example.com." and rtype == "A":
                    assert r.flags & dns.flags.AA
                    assert [rr.address for rr in r.answer[0]] == ["198.18.0.53"]
                if name == "nope.example.com.":
                    assert r.rcode() == dns.rcode.NXDOMAIN
                if name == "other.org.":
                    assert r.rcode() == dns.rcode.REFUSED
        c = w.counters()
        assert c["rx_frames"] == sent and c["tx_frames"] == sent and c["queries"] == sent
    finally:
        stop(pair, w)
    assert pair.attached_program() == (0, "")


def _tcp_echo_server(sock, stop):
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(2)
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data[::-1])


def test_other_traffic_still_reaches_the_stack(pair, program):
    """XDP_PASS for everything but UDP to the DNS port: TCP (also TCP to port 53), ICMP
    echo over IPv4 and IPv6, UDP to another port, and IP fragments even to port 53."""
    with inside(pair.server_ns):
        tcp = socket.create_server((pair.server_v4, 53))
        udp_other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp_other.bind((pair.server_v4, 5300))
        udp53_stack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp53_stack.bind((pair.server_v4, 53))
    stop_ev = threading.Event()
    t = threading.Thread(target=_tcp_echo_server, args=(tcp, stop_ev), daemon=True)
    t.start()
    w = start(pair, program, make_db())
    try:
        # A TCP connection through the same interface, held open across DNS traffic.
        with inside(pair.client_ns):
            c = socket.create_connection((pair.server_v4, 53), timeout=3)
        with c:
            c.sendall(b"hello")
            assert c.recv(100) == b"olleh"
            assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire()) is not None
            c.sendall(b"again")
            assert c.recv(100) == b"niaga"
        dns_frames = w.counters()["rx_frames"]
        assert dns_frames == 1

        for addr in (pair.server_v4, pair.server_v6):
            r = pair.run(pair.client_ns, ["ping", "-c", "2", "-i", "0.2", "-W", "2", addr])
            assert r.returncode == 0, r.stdout + r.stderr

        with pair.client_socket(socket.AF_INET) as s:
            s.sendto(b"ping5300", (pair.server_v4, 5300))
            udp_other.settimeout(2)
            assert udp_other.recvfrom(100)[0] == b"ping5300"

            # 3000 bytes to port 53 leave as IPv4 fragments (MTU 1500); the filter passes
            # fragments, so the stack reassembles and its socket gets the datagram.
            big = b"\0\1" + b"x" * 2998
            s.sendto(big, (pair.server_v4, 53))
            udp53_stack.settimeout(2)
            assert udp53_stack.recvfrom(4000)[0] == big
        assert w.counters()["rx_frames"] == dns_frames, "non-DNS traffic reached the XSK"
    finally:
        stop(pair, w)
        stop_ev.set()
        t.join(3)
        for s in (tcp, udp_other, udp53_stack):
            s.close()


def test_program_is_gone_after_stop(pair, program):
    w = start(pair, program, make_db())
    prog_id = w.info["prog_id"]
    assert prog_id and pair.attached_program() == (prog_id, "rd_xdp_dns")
    stop(pair, w)
    assert pair.attached_program() == (0, "")
    assert "prog/xdp" not in pair.xdp_prog_line()
    # DNS now goes to the stack, where nothing listens: no answer.
    assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire(), timeout=0.5) is None
    stop(pair, w)     # idempotent


CRASHING_RUN = textwrap.dedent("""
    import sys, time
    from robdns import _core, xdp
    db = _core.Database([_core.compile_zone_text("example.com.", sys.stdin.read())])
    cfg = xdp.parse_xdp_config({"interface": sys.argv[1], "mode": sys.argv[2]})
    w = xdp.start_xdp_workers(cfg, db)
    print("ready", w.info["prog_id"], flush=True)
    time.sleep(60)
""")


def _kill_a_running_robdns(pair):
    """Start the XDP path in a separate process, check it answers, SIGKILL it (a crash:
    no stop()).  Returns the id its program had."""
    proc = subprocess.Popen(["ip", "netns", "exec", pair.server_ns, sys.executable, "-c",
                             CRASHING_RUN, pair.server_if, "generic"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write(ZONE)
        proc.stdin.close()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            proc.kill()
            pytest.fail(f"the first run did not start: {line!r} {proc.stderr.read()}")
        assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire()) is not None
        return int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_a_crashed_run_leaves_no_program_behind(pair, program):
    """The program hangs on a BPF link owned by the process: the kernel closes a killed
    process's descriptors, and with the link the program goes."""
    _kill_a_running_robdns(pair)
    assert pair.attached_program() == (0, "")
    # DNS goes to the kernel stack again (nothing listens there: no answer).
    assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire(),
                         timeout=0.5) is None
    w = start(pair, program, make_db())
    try:
        assert w.info["replaced_stale"] is False
        assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire()) is not None
    finally:
        stop(pair, w)


@pytest.mark.parametrize("stale_mode, new_mode", [("generic", "generic"), ("generic", "native"),
                                                  ("native", "generic")])
def test_a_stale_netlink_attached_program_is_replaced(pair, program, tmp_path, stale_mode,
                                                      new_mode):
    obj = tmp_path / "stale.o"
    obj.write_bytes(program)
    stale_id, name = pair.attach_through_netlink(obj, stale_mode)
    assert stale_id and name == "rd_xdp_dns"
    db = make_db()
    w = start(pair, program, db, mode=new_mode)
    try:
        assert w.info["replaced_stale"] is True
        assert w.info["mode"] == new_mode
        new_id, name = pair.attached_program()
        assert name == "rd_xdp_dns" and new_id not in (0, stale_id)
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        assert pair.exchange(wire) == _core.answer(db, wire)
    finally:
        stop(pair, w)
    assert pair.attached_program() == (0, "")


def test_a_second_robdns_on_the_same_interface_is_refused(pair, program):
    """A live robdns's program is held by its link: another start must not take it."""
    db = make_db()
    w = start(pair, program, db)
    try:
        first = pair.attached_program()
        with pytest.raises(xdp.XdpError, match="held by a running process"):
            start(pair, program, make_db(ZONE_V2))
        assert pair.attached_program() == first
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        assert pair.exchange(wire) == _core.answer(db, wire)
    finally:
        stop(pair, w)
    assert pair.attached_program() == (0, "")


FOREIGN_PROGRAM = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int someone_elses(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""


def test_someone_elses_program_is_not_replaced(pair, program, tmp_path):
    src = tmp_path / "other.bpf.c"
    src.write_text(FOREIGN_PROGRAM)
    obj = tmp_path / "other.o"
    bpf_build.compile_program(str(src), str(obj))
    r = subprocess.run(["ip", "-n", pair.server_ns, "link", "set", "dev", pair.server_if,
                        "xdpgeneric", "obj", str(obj), "sec", "xdp"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    foreign = pair.attached_program()
    assert foreign[1] == "someone_elses"
    with pytest.raises(xdp.XdpError, match="another XDP program .*someone_elses"):
        start(pair, program, make_db())
    assert pair.attached_program() == foreign


def test_database_swap_reaches_the_workers(pair, program):
    """set_database publishes a new snapshot (RCU: swap, grace period, release)."""
    w = start(pair, program, make_db())
    try:
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        r = dns.message.from_wire(pair.exchange(wire))
        assert [rr.address for rr in r.answer[0]] == ["198.18.0.53"]
        w.set_database(make_db(ZONE_V2))
        r = dns.message.from_wire(pair.exchange(wire))
        assert [rr.address for rr in r.answer[0]] == ["198.18.1.53"]
    finally:
        stop(pair, w)


SO_RCVBUFFORCE = 33     # asm-generic/socket.h; Python's socket module has no name for it


def copy_mode_tx_budget():
    """Frames one copy-mode sendto() sends: the TX ring (2048) where the kernel has
    XDP_MAX_TX_SKB_BUDGET (Linux 6.17), else the kernel's fixed 32."""
    major, minor = map(int, re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    return 2048 if (major, minor) >= (6, 17) else 32


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_batch_of_replies_takes_one_tx_kick(pair, program):
    """Copy mode sends only inside sendto(), 32 frames a call unless the socket's budget is
    raised: with the budget at the TX ring's size a full RX batch's replies go out in one
    kick, and nothing of a burst is lost.  The burst waits in the RX ring while a
    real-time spinner holds the worker's CPU, so that the worker takes it in full batches
    (sent one by one from Python it comes a frame at a time)."""
    worker_cpu, client_cpu = sorted(os.sched_getaffinity(0))[:2]
    cfg = xdp.parse_xdp_config({"interface": pair.server_if})
    with inside(pair.server_ns):
        w = xdp.start_xdp_workers(cfg, make_db(), program=program, cpus=[worker_cpu])
    mask = os.sched_getaffinity(0)
    try:
        assert w.info["queues"][0]["tx_budget"] == copy_mode_tx_budget()
        assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire())
        n = 400
        os.sched_setaffinity(0, {client_cpu})
        spin = subprocess.Popen(["chrt", "-f", "1", "taskset", "-c", str(worker_cpu),
                                 sys.executable, "-c", "import time\nt = time.monotonic() + 0.4\n"
                                 "while time.monotonic() < t: pass"])
        time.sleep(0.1)                 # the spinner has the worker's CPU
        with pair.client_socket(socket.AF_INET) as s:
            s.settimeout(2.0)
            # room for every reply before the first is read (the default holds ~256)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
            for i in range(n):
                wire = dns.message.make_query(f"www{i}.example.com.", "A").to_wire()
                s.sendto(wire, (pair.server_v4, 53))
            spin.wait(10)
            got = set()
            try:
                while len(got) < n:
                    got.add(dns.message.from_wire(s.recv(65535)).question[0].name.labels[0])
            except socket.timeout:
                pass
        assert len(got) == n
        c = w.counters()
        assert c["tx_frames"] == c["rx_frames"] == n + 1
        assert c["rx_frames"] / c["batches"] > 32       # full batches of 64 (RD_XDP_BATCH_MAX)
        if copy_mode_tx_budget() > 32:
            assert c["wakeups"] <= c["batches"]
        else:
            assert c["wakeups"] > c["batches"]
    finally:
        os.sched_setaffinity(0, mask)
        stop(pair, w)


def test_more_queues_than_the_interface_has_is_an_error(pair, program):
    with pytest.raises(xdp.XdpError, match="xdp.queues: .* has 1 RX queue"):
        start(pair, program, make_db(), queues=2)
    assert pair.attached_program() == (0, "")


def test_unknown_interface_is_an_error(pair, program):
    cfg = xdp.parse_xdp_config({"interface": "nosuchif0"})
    with inside(pair.server_ns):
        with pytest.raises(xdp.XdpError, match="no interface named 'nosuchif0'"):
            xdp.start_xdp_workers(cfg, make_db(), program=program)


def test_two_queues_each_get_a_worker(program):
    with VethPair(rx_queues=2) as pair:
        w = start(pair, program, make_db(), queues="auto")
        try:
            assert sorted(w.info["queues"]) == [0, 1]
            for i in range(8):
                q = dns.message.make_query(f"www{i}.example.com.", "A").to_wire()
                assert pair.exchange(q) is not None
        finally:
            stop(pair, w)


def test_zero_copy_on_where_the_driver_has_none_is_a_clear_error(pair, program):
    # veth has no AF_XDP zero-copy: "on" must fail and say why; "auto" falls back to copy.
    with pytest.raises(xdp.XdpError, match="zero-copy"):
        start(pair, program, make_db(), zero_copy="on")
    assert pair.attached_program() == (0, "")
    w = start(pair, program, make_db(), zero_copy="auto")
    try:
        assert w.info["queues"] == {0: {"zero_copy": False, "tx_budget": copy_mode_tx_budget()}}
    finally:
        stop(pair, w)


def _mac(pair, ns, ifname):
    out = subprocess.run(["ip", "-j", "-n", ns, "link", "show", "dev", ifname],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID, PACKET_OUTGOING = 263, 8, 0x10, 4


@pytest.mark.parametrize("vlans", [((0x8100, 100),), ((0x88A8, 7), (0x8100, 100))])
def test_vlan_tagged_queries_are_answered_with_the_tag(pair, program, vlans):
    """IEEE 802.1Q/802.1ad: a tagged query frame is answered with the same tags.  Sent and
    received with a packet socket (this kernel may lack VLAN devices); the receiving
    stack moves the outer tag into packet metadata (PACKET_AUXDATA)."""
    db = make_db()
    w = start(pair, program, db, mode="native")
    try:
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        frame = xdp_frames.query_frame(wire, vlans=vlans, sport=41000,
                                       src_mac=_mac(pair, pair.client_ns, pair.client_if),
                                       dst_mac=_mac(pair, pair.server_ns, pair.server_if))
        with inside(pair.client_ns):
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
        with s:
            s.bind((pair.client_if, 0))
            s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            s.settimeout(2)
            s.send(frame)
            deadline = time.monotonic() + 3
            while True:
                assert time.monotonic() < deadline, "no tagged reply"
                data, anc, _flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(20))
                if addr[2] == PACKET_OUTGOING:
                    continue
                aux = [d for lvl, typ, d in anc if lvl == SOL_PACKET and typ == PACKET_AUXDATA]
                status, _len, _snap, _mac_off, _net, tci, tpid = struct.unpack("IIIHHHH", aux[0][:20])
                if status & TP_STATUS_VLAN_VALID:
                    # Put the stripped outer tag back where it was on the wire.
                    data = data[:12] + struct.pack("!HH", tpid or 0x8100, tci) + data[12:]
                try:
                    reply = xdp_frames.parse_reply(data)
                except (AssertionError, struct.error):
                    continue      # other traffic (IPv6 ND...): a bad reply ends in the timeout
                if reply["sport"] == 53 and reply["dport"] == 41000:
                    break
        assert reply["vlans"] == list(vlans)
        assert reply["payload"] == _core.answer(db, wire)
    finally:
        stop(pair, w)


def test_workers_follow_the_daemons_published_database(pair, program):
    """Without a database of their own the workers read the daemon's RCU pointer, the one
    the UDP workers read: publish() reaches them, as a reload does."""
    previous = _core.published()
    _core.publish(None)
    cfg = xdp.parse_xdp_config({"interface": pair.server_if})
    with inside(pair.server_ns):
        w = xdp.start_xdp_workers(cfg, None, program=program)
    try:
        wire = dns.message.make_query("www.example.com.", "A").to_wire()
        assert pair.exchange(wire, timeout=0.5) is None          # nothing published: dropped
        assert w.counters()["no_db"] == 1
        _core.publish(make_db())
        r = dns.message.from_wire(pair.exchange(wire))
        assert [rr.address for rr in r.answer[0]] == ["198.18.0.53"]
        _core.publish(make_db(ZONE_V2))
        r = dns.message.from_wire(pair.exchange(wire, family=socket.AF_INET6))
        assert [rr.address for rr in r.answer[0]] == ["198.18.1.53"]
        with pytest.raises(RuntimeError, match="own database"):
            w.set_database(make_db())
    finally:
        stop(pair, w)
        _core.publish(previous)


def test_frames_too_long_for_a_umem_frame_go_to_the_stack(pair, program):
    """With a jumbo MTU a UDP datagram to port 53 can be longer than a 4 KiB UMEM frame
    holds: the filter passes it to the stack rather than have the kernel drop it."""
    for ns, ifname in ((pair.server_ns, pair.server_if), (pair.client_ns, pair.client_if)):
        r = pair.run(ns, ["ip", "link", "set", "dev", ifname, "mtu", "9000"])
        assert r.returncode == 0, r.stderr
    with inside(pair.server_ns):
        stack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stack.bind((pair.server_v4, 53))
    db = make_db()
    w = start(pair, program, db, mode="generic")
    try:
        with pair.client_socket(socket.AF_INET) as s, stack:
            s.settimeout(2)
            big = b"\0\2" + b"y" * 4998
            s.sendto(big, (pair.server_v4, 53))
            stack.settimeout(2)
            assert stack.recvfrom(9000)[0] == big
            wire = dns.message.make_query("www.example.com.", "A").to_wire()
            s.sendto(wire, (pair.server_v4, 53))
            assert s.recvfrom(4096)[0] == _core.answer(db, wire)
        c = w.counters()
        assert c["rx_frames"] == 1 and c["tx_frames"] == 1, c
    finally:
        stop(pair, w)


def _in_namespace_without_privileges(ns, fn):
    """Run fn in a thread of namespace ns with no effective capabilities at all
    (namespace and capabilities are per thread), as the daemon's thread is after the drop
    to server.user; returns fn's result.  The thread never goes back: it ends."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)        # _LINUX_CAPABILITY_VERSION_3
    data = (ctypes.c_uint32 * 6)()
    result = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                assert libc.setns(fd, 0x40000000) == 0, ctypes.get_errno()   # CLONE_NEWNET
            finally:
                os.close(fd)
            assert libc.capget(header, data) == 0
            data[0] = data[3] = 0                          # effective, both 32-bit halves
            assert libc.capset(header, data) == 0, ctypes.get_errno()
            with open("/proc/thread-self/status") as f:
                status = dict(line.split(":", 1) for line in f)
            assert int(status["CapEff"], 16) == 0
            result["value"] = fn()
        except BaseException as e:       # handed to the caller
            result["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_stop_detaches_without_any_capability(pair, program):
    """After the drop to server.user the daemon has no CAP_NET_ADMIN; closing the link
    still detaches the program."""
    w = start(pair, program, make_db())
    assert pair.attached_program()[0] == w.info["prog_id"]
    _in_namespace_without_privileges(pair.server_ns, w.stop)
    assert pair.attached_program() == (0, "")
    assert pair.exchange(dns.message.make_query("www.example.com.", "A").to_wire(),
                         timeout=0.5) is None


def test_dns_cookies_over_xdp_bind_to_the_client_address(pair, program):
    """RFC 7873 / RFC 9018 on the AF_XDP path: the server cookie is made for the source
    address of the frame, and sent back it is accepted (require on: BADCOOKIE otherwise)."""
    from cookies import BADCOOKIE, query as cookie_query, response_cookie, server_cookie
    secret, cc = bytes(range(16)), bytes.fromhex("2464c4abcf10c957")
    db = _core.Database([_core.compile_zone_text("example.com.", ZONE)], cookie_secret=secret,
                        cookie_require=True)
    w = start(pair, program, db)
    try:
        for family, client in ((socket.AF_INET, pair.client_v4), (socket.AF_INET6, pair.client_v6)):
            r = dns.message.from_wire(pair.exchange(cookie_query(cookie=cc).to_wire(), family))
            assert r.rcode() == BADCOOKIE and r.flags & dns.flags.TC and not r.answer
            c = response_cookie(r)
            (ts,) = struct.unpack("!I", c[12:16])
            assert c == cc + server_cookie(secret, cc, client, ts)
            r = dns.message.from_wire(pair.exchange(cookie_query(cookie=c).to_wire(), family))
            assert r.rcode() == 0 and r.answer and response_cookie(r) == c
    finally:
        stop(pair, w)
