#!/usr/bin/env python3
# tcp_probe.py — counts behind one TCP load (issue 11): who wakes the client, segments per answer, system calls, server CPU split into user and system.
"""One load of tcp_bench (dnsperf -m tcp -c 4 -Q 20000 by default) against each server in
turn, server pinned to CPU 0 and dnsperf to CPU 1 as in tcp_bench, and over a window in the
middle of the run (after --settle seconds, --window seconds long):

- server CPU split into user and system time (per-thread utime, stime);
- wake-ups of dnsperf's threads made from the server's own context (perf stat -p SERVER
  on sched:sched_waking filtered to dnsperf's thread ids: on loopback the sender's
  sendmsg runs the receiver's TCP input in its softirq, so that wake-up, a cross-CPU
  IPI here, is the server's time), and of the server's threads made from dnsperf's;
- segments per answer: TCP_INFO's segs_out/data_segs_out of the server's and the
  client's sockets (ss -ti) before and after the window, over the answers of the window
  (rate x window for a paced load; dnsperf's own count otherwise);
- the server's send, receive and wait calls (syscalls:sys_enter_* tracepoints);
- with --profile, a second window per server under `perf record -g` alone: its CPU per
  answer and the inclusive share of the send path (tcp_sendmsg), the loopback delivery
  to the client in it (tcp_v4_rcv, sock_def_readable: the client's wake-up), the receive
  path, the wait and the switch back, and the engine, in microseconds per answer.

    python3 bench/tcp_probe.py                              # robdns and knot at -c 4 -Q 20000
    python3 bench/tcp_probe.py --servers robdns,knot --holds 0 --rate 20000 --window 5
    python3 bench/tcp_probe.py --rate 0                     # saturation (no -Q)
    python3 bench/tcp_probe.py --baseline /work/main        # also robdns@base from another build
    python3 bench/tcp_probe.py --profile                    # and where each server's CPU goes

Counting with perf stat is done in the kernel, but a traced event is not free: the CPU
figures printed here are not the ones to compare (tcp_bench's are); the counts are.
"""

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genzone    # noqa: E402
import procfs     # noqa: E402
import servers    # noqa: E402
import tcp_bench  # noqa: E402

SYSCALLS = ("sendmsg", "sendto", "write", "writev", "read", "recvmsg", "recvfrom",
            "epoll_wait", "epoll_pwait", "nanosleep", "clock_nanosleep", "setsockopt")


def thread_ids(pids):
    out = []
    for pid in pids:
        try:
            out += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return out


def user_sys(pids):
    u = s = 0
    for text in procfs.task_files(pids, "stat"):
        st = procfs.parse_stat(text)
        u += st["utime"]
        s += st["stime"]
    return u, s


SS_KEYS = ("segs_out", "data_segs_out", "segs_in", "data_segs_in")


def ss_counts(port):
    """Sums of TCP_INFO segment counters over the established sockets of the server
    (local port = port) and of its clients (peer port = port)."""
    r = subprocess.run(["ss", "-tinH", "state", "established"], capture_output=True, text=True)
    out = {"server": dict.fromkeys(SS_KEYS, 0), "client": dict.fromkeys(SS_KEYS, 0)}
    side = None
    for line in r.stdout.splitlines():
        if not line.startswith((" ", "\t")):
            f = line.split()
            side = None
            if len(f) >= 4:
                if f[2].endswith(f":{port}"):
                    side = "server"
                elif f[3].endswith(f":{port}"):
                    side = "client"
            continue
        if side:
            for k in SS_KEYS:
                m = re.search(rf"\b{k}:(\d+)", line)
                if m:
                    out[side][k] += int(m.group(1))
    return out


