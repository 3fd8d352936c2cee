"""httpd — the metrics and health endpoint (server.http): /metrics in the Prometheus
exposition format, /health (the process answers) and /ready (every configured zone is
served), for Prometheus, systemd, Kubernetes probes and load balancers.

The standard library's HTTP server, in threads of its own: the UDP and XDP workers never
see it, and a slow or hostile client holds one of `max_connections` threads (each
blocked in recv, the GIL released) for at most `timeout` seconds, never the event loop
that serves TCP and the control socket.  Requests are capped in size; one request per
connection (HTTP/1.0), GET and HEAD only.
"""

import http.server
import json
import socket
import socketserver
import threading

from robdns.log import logger


class RequestTooLarge(Exception):
    pass


class _LimitedReader:
    """The request stream with a byte budget for request line and headers together."""

    def __init__(self, f, budget):
        self.f = f
        self.left = budget

    def readline(self, size=-1):
        if self.left <= 0:
            raise RequestTooLarge()
        want = self.left + 1 if size < 0 else min(size, self.left + 1)
        line = self.f.readline(want)
        self.left -= len(line)
        if self.left < 0:
            raise RequestTooLarge()
        return line

    def read(self, size=-1):
        raise RequestTooLarge()            # no request here has a body

    def close(self):
        self.f.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "robdns"
    protocol_version = "HTTP/1.0"         # one request per connection

    def setup(self):
        self.timeout = self.server.limits.timeout    # every recv and send
        super().setup()
        self.rfile = _LimitedReader(self.rfile, self.server.limits.max_request)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except RequestTooLarge:
            self.close_connection = True
            self.send_error(431, "Request Header Fields Too Large")
        except (socket.timeout, ConnectionError, OSError):
            self.close_connection = True  # the client was too slow, or left

    def do_GET(self):
        self._serve(body=True)

    def do_HEAD(self):
        self._serve(body=False)

    def _serve(self, body):
        path = self.path.split("?", 1)[0]
        app = self.server.app
        if path == "/metrics":
            code, ctype, data = 200, app.content_type, app.metrics()
        elif path == "/health":
            code, ctype, data = 200, "text/plain; charset=utf-8", b"ok\n"
        elif path == "/ready":
            ready, detail = app.ready()
            code = 200 if ready else 503
            ctype, data = "application/json", json.dumps(detail, sort_keys=True).encode() + b"\n"
        else:
            code, ctype, data = 404, "text/plain; charset=utf-8", b"not found\n"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, fmt, *args):
        logger.debug("http %s: %s", self.address_string(), fmt % args)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, family, limits, app):
        self.address_family = family
        self.limits = limits
        self.app = app
        self.slots = threading.BoundedSemaphore(limits.max_connections)
        self.watch = {}                     # socket -> deadline timer
        super().__init__(addr, _Handler, bind_and_activate=False)
        if family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise

    def server_bind(self):
        # HTTPServer.server_bind asks for the host's FQDN (a DNS lookup): not wanted.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        # Beyond max_connections a connection is closed at once: the threads (and so the
        # memory) a flood of clients can take stay bounded.
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        # A whole-request deadline: a client sending a byte now and then is cut off too.
        timer = threading.Timer(self.limits.timeout, _cut, (request,))
        timer.daemon = True
        timer.start()
        self.watch[request] = timer
        try:
            super().process_request(request, client_address)
        except Exception:
            self._release(request)
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request):
        timer = self.watch.pop(request, None)
        if timer is not None:
            timer.cancel()
            self.slots.release()

    def handle_error(self, request, client_address):
        logger.debug("http %s: request failed", client_address[0], exc_info=True)


def _cut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class HttpEndpoint:
    """The endpoint: bind() while privileged (the address may be a low port), start()
    when the daemon can answer (before the zones load, so /ready can say "not yet")."""

    def __init__(self, cfg, snapshot, ready):
        """cfg: config.HttpConfig; snapshot() -> (stats, status) for /metrics;
        ready() -> (bool, detail dict) for /ready."""
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
        from robdns import metrics
        self.cfg = cfg
        self.registry = metrics.registry(snapshot)
        self.content_type = CONTENT_TYPE_LATEST
        self.ready = ready
        self.server = None
        self.thread = None

    def metrics(self):
        from prometheus_client.exposition import generate_latest
        return generate_latest(self.registry)

    def bind(self):
        a = self.cfg.listen
        try:
            self.server = _Server((a.host, a.port), a.family, self.cfg, self)
        except OSError as e:
            raise OSError(e.errno, f"cannot bind http {a}: {e.strerror}") from None
        return self

    @property
    def address(self):
        return self.server.server_address[:2]

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                       name="http", daemon=True)
        self.thread.start()
        logger.info("http: /metrics /health /ready on %s", self.cfg.listen)

    def stop(self):
        if self.server is None:
            return
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(5)
        self.server.server_close()
        self.server = None
