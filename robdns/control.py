"""control — the server side of the control socket: one JSON object per line each way.

Request:  {"cmd": "status" | "stats" | "zone-status" | "reload" | "stop", "zone": NAME?}
Response: {"ok": true, ...} or {"ok": false, "error": "reason"}
The socket is a Unix stream socket (mode 0660), in the manner of knotc and nsd-control.
"""

import asyncio
import json
import os
import socket

from robdns.log import logger

MAX_REQUEST = 65536


def open_socket(path, owner=None):
    """Bind the control socket (before dropping root); owner=(uid, gid) to hand it over."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o750, exist_ok=True)
        if owner:
            os.chown(directory, *owner)
    if os.path.exists(path):
        # A socket left by a crashed run; a live server still answering keeps its socket.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1)
            probe.connect(path)
        except OSError:
            os.unlink(path)
        else:
            raise OSError(f"control socket {path} is in use by a running server")
        finally:
            probe.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o660)
    if owner:
        os.chown(path, *owner)
    s.listen(16)
    s.setblocking(False)
    return s


class ControlServer:
    def __init__(self, handler):
        """handler(request: dict) -> awaitable dict: the command dispatcher of the daemon."""
        self.handler = handler
        self.server = None
        self.path = None

    async def start(self, sock):
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