def perf_stat(pids, events, window):
    """perf stat -p on the given processes for window seconds: {event label: count}.
    events: (label, event, filter or None)."""
    cmd = ["perf", "stat", "-x", ";", "--no-big-num", "-p", ",".join(map(str, pids))]
    for _, ev, flt in events:
        cmd += ["-e", ev] + (["--filter", flt] if flt else [])
    cmd += ["--", "sleep", str(window)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def perf_counts(proc, events):
    _, err = proc.communicate(timeout=120)
    vals = []
    for line in err.splitlines():
        f = line.split(";")
        if len(f) > 2 and f[2].startswith(("sched:", "syscalls:", "net:")):
            vals.append(int(f[0]) if f[0].isdigit() else 0)
    if len(vals) != len(events):
        raise RuntimeError(f"perf stat: {err}")
    return {label: v for (label, _, _), v in zip(events, vals)}


def pid_filter(tids):
    return " || ".join(f"pid == {t}" for t in tids)


def load_window(srv, queries, rate, clients, settle, window, during):
    """dnsperf against srv for settle + window + 2 s; during(dnsperf's Popen) is called
    after `settle` and spans the window.  Returns (its result, answers in the window,
    queries dnsperf completed)."""
    duration = settle + window + 2
    cmd = tcp_bench.dnsperf_tcp(srv.port, queries, duration, clients, rate or None)
    dp = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(settle)
        res = during(dp)
        out, _ = dp.communicate(timeout=duration + 60)
    finally:
        if dp.poll() is None:
            dp.kill()
            dp.wait()
    m = re.search(r"Queries completed:\s+(\d+)", out)
    completed = int(m.group(1)) if m else 0
    return res, (rate * window if rate else completed * window / duration), completed


def probe(srv, queries, rate, clients, settle, window):
    spids = srv.pids()

    def during(dp):
        ctids = thread_ids([dp.pid] + procfs.process_tree(dp.pid))
        stids = thread_ids(spids)
        sev = [("client wakings from server", "sched:sched_waking", pid_filter(ctids)),
               ("all wakings from server", "sched:sched_waking", None),
               ("segments sent from server", "net:net_dev_queue", None)]
        sev += [(s, f"syscalls:sys_enter_{s}", None) for s in SYSCALLS]
        cev = [("server wakings from client", "sched:sched_waking", pid_filter(stids)),
               ("segments sent from client", "net:net_dev_queue", None)]
        u0, s0 = user_sys(spids)
        ss0 = ss_counts(srv.port)
        ps = perf_stat(spids, sev, window)
        pc = perf_stat(procfs.process_tree(dp.pid), cev, window)
        # system-wide: who else (ksoftirqd, idle) woke dnsperf
        pa = subprocess.Popen(["perf", "stat", "-x", ";", "-a", "-e", "sched:sched_waking",
                               "--filter", pid_filter(ctids), "--", "sleep", str(window)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cs = perf_counts(ps, sev)
        cc = perf_counts(pc, cev)
        ca = perf_counts(pa, [("client wakings, all contexts", None, None)])
        u1, s1 = user_sys(spids)
        ss1 = ss_counts(srv.port)
        segs = {side: {k: ss1[side][k] - ss0[side][k] for k in SS_KEYS} for side in ss0}
        return u1 - u0, s1 - s0, {**cs, **cc, **ca}, segs

    (u, sy, counts, segs), answers, completed = load_window(srv, queries, rate, clients,
                                                            settle, window, during)
    return {"answers": answers, "completed": completed, "user_ticks": u, "sys_ticks": sy,
            "cpu_us_per_answer": (u + sy) / procfs.CLK_TCK * 1e6 / answers,
            "counts": counts, "segs": segs}


# Where the server's time goes, inclusive (perf report --children): the send path, in it
# the loopback delivery to the client's socket and the client's wake-up, the receive path,
# the wait and the context switch back.  Without a PMU (a VM) perf samples on cpu-clock, a
# timer that cannot fire while interrupts are off: such time lands where they are turned
# back on (the wake-up's _raw_spin_unlock_irqrestore in sock_def_readable, the end of the
# softirq), so the split inside tcp_sendmsg is rough; tcp_sendmsg's total is not.
PROFILE_SYMS = ("tcp_sendmsg", "tcp_v4_rcv", "sock_def_readable", "tcp_recvmsg",
                "do_epoll_wait", "finish_task_switch.isra.0", "tcp_ack")


def profile(srv, queries, rate, clients, settle, window):
    """perf record -g of the server over the window (nothing else traced): CPU per answer
    and the inclusive share of each PROFILE_SYMS function, in microseconds per answer."""
    spids = srv.pids()
    data = os.path.join(servers.OUT, f"tcp_probe.{os.getpid()}.perf")

    def during(dp):
        u0, s0 = user_sys(spids)
        subprocess.run(["perf", "record", "-q", "-g", "-F", "4999", "-o", data,
                        "-p", ",".join(map(str, spids)), "--", "sleep", str(window)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        u1, s1 = user_sys(spids)
        return u1 - u0, s1 - s0

    (u, sy), answers, _ = load_window(srv, queries, rate, clients, settle, window, during)
    us = (u + sy) / procfs.CLK_TCK * 1e6 / answers if answers else 0.0
    rep = subprocess.run(["perf", "report", "-i", data, "--children", "--stdio", "--sort", "sym",
                          "-g", "none", "--percent-limit", "0.1"], capture_output=True, text=True).stdout
    os.unlink(data)
    shares = {}
    for line in rep.splitlines():
        f = line.split()
        if len(f) == 4 and f[0].endswith("%") and f[3] in PROFILE_SYMS:
            shares[f[3]] = float(f[0][:-1])
    return {"answers": answers, "cpu_us_per_answer": us, "user_ticks": u, "sys_ticks": sy,
            "shares": shares}


def report_profile(name, r):
    us = r["cpu_us_per_answer"]
    lines = [f"== {name} (profile): {r['answers']:.0f} answers in the window; server user "
             f"{r['user_ticks']} + sys {r['sys_ticks']} ticks ({us:.2f} us/answer)"]
    for sym in PROFILE_SYMS:
        pct = r["shares"].get(sym, 0.0)
        lines.append(f"   {sym:28s} {pct:5.1f}%  {pct * us / 100:5.2f} us/answer (inclusive)")
    return "\n".join(lines)


def report(name, r):
    a = r["answers"]
    lines = [f"== {name}: {a:.0f} answers in the window, dnsperf completed {r['completed']}; "
             f"server user {r['user_ticks']} + sys {r['sys_ticks']} ticks "
             f"({r['cpu_us_per_answer']:.2f} us/answer, traced)"]
    for k, v in r["counts"].items():
        if v:
            lines.append(f"   {k:32s} {v:9d}  {v / a:6.3f}/answer")
    for side, d in r["segs"].items():
        lines.append(f"   {side} sockets: " + ", ".join(f"{k} {v} ({v / a:.3f}/answer)"
                                                     for k, v in d.items()))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description="Counts behind a TCP load (issue 11).")
    p.add_argument("--servers", default="robdns,knot")
    p.add_argument("--holds", default="", help="also robdns with server.tcp.hold_us at these values")
    p.add_argument("--nagle-rtts", default="",
                   help="also robdns with server.tcp.nagle_rtt_us at these values")
    p.add_argument("--baseline", metavar="CHECKOUT", help="also robdns@base from this checkout")
    p.add_argument("--rate", type=int, default=tcp_bench.RATE_QPS, help="dnsperf -Q; 0: none")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--settle", type=float, default=2)
    p.add_argument("--window", type=float, default=5)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--profile", action="store_true",
                   help="also a run per server under perf record -g: where its CPU goes")
    a = p.parse_args(argv)
    zone = os.path.join(servers.OUT, "bench100k.zone")
    queries = os.path.join(servers.OUT, "bench100k.queries")
    genzone.ensure(100000, zone, queries)
    tcp = {"max_connections": 4096, "idle_timeout": 10}
    make = {"robdns": lambda: servers.Robdns(zone, tcp_bench.ORIGIN, cpu=tcp_bench.SERVER_CPU,
                                             workers=1, tcp=tcp),
            "knot": lambda: servers.Knot(zone, tcp_bench.ORIGIN, cpu=tcp_bench.SERVER_CPU, workers=1)}
    names = a.servers.split(",")
    if a.baseline:
        names.append("robdns@base")
        make["robdns@base"] = lambda: servers.RobdnsCheckout(
            a.baseline, zone, tcp_bench.ORIGIN, cpu=tcp_bench.SERVER_CPU, workers=1, tcp=tcp)
    for h in [int(h) for h in a.holds.split(",") if h.strip()]:
        names.append(f"robdns hold={h}")
        make[names[-1]] = (lambda h=h: servers.Robdns(
            zone, tcp_bench.ORIGIN, cpu=tcp_bench.SERVER_CPU, workers=1, tcp={**tcp, "hold_us": h}))
    for h in [int(h) for h in a.nagle_rtts.split(",") if h.strip()]:
        names.append(f"robdns nagle={h}")
        make[names[-1]] = (lambda h=h: servers.Robdns(
            zone, tcp_bench.ORIGIN, cpu=tcp_bench.SERVER_CPU, workers=1,
            tcp={**tcp, "nagle_rtt_us": h}))
    running = {}
    try:
        for n in names:
            running[n] = make[n]().start()
            running[n].wait_answer(limit=120)
        for rnd in range(a.rounds):
            for n in names:
                print(report(n, probe(running[n], queries, a.rate, a.clients, a.settle, a.window)),
                      flush=True)
                if a.profile:
                    print(report_profile(n, profile(running[n], queries, a.rate, a.clients,
                                                    a.settle, a.window)), flush=True)
    finally:
        for srv in running.values():
            srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
