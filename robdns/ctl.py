"""ctl — ``robdns ctl``: talk to a running server over its control socket (like knotc)."""

import json
import socket
import sys
import time

from robdns import config
from robdns.errors import ConfigError, ControlError


def request(path, cmd, timeout=30.0, **fields):
    """Send one command and return the server's response (a dict)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(path)
        except OSError as e:
            raise ControlError(f"cannot connect to {path}: {e.strerror or e} (is robdns running?)") from None
        s.sendall(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise ControlError("the server closed the connection without answering")
            data += chunk
    except socket.timeout:
        raise ControlError(f"no answer from {path} within {timeout:g} s") from None
    except OSError as e:
        # The server went away mid-request (reset, or a broken pipe on send): its socket's
        # failure, not this command's output's.
        raise ControlError(f"connection to {path} failed: {e.strerror or e}") from None
    finally:
        s.close()
    return json.loads(data)


def socket_path(args):
    if getattr(args, "socket", None):
        return args.socket
    if getattr(args, "config", None):
        return config.load(args.config).control
    return config.default_control_socket()


def run(args):
    try:
        path = socket_path(args)
        fields = {"zone": args.zone} if getattr(args, "zone", None) else {}
        if getattr(args, "file", None):
            import os
            fields["file"] = os.path.abspath(args.file)
        timeout = getattr(args, "timeout", 30.0)
        resp = request(path, args.action, timeout=timeout, **fields)
        if getattr(args, "prometheus", False) and args.action == "stats" and resp.get("ok"):
            from robdns import metrics
            sys.stdout.write(metrics.prometheus(resp["stats"], request(path, "status", timeout=timeout)))
            return 0
    except (ControlError, ConfigError) as e:
        print(f"robdns ctl: {e}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(json.dumps(resp, indent=2, sort_keys=True))
    else:
        _print(args.action, resp)
    return 0 if healthy(args.action, resp) else 1


def healthy(action, resp):
    """The exit status' verdict: the command worked and, for ``status``, nothing is failed.
    ``status`` is what health checks run (the Docker HEALTHCHECK): a configuration or zone
    that failed to load is unhealthy even while the previous version keeps serving, as
    ``zone-status`` and ``reload`` already report it."""
    if not resp.get("ok"):
        return False
    if action == "status":
        if resp.get("config_error"):
            return False
        return all(z.get("state") == "ok" for z in resp.get("zones", []))
    return True


def _print(action, resp):
    out = sys.stdout
    if not resp.get("ok") and "error" in resp:
        print(f"error: {resp['error']}", file=sys.stderr)
    if action == "status":
        up = _duration(resp.get("uptime", 0))
        print(f"robdns {resp.get('version')} pid {resp.get('pid')} up {up}; "
              f"{_count(resp.get('workers'), 'worker')} on {' '.join(resp.get('listen', []))}", file=out)
        cfg = resp.get("config") or "(built-in defaults)"
        err = resp.get("config_error")
        print(f"config {cfg}: {'FAILED, previous config in use' if err else 'ok'}", file=out)
        if err:
            for line in err.splitlines():
                print(f"  {line}", file=out)
        print(f"reloads {resp.get('reloads', 0)}", file=out)
    if action in ("status", "reload", "zone-reload") and resp.get("restart_needed"):
        print(f"restart needed: {', '.join(resp['restart_needed'])} changed; the running values "
              f"stay until a restart", file=out)
    if action in ("status", "zone-status", "reload", "zone-reload", "zone-refresh",
                  "zone-retransfer", "zone-add"):
        for z in resp.get("zones", []):
            _print_zone(z, out)
    if action in ("reload", "zone-reload") and resp.get("config_error"):
        print(f"config: {resp['config_error']}", file=sys.stderr)
    if action == "stats":
        for key, value in _flatten(resp.get("stats", {})):
            print(f"{key}: {value}", file=out)
    if action == "zone-notify" and resp.get("ok"):
        print(f"notify {resp['zone']} serial {resp['serial']} to {', '.join(resp['targets'])}", file=out)
    if action == "zone-remove" and resp.get("ok"):
        print(f"zone {resp['zone']} removed", file=out)
    if action in ("zone-add", "zone-remove") and resp.get("warning"):
        print(f"warning: {resp['warning']}", file=sys.stderr)
    if action == "stop" and resp.get("ok"):
        print("stopping", file=out)


def _print_zone(z, out):
    if z.get("serial") is not None:
        loaded = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(z["loaded_at"]))
        serving = f"serial {z['serial']}, {z['records']} records, loaded {loaded}"
    else:
        serving = "not served"
    state = "ok" if z.get("state") == "ok" else "FAILED"
    print(f"zone {z['name']} {state}: {serving}", file=out)
    for m in (z.get("errors") or []) + [f"warning: {w}" for w in z.get("warnings") or []]:
        print(f"  {m}", file=out)
    j = z.get("journal")
    if j:
        print(f"  journal: serials {j['from']} to {j['to']}, {j['changesets']} changesets, "
              f"{j['bytes']} bytes", file=out)
    t = z.get("transfers")
    if t:
        print("  transfers: " + ", ".join(f"{k} {v}" for k, v in sorted(t.items())), file=out)
    for target, n in sorted((z.get("notify") or {}).items()):
        extra = f" ({n['rcode'] or n['error']})" if n.get("rcode") or n.get("error") else ""
        print(f"  notify {target}: serial {n['serial']} {n['state']} after {n['attempts']} "
              f"attempts{extra}", file=out)
    if z.get("role") == "secondary":
        _print_secondary(z, out)


def _when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "never"


def _print_secondary(z, out):
    state = "EXPIRED (answering SERVFAIL)" if z.get("expired") else "current"
    print(f"  role secondary, {state}; primary {z.get('primary') or 'none yet'}", file=out)
    print(f"  last refresh {_when(z.get('last_refresh'))}, next refresh "
          f"{_when(z.get('next_refresh'))}, expires {_when(z.get('expires_at'))}", file=out)
    t = z.get("last_transfer")
    if t:
        print(f"  last transfer {t['kind'].upper()} serial {t['serial']}: {t['records']} records, "
              f"{t['bytes']} bytes in {t['seconds']} s at {_when(t.get('at'))}", file=out)
    if z.get("last_error"):
        print(f"  last error ({_when(z.get('last_error_at'))}): {z['last_error']}", file=out)


def _flatten(d, prefix=""):
    for k in sorted(d):
        v = d[k]
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration(seconds):
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d" if d else "") + (f"{h}h" if h or d else "") + f"{m}m{s}s"
