"""sdnotify — the systemd notification protocol (sd_notify(3)) without libsystemd.

A datagram of newline-separated ``KEY=VALUE`` lines to the AF_UNIX socket named by
$NOTIFY_SOCKET (a leading ``@`` means the abstract namespace). Without $NOTIFY_SOCKET
(not started by systemd as Type=notify) every call is a no-op.
"""

import os
import socket
import time


def notify(*lines):
    """Send the given ``KEY=VALUE`` lines; returns True when a datagram was sent."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr or not lines:
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    elif addr[0] != "/":
        return False            # sd_notify(3) accepts only absolute paths and '@' names
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.sendto("\n".join(lines).encode(), addr)
        except OSError:
            return False        # systemd went away: nothing useful to do about it
    return True


def ready(status=None):
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def reloading(status=None):
    # systemd >= 253 (Type=notify-reload) needs MONOTONIC_USEC with RELOADING=1 to match
    # the reload to the request; older ones ignore it.
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}", *([f"STATUS={status}"] if status else []))


def stopping(status=None):
    return notify("STOPPING=1", *([f"STATUS={status}"] if status else []))


def status(text):
    return notify(f"STATUS={text}")
