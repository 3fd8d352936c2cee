# procfs.py — what the benchmarks read from /proc: process trees, CPU time per task, resident memory.
"""Small, dependency-free readers of Linux /proc (proc(5)).

CPU time is utime+stime of every thread (/proc/PID/task/TID/stat fields 14 and 15, in
clock ticks) summed over a process tree, so a server's worker threads and forked
children are all counted.  Memory is VmRSS/VmHWM from /proc/PID/status and Pss from
/proc/PID/smaps_rollup (Pss divides shared pages among their sharers, so a forking
server such as NSD is not counted twice for the pages its children share).
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_stat(text):
    """Parse one /proc/*/stat line -> dict(pid, comm, state, ppid, utime, stime) (ticks).

    comm is in parentheses and may itself contain spaces and ')' (it is the executable's
    name, up to 15 bytes, chosen by the program), so the fields after it are found from
    the LAST ')' of the line.
    """
    lpar = text.index("(")
    rpar = text.rindex(")")
    rest = text[rpar + 2:].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return {
        "pid": int(text[:lpar].strip()),
        "comm": text[lpar + 1:rpar],
        "state": rest[0],
        "ppid": int(rest[1]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
    }


def _read(path):
    with open(path) as f:
        return f.read()


def process_tree(root):
    """root and all its live descendants (by ppid, scanning /proc once)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = parse_stat(_read(f"/proc/{entry}/stat"))
        except (OSError, ValueError, IndexError):
            continue   # exited meanwhile
        children.setdefault(st["ppid"], []).append(st["pid"])
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return sorted(out)


def task_items(pids, name):
    """(pid, tid, text of /proc/PID/task/TID/<name>) of every thread of the given
    processes (threads that exit meanwhile are skipped)."""
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                yield pid, tid, _read(f"/proc/{pid}/task/{tid}/{name}")
            except OSError:
                continue


def task_files(pids, name):
    """The text of /proc/PID/task/TID/<name> of every thread of the given processes."""
    return (text for _, _, text in task_items(pids, name))


def cpu_ticks_by_thread(pids):
    """utime+stime (clock ticks) of every thread of the given processes, summed by thread
    name without its "/N" (comm "robdns-udp/0" and "robdns-udp/1" -> "robdns-udp")."""
    out = {}
    for text in task_files(pids, "stat"):
        try:
            st = parse_stat(text)
        except (ValueError, IndexError):
            continue
        name = st["comm"].split("/")[0]
        out[name] = out.get(name, 0) + st["utime"] + st["stime"]
    return out


def cpu_ticks(pids):
    """Sum of utime+stime (clock ticks) over every thread of the given processes."""
    return sum(cpu_ticks_by_thread(pids).values())


def context_switches(pids):
    """Sum of voluntary and involuntary context switches (/proc/PID/task/TID/status) over
    every thread of the given processes: a thread that blocks in recvmmsg and is woken
    by the next datagram counts one voluntary switch per wake-up."""
    vol = invol = 0
    for text in task_files(pids, "status"):
        st = parse_status(text)
        vol += int(st.get("voluntary_ctxt_switches", 0))
        invol += int(st.get("nonvoluntary_ctxt_switches", 0))
    return {"voluntary": vol, "nonvoluntary": invol}


def cpu_seconds(pids):
    return cpu_ticks(pids) / CLK_TCK


def process_cpu(pids):
    """(user, system) seconds of the processes from each one's own /proc/PID/stat, which
    counts its threads that have ended too (a thread's task file goes with it: a start's
    compile threads, a transfer's receiver); processes gone meanwhile are skipped."""
    user = system = 0
    for pid in pids:
        try:
            st = parse_stat(_read(f"/proc/{pid}/stat"))
        except (OSError, ValueError, IndexError):
            continue
        user += st["utime"]
        system += st["stime"]
    return user / CLK_TCK, system / CLK_TCK


def parse_status(text):
    """/proc/PID/status -> {field: value}; memory fields ("VmRSS: 123 kB") as int kB."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if value.endswith(" kB"):
            out[key] = int(value[:-3])
        else:
            out[key] = value
    return out


def status(pid):
    return parse_status(_read(f"/proc/{pid}/status"))


def memory_kb(pids):
    """{'rss': sum VmRSS, 'hwm': sum VmHWM, 'pss': sum Pss} in kB over the processes."""
    rss = hwm = pss = 0
    for pid in pids:
        try:
            st = status(pid)
        except OSError:
            continue
        rss += st.get("VmRSS", 0)
        hwm += st.get("VmHWM", 0)
        try:
            roll = parse_status(_read(f"/proc/{pid}/smaps_rollup"))
            pss += roll.get("Pss", 0)
        except OSError:
            pss += st.get("VmRSS", 0)
    return {"rss": rss, "hwm": hwm, "pss": pss}


def huge_kb(pids):
    """kB of the processes' memory mapped by 2 MiB pages (smaps_rollup AnonHugePages +
    FilePmdMapped): whether a server's image got its huge pages."""
    total = 0
    for pid in pids:
        try:
            roll = parse_status(_read(f"/proc/{pid}/smaps_rollup"))
        except OSError:
            continue
        total += roll.get("AnonHugePages", 0) + roll.get("FilePmdMapped", 0)
    return total


def udp_counters():
    """The Udp: line of /proc/net/snmp as a dict (RcvbufErrors counts datagrams dropped
    because a socket's receive buffer was full — system wide)."""
    lines = [l.split() for l in _read("/proc/net/snmp").splitlines() if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))


def machine_facts():
    """nproc, CPU model, kernel, load average: what RESULTS.md records with each run."""
    model = "unknown"
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": os.uname().release,
        "loadavg": _read("/proc/loadavg").split()[:3],
        "mem_total_kb": parse_status(_read("/proc/meminfo")).get("MemTotal"),
    }
