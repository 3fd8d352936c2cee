"""control — the server side of the control socket: one JSON object per line each way.

Request:  {"cmd": "status" | "stats" | "zone-status" | "reload" | "zone-add" | ... | "stop",
           "zone": NAME?, "file": PATH? (zone-add)}
Response: {"ok": true, ...} or {"ok": false, "error": "reason"}
The socket is a Unix stream socket (mode 0660), in the manner of knotc and nsd-control.
"""

import json
import os
import socket
import stat

from robdns.log import logger

MAX_REQUEST = 65536


def open_socket(path, owner=None):
    """Bind the control socket (before dropping root); owner=(uid, gid) to hand it over.

    What sits at `path` is removed only when it is a socket nobody accepts on (left by a
    crashed run); anything else is an error, so a mistyped server.control cannot delete a
    file."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o750, exist_ok=True)
        if owner:
            os.chown(directory, *owner)
    _remove_stale(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The mode comes from the umask at bind(): 0660 from the first moment, not after a
    # chmod() that would leave a window in which anyone may connect and send commands.
    old_umask = os.umask(0o117)
    try:
        s.bind(path)
    except OSError:
        s.close()
        raise
    finally:
        os.umask(old_umask)
    if owner:
        os.chown(path, *owner)
    s.listen(16)
    s.setblocking(False)
    return s


def _remove_stale(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(f"control socket {path}: the path exists and is not a socket; remove it "
                      f"or set server.control to another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)                  # nobody accepts on it: left by a crashed run
        return
    except OSError as e:
        raise OSError(f"control socket {path}: cannot tell whether a server uses it "
                      f"({e.strerror or e}); set server.control to another path") from None
    finally:
        probe.close()
    raise OSError(f"control socket {path} is in use by another running robdns; give each "
                  f"server its own path with server.control in its config")


class ControlServer:
    def __init__(self, handler):
        """handler(request: dict) -> awaitable dict: the command dispatcher of the daemon."""
        self.handler = handler
        self.server = None
        self.path = None

    async def start(self, sock):
        import asyncio          # not before the daemon's workers answer (robdns.daemon)
        self.path = sock.getsockname()
        self.server = await asyncio.start_unix_server(self._client, sock=sock, limit=MAX_REQUEST)

    async def close(self):
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    async def _client(self, reader, writer):
        import asyncio
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    await _send(writer, {"ok": False, "error": "request too long"})
                    break
                if not line:
                    break
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
                        raise ValueError("expected {\"cmd\": ...}")
                except ValueError as e:
                    await _send(writer, {"ok": False, "error": f"bad request: {e}"})
                    continue
                try:
                    resp = await self.handler(req)
                except Exception as e:       # a bug in a command must not kill the server
                    logger.exception("control command %r failed", req.get("cmd"))
                    resp = {"ok": False, "error": f"internal error: {e}"}
                await _send(writer, resp)
        except ConnectionError:
            pass
        finally:
            writer.close()


async def _send(writer, obj):
    writer.write(json.dumps(obj).encode() + b"\n")
    await writer.drain()
