"""config — the YAML configuration of ``robdns serve``: schema, validation, defaults.

Every problem is reported with the path of the key it concerns, e.g.
``server.listen[1]: bad address 'x'``, and all problems of a file are reported at once.
"""

import dataclasses
import ipaddress
import operator
import os
import re
import socket
import sys
import time

import yaml

from robdns import zonelist

from robdns.errors import ConfigError, ZoneError

DEFAULT_PORT = 53
DEFAULT_CONTROL_SOCKET = "/run/robdns/control.sock"
DEFAULT_STORAGE = "/var/lib/robdns"
BUNDLED_ZONE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "example.com.zone")


@dataclasses.dataclass(frozen=True)
class ListenAddress:
    """One address to serve on: ``ADDR@PORT`` (``ADDR`` alone means port 53)."""
    host: str
    port: int

    @property
    def family(self):
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def wildcard(self):
        """0.0.0.0 or :: — answers must then leave from the address that was asked."""
        return ipaddress.ip_address(self.host).is_unspecified

    def __str__(self):
        return f"{self.host}@{self.port}"


@dataclasses.dataclass(frozen=True)
class TcpConfig:
    """RFC 7766 limits of the TCP listener."""
    enabled: bool = True
    max_connections: int = 256       # open connections; the longest-idle one is closed beyond
    idle_timeout: float = 10.0       # seconds without progress either way (RFC 7766 6.2.3)
    max_pipelined: int = 64          # queries answered per connection before yielding
    hold_us: int = 100               # a worker's sleep after a light turn that opened or closed
                                     # connections
    nagle_rtt_us: int = 200          # pipelining clients nearer than this get their answers
                                     # with their next query (tcp_loop.c conn_nagle_on); 0: never
    pipeline_hold_us: int = 200      # a worker's sleep after a light turn of open connections
                                     # whose queries come that close together (loop_wait)


@dataclasses.dataclass(frozen=True)
class RrlConfig:
    """Response rate limiting of UDP answers (off unless rate is set), as in NSD and Knot."""
    rate: int = 0                    # responses/s per client prefix and response kind; 0 = off
    slip: int = 2                    # every slip-th limited response is sent truncated; 0 = none
    ipv4_prefix: int = 24            # client address bits that share a limit
    ipv6_prefix: int = 56
    table_size: int = 65536          # buckets per worker


@dataclasses.dataclass(frozen=True)
class CookieConfig:
    """DNS Cookies (RFC 7873) with RFC 9018 server cookies; on when `server.cookies` is set."""
    enabled: bool = False
    secret: bytes | None = None   # 16 bytes; None: generated at start, rotated
    previous_secret: bytes | None = None   # still accepted (a rotation across servers)
    require: bool = False            # UDP without a valid server cookie: TC=1 minimal answer
    secret_lifetime: int = 93600     # seconds between generated secrets (26 h, as Knot)


@dataclasses.dataclass(frozen=True)
class HttpConfig:
    """The metrics and health endpoint (server.http): /metrics, /health, /ready."""
    listen: ListenAddress
    zone_labels: int = 100           # zones with a label of their own; the rest: zone="other"
    max_connections: int = 16        # open HTTP connections; more are closed at once
    timeout: float = 5.0             # seconds a connection may take for its whole request
    max_request: int = 8192          # bytes of request line and headers


@dataclasses.dataclass(frozen=True)
class DnstapConfig:
    """dnstap logging of queries and responses (server.dnstap)."""
    sink: str                        # "unix:/path" (a collector's socket) or a file path
    sample: int = 1                  # log one query in `sample` (per worker)
    queries: bool = True             # AUTH_QUERY messages
    responses: bool = True           # AUTH_RESPONSE messages
    identity: str = ""               # the dnstap identity field (default: the host name)
    ring_kib: int = 4096             # each worker's ring; a message that finds it full is dropped

    @property
    def unix(self):
        return self.sink.startswith("unix:")

    @property
    def path(self):
        return self.sink[5:] if self.unix else self.sink


@dataclasses.dataclass(frozen=True)
class IncludePolicy:
    """What $INCLUDE may read per zone (cycles are always refused, by file identity)."""
    dir_only: bool = False           # included files must resolve inside the zone file's dir
    max_files: int = 1024            # $INCLUDE directives followed per zone
    max_bytes: int = 512 << 20       # bytes read through $INCLUDE per zone


@dataclasses.dataclass(frozen=True)
class TsigKey:
    """A TSIG key (RFC 8945) of the top-level `keys` list."""
    name: str                        # absolute, lower case, e.g. "xfr.key."
    algorithm: str                   # hmac-sha256, ...
    secret: bytes = dataclasses.field(repr=False, default=b"")
    secret_file: str | None = None    # where the secret was read from (at start and reload)


@dataclasses.dataclass(frozen=True)
class Remote:
    """A server the zone talks to: a primary (`primaries`) with the key that signs the
    exchange, if any."""
    address: ListenAddress
    key: str | None = None        # a name of `keys`


@dataclasses.dataclass(frozen=True)
class AclRule:
    """Who may do something to a zone (`allow_notify`): a network, and a key the message
    must be signed with, if any."""
    network: object                  # ipaddress.ip_network
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class TransferRule:
    """One entry of a zone's allow_transfer: a network (None: any address) and a key the
    request must be signed with (None: signed or not)."""
    address: str | None = None
    key: str | None = None


@dataclasses.dataclass(frozen=True)
class NotifyTarget:
    """A secondary told of each new serial (RFC 1996), signed with `key` if given."""
    host: str
    port: int = 53
    key: str | None = None

    def __str__(self):
        return f"{self.host}@{self.port}"


@dataclasses.dataclass(frozen=True)
class XfrConfig:
    """Zone transfers out: server.xfr."""
    max_transfers: int = 16          # AXFR/IXFR streams at once; more are REFUSED
    journal_dir: str | None = None    # None: "journal" in server.storage (or beside the
                                         # control socket when storage is off)
    notify_retries: int = 5          # NOTIFY sends per target before giving up (RFC 1996 3.6)
    notify_timeout: float = 2.0      # seconds before the first retry; doubled each time


@dataclasses.dataclass(frozen=True)
class MemberTemplate:
    """`catalog.members` of a consumer catalog zone (RFC 9432): the settings of the
    secondary zones its members become.  file: a path with {name} in it (the member's
    name, without the final dot, in file-safe form)."""
    file: str
    primaries: tuple = ()            # of Remote; empty: the catalog zone's own primaries
    allow_notify: tuple = ()
    allow_transfer: tuple = ()
    notify: tuple = ()
    transfer_timeout: float = 300.0
    transfer_max_size: int = 1 << 30
    journal_max_size: int = 4 << 20
    default_ttl: int = 3600


@dataclasses.dataclass(frozen=True, slots=True)
class ZoneOptions:
    """Every setting of a zone but its name and file.  Zones that set them alike share one
    instance (zone_options()): 100,000 plain zones hold one, not 15 slots each."""
    default_ttl: int = 3600          # for records before any $TTL (RFC 2308 section 4)
    include_policy: IncludePolicy = IncludePolicy()
    # RFC 9276 3.2: zones with more NSEC3 iterations are refused at load.  50 as BIND 9.20
    # (its validators treat more as insecure; dnssec-signzone 9.18 stops at 150).
    nsec3_max_iterations: int = 50
    # The secondary role (robdns.secondary): the zone is transferred from `primaries`
    # (tried in order) and `file` is where the received copy is kept.
    primaries: tuple = ()            # of Remote
    allow_notify: tuple = ()         # of AclRule; the primaries may always notify
    transfer_timeout: float = 300.0  # seconds one transfer may take in all
    transfer_max_size: int = 1 << 30 # bytes of transfer messages accepted per transfer
    # The primary role (robdns.xfrout): who may transfer the zone, whom to notify.
    allow_transfer: tuple = ()       # of TransferRule; empty: nobody may transfer the zone
    notify: tuple = ()               # of NotifyTarget
    journal_max_size: int = 4 << 20  # bytes of IXFR history kept; oldest changesets go first
    # Catalog zones (RFC 9432, robdns.catalog): "producer" makes this zone the catalog of
    # the zones that name it in catalog_member (it has no file); catalog_member names the
    # catalog that lists this zone.
    catalog_role: str | None = None
    catalog_member: str | None = None
    # "consumer" (robdns.catalog_consumer): each member the catalog lists becomes a
    # secondary zone made from this template; catalog_owner: the consumer catalog a member
    # zone came from (None: configured in the file or at run time).
    catalog_members: "MemberTemplate | None" = None
    catalog_owner: str | None = None


_OPTIONS = {}                        # ZoneOptions -> the shared equal instance
_OPTIONS_MAX = 4096                  # distinct ones kept; past that each zone keeps its own


def zone_options(*args, **kw):
    """ZoneOptions(*args, **kw), the instance already made when one is equal to it."""
    o = ZoneOptions(*args, **kw)
    try:
        return _OPTIONS.setdefault(o, o) if len(_OPTIONS) < _OPTIONS_MAX else _OPTIONS.get(o, o)
    except TypeError:                 # an unhashable value in it: not shared
        return o


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class ZoneConfig:
    """One configured zone: ZoneConfig(name, file, default_ttl, ...) takes ZoneOptions'
    fields after the two, and reads them back as attributes (z.primaries)."""
    name: str                        # absolute, lower case, e.g. "example.com."
    file: str                        # absolute path (relative ones resolved to the config's dir)
    options: ZoneOptions

    def __init__(self, name, file, *args, options=None, **kw):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "options", zone_options(*args, **kw) if options is None else options)

    @property
    def secondary(self):
        return bool(self.options.primaries)


for _f in dataclasses.fields(ZoneOptions):
    setattr(ZoneConfig, _f.name, property(operator.attrgetter("options." + _f.name)))
del _f


def _plain_fields(policy, nsec3_max):
    """(fields, values): every ZoneConfig field but name and file, with the values a
    plain entry's config has (what ZoneConfig(name, file, 3600, policy, nsec3_max) sets)."""
    return ("options",), (zone_options(3600, policy, nsec3_max),)


@dataclasses.dataclass(frozen=True)
class Config:
    listen: tuple = (ListenAddress("127.0.0.1", 5353),)
    workers: int = 1                 # resolved: "auto" becomes the number of usable cores
    pin_workers: bool = True
    udp_batch: int = 64              # datagrams per recvmmsg/sendmmsg
    udp_hold_us: int = 0             # sleep after a small batch for more (udp_loop.c); 0: never
    identity: str = ""               # CHAOS id.server / hostname.bind; "" = refused
    version: str = ""                # CHAOS version.bind; "" = refused
    nsid: bytes = b""                # RFC 5001 NSID payload; empty = off
    max_udp_payload: int = 1232      # our EDNS(0) UDP payload ceiling (RFC 6891 6.2.5)
    user: str | None = None       # drop root to this user after binding
    group: str | None = None
    control: str = DEFAULT_CONTROL_SOCKET
    storage: str = ""                # kept compiled images (robdns.keep); "" = none kept
    tcp: TcpConfig = TcpConfig()
    rrl: RrlConfig = RrlConfig()
    cookies: CookieConfig = CookieConfig()
    log_level: str = "info"
    log_format: str = "text"         # text | json (one object per line)
    http: HttpConfig | None = None
    dnstap: DnstapConfig | None = None
    zones: tuple = ()
    include_policy: IncludePolicy = IncludePolicy()   # server.include_policy, every zone's
    nsec3_max_iterations: int = 50   # server.nsec3_max_iterations, every zone's
    keys: tuple = ()                 # of TsigKey
    xfr: XfrConfig = XfrConfig()
    xdp: object = None               # robdns.xdp.XdpConfig or None
    path: str | None = None       # the file this came from (None: built-in defaults)


def zone_config(cfg, name, file, default_ttl=3600):
    """The ZoneConfig of a zone added at run time (robdns.dynzones): a primary zone read
    from `file` (made absolute against the config's directory) under cfg's server-wide
    settings; ConfigError says what is wrong."""
    v = _Validator(cfg.path or "<run time>")
    zones = v.zones([{"name": name, "file": file, "default_ttl": default_ttl}],
                    cfg.include_policy, cfg.nsec3_max_iterations)
    if v.errors or not zones:
        raise ConfigError("; ".join(e.replace("zones[0].", "") for e in v.errors) or "bad zone")
    return zones[0]


def default_config():
    """What a bare ``robdns serve`` runs: the bundled example zone on 127.0.0.1@5353."""
    return Config(zones=(ZoneConfig("example.com.", BUNDLED_ZONE),),
                  control=default_control_socket(), storage=default_storage())


def default_storage():
    """Where compiled images are kept when server.storage is not set: the directory
    systemd made for the unit (StateDirectory=, passed as $STATE_DIRECTORY), else
    /var/lib/robdns as root, else the user's state directory ($XDG_STATE_HOME/robdns,
    ~/.local/state/robdns), else /tmp/robdns-UID/state."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return state.split(":")[0]
    if os.geteuid() == 0:
        return DEFAULT_STORAGE
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "robdns")
    home = os.path.expanduser("~")
    if home != "~" and os.path.isdir(home) and os.access(home, os.W_OK):
        return os.path.join(home, ".local", "state", "robdns")
    return f"/tmp/robdns-{os.geteuid()}/state"


def default_control_socket():
    """/run/robdns/control.sock as root; a per-user path otherwise (no write access to /run)."""
    if os.geteuid() == 0:
        return DEFAULT_CONTROL_SOCKET
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "robdns", "control.sock")
    return f"/tmp/robdns-{os.geteuid()}/control.sock"


# Every key of the file, by section (dist/robdns.yaml documents each one).
TOP_KEYS = ("server", "zones", "keys", "log", "xdp")
SERVER_KEYS = ("xfr", "listen", "workers", "pin_workers", "udp_batch", "udp_hold_us", "identity", "version", "nsid",
               "max_udp_payload", "user", "group", "control", "storage", "tcp", "rrl",
               "include_policy", "nsec3_max_iterations", "cookies", "http", "dnstap")
TCP_KEYS = ("enabled", "max_connections", "idle_timeout", "max_pipelined", "hold_us",
            "nagle_rtt_us", "pipeline_hold_us")
RRL_KEYS = ("rate", "slip", "ipv4_prefix", "ipv6_prefix", "table_size")
ZONE_KEYS = ("name", "file", "default_ttl", "primaries", "allow_notify", "transfer_timeout",
             "transfer_max_size", "allow_transfer", "notify", "journal_max_size", "catalog",
             "catalog_member")
CATALOG_KEYS = ("role", "members")
MEMBER_KEYS = ("file", "primaries", "allow_notify", "allow_transfer", "notify",
               "transfer_timeout", "transfer_max_size", "journal_max_size", "default_ttl")
KEY_KEYS = ("name", "algorithm", "secret", "secret_file")
XFR_KEYS = ("max_transfers", "journal_dir", "notify_retries", "notify_timeout")
ADDRESS_KEY_KEYS = ("address", "key")      # primaries, allow_notify, allow_transfer, notify
TSIG_ALGORITHMS = ("hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384",
                   "hmac-sha512", "hmac-sha256-128", "hmac-sha384-192", "hmac-sha512-256")
INCLUDE_POLICY_KEYS = ("dir_only", "max_files", "max_bytes")
COOKIE_KEYS = ("enabled", "secret", "previous_secret", "require", "secret_lifetime")
LOG_KEYS = ("level", "format")
HTTP_KEYS = ("listen", "zone_labels", "max_connections", "timeout", "max_request")
DNSTAP_KEYS = ("sink", "sample", "queries", "responses", "identity", "ring_kib")

_PLAIN_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+")

# ---------------------------------------------------------------------------- loading

class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A YAML loader that refuses duplicate keys (a silent last-one-wins hides typos).
    libyaml's parser when PyYAML has it: a config of 100,000 zones then parses in about
    a second instead of twenty."""


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = True
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(path):
    """Read and validate a configuration file; raises ConfigError listing every problem."""
    return parse(read(path), path)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None


class Cache:
    """The last configuration parsed from a file, for reloads: a file whose text is the
    same parses to the same Config, so a reload of an unchanged config of 100,000 zones
    skips its second of parsing.  A file whose stat data (inode, size, modification time)
    is what it was when last read, and was not modified within SETTLE_NS of that read, is
    not read again either (as zone files are judged, robdns.keep): 10 MB of text read and
    compared is a tenth of a one-zone reload.  A config naming key files
    (keys[].secret_file) is always parsed again: a rotated key file must be read at the
    reload."""

    SETTLE_NS = 50_000_000       # file times lag the clock by up to a few ms (keep.pyx's too)

    def __init__(self):
        self.text = self.parsed = self.stat = None
        self.key_files = False       # does the text name key files (searched once a read:
                                     # 10 MB of 100,000 zones is milliseconds a reload)

    def load(self, path):
        st = _stat_key(path)
        if st is not None and st == self.stat and not self.key_files:
            return self.parsed
        read_at = time.time_ns()
        text = read(path)
        settled = st is not None and st[3] < read_at - self.SETTLE_NS and st == _stat_key(path)
        if text == self.text and not self.key_files:
            self.stat = st if settled else None
            return self.parsed
        parsed = parse(text, path)
        self.text, self.parsed, self.stat = text, parsed, st if settled else None
        self.key_files = "secret_file" in text
        return parsed


def _stat_key(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class _NotPlain(Exception):
    """The document uses anchors, aliases or explicit tags: load it the general way."""


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _load_events(text):
    """The document as yaml.load(_StrictLoader) gives it, built from libyaml's events
    without composing a node graph: a third of the time per zone entry, which counts in a
    config of 100,000 zones.  Scalars are resolved and constructed by the same resolver
    and constructor; a duplicate key is the same error.  Raises _NotPlain for anchors,
    aliases and explicit tags (the general loader handles those)."""
    loader = _StrictLoader("")
    implicit = loader.yaml_implicit_resolvers
    stack = []               # [container, pending key or _NO_KEY, key marks (mappings)]
    doc = None
    for ev in yaml.parse(text, Loader=_StrictLoader):
        kind = type(ev)
        if kind is yaml.ScalarEvent:
            if ev.anchor is not None or (ev.tag is not None and ev.tag != "!"):
                raise _NotPlain()
            value = ev.value
            if ev.implicit[0] and value and value[0] in implicit or ev.implicit[0] and not value:
                tag = loader.resolve(yaml.ScalarNode, value, (True, False))
                if tag == _MERGE_TAG:
                    raise _NotPlain()
                if tag != _STR_TAG:
                    value = loader.construct_object(yaml.ScalarNode(tag, value, ev.start_mark, ev.end_mark))
            item = value
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if ev.anchor is not None or not ev.implicit:
                raise _NotPlain()
            stack.append([{} if kind is yaml.MappingStartEvent else [], _NO_KEY, ev.start_mark])
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            item = stack.pop()[0]
        elif kind is yaml.AliasEvent:
            raise _NotPlain()
        else:
            continue          # stream and document start/end
        if not stack:
            doc = item
            continue
        top = stack[-1]
        c = top[0]
        if type(c) is list:
            c.append(item)
        elif top[1] is _NO_KEY:
            if item in c:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {item!r}", ev.start_mark)
            top[1] = item
        else:
            c[top[1]] = item
            top[1] = _NO_KEY
    return doc


_NO_KEY = object()


def parse(text, path="<config>"):
    # a long zones: list of one-line entries is read apart (robdns.zonelist)
    text, entries = zonelist.take(text, _resolve_plain)
    try:
        try:
            doc = _load_events(text)
        except (_NotPlain, TypeError):
            # anchors, tags, or a key that is not hashable (a mapping as a key)
            doc = yaml.load(text, Loader=_StrictLoader)
        if entries is not None and isinstance(doc, dict):
            doc["zones"] = entries
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        reason = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{where}: YAML error: {reason}") from None
    v = _Validator(path)
    cfg = v.config(doc)
    if v.errors:
        err = ConfigError("\n".join(f"{path}: {e}" for e in v.errors))
        err.errors = list(v.errors)
        raise err
    return cfg


def _resolve_plain(value):
    """The tag YAML gives the plain scalar `value` (str, int, bool, null ...)."""
    return _StrictLoader("").resolve(yaml.ScalarNode, value, (True, False))


class _Validator:
    """Walks the YAML document, converting values and collecting `path: reason` errors."""

    def __init__(self, path):
        self.errors = []
        self.base = os.path.dirname(os.path.abspath(path)) if path and not path.startswith("<") else os.getcwd()

    def err(self, key, reason):
        self.errors.append(f"{key}: {reason}")

    def mapping(self, key, value, allowed):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.err(key, f"expected a mapping, got {_kind(value)}")
            return {}
        for k in value:
            if k not in allowed:
                where = f"{key}.{k}" if key else str(k)
                self.err(where, "unknown key" + _suggest(k, allowed))
        return value

    def integer(self, key, value, lo, hi):
        if isinstance(value, bool) or not isinstance(value, int):
            self.err(key, f"expected an integer, got {_kind(value)}")
            return None
        if not lo <= value <= hi:
            self.err(key, f"{value} out of range {lo}..{hi}")
            return None
        return value

    def number(self, key, value, lo, hi):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.err(key, f"expected a number, got {_kind(value)}")
            return None
        if not lo <= value <= hi:
            self.err(key, f"{value} out of range {lo}..{hi}")
            return None
        return float(value)

    def string(self, key, value, maxlen=255):
        if not isinstance(value, str):
            self.err(key, f"expected a string, got {_kind(value)}")
            return None
        if len(value.encode()) > maxlen:
            self.err(key, f"longer than {maxlen} bytes")
            return None
        return value

    def boolean(self, key, value):
        if not isinstance(value, bool):
            self.err(key, f"expected true or false, got {_kind(value)}")
            return None
        return value

    def choice(self, key, value, choices):
        if value not in choices:
            self.err(key, f"expected one of {', '.join(map(str, choices))}, got {value!r}")
            return None
        return value

    # ---- sections

    def config(self, doc):
        top = self.mapping("", doc, TOP_KEYS)
        fields = {}
        fields.update(self.server(top.get("server")))
        if "log" in top:
            log = self.mapping("log", top["log"], LOG_KEYS)
            if "level" in log:
                lvl = self.choice("log.level", log["level"], ("debug", "info", "warning", "error"))
                if lvl:
                    fields["log_level"] = lvl
            if "format" in log:
                fmt = self.choice("log.format", log["format"], ("text", "json"))
                if fmt:
                    fields["log_format"] = fmt
        server = top.get("server") if isinstance(top.get("server"), dict) else {}
        policy = self.include_policy(server)
        nsec3_max = 50
        if "nsec3_max_iterations" in server:
            # RFC 5155 10.3 allowed up to 2500 (4096-bit keys); RFC 9276 wants 0.
            nsec3_max = self.integer("server.nsec3_max_iterations",
                                     server["nsec3_max_iterations"], 0, 2500) or 0
        fields["include_policy"], fields["nsec3_max_iterations"] = policy, nsec3_max
        fields["keys"] = self.keys(top.get("keys"))
        fields["zones"] = self.zones(top.get("zones"), policy, nsec3_max,
                                     {k.name for k in fields["keys"]})
        if top.get("xdp") is not None:
            fields["xdp"] = self.xdp(top["xdp"])
        return Config(**{k: v for k, v in fields.items() if v is not None})

    def server(self, value):
        s = self.mapping("server", value, SERVER_KEYS)
        out = {}
        if "listen" in s:
            out["listen"] = self.listen(s["listen"])
        if "workers" in s:
            out["workers"] = self.workers(s["workers"])
        if "pin_workers" in s:
            out["pin_workers"] = self.boolean("server.pin_workers", s["pin_workers"])
        if "udp_batch" in s:
            out["udp_batch"] = self.integer("server.udp_batch", s["udp_batch"], 1, 1024)
        if "udp_hold_us" in s:
            out["udp_hold_us"] = self.integer("server.udp_hold_us", s["udp_hold_us"], 0, 1000)
        for k in ("identity", "version"):
            if k in s and s[k] is not None:
                out[k] = self.string(f"server.{k}", s[k], 255)
        if "nsid" in s and s["nsid"] is not None:
            out["nsid"] = self.nsid(s["nsid"])
        if "max_udp_payload" in s:
            # 512 is the RFC 1035 floor; 4096 the largest a worker's response buffer takes.
            out["max_udp_payload"] = self.integer("server.max_udp_payload", s["max_udp_payload"], 512, 4096)
        for k in ("user", "group"):
            if k in s and s[k] is not None:
                out[k] = self.account(f"server.{k}", s[k])
        if "control" in s:
            c = self.string("server.control", s["control"], 107)   # sun_path holds 108 bytes
            if c is not None:
                out["control"] = c if os.path.isabs(c) else os.path.join(self.base, c)
        if "storage" not in s:
            out["storage"] = default_storage()
        elif s["storage"] is False:
            out["storage"] = ""            # off: every start compiles every zone
        else:
            d = self.string("server.storage", s["storage"], 4000)
            if d is not None:
                out["storage"] = d if os.path.isabs(d) else os.path.join(self.base, d)
        if "tcp" in s:
            out["tcp"] = self.tcp(s["tcp"])
        if "rrl" in s:
            out["rrl"] = self.rrl(s["rrl"])
        if "cookies" in s:
            out["cookies"] = self.cookies(s["cookies"])
        if s.get("http") is not None:
            out["http"] = self.http(s["http"])
        if s.get("dnstap") is not None:
            out["dnstap"] = self.dnstap(s["dnstap"])
        if s.get("xfr") is not None:
            out["xfr"] = self.xfr_section(s["xfr"])
        return out

    def http(self, value):
        # "ADDR@PORT" alone, or a mapping with the limits too.
        h = {"listen": value} if isinstance(value, str) else self.mapping("server.http", value, HTTP_KEYS)
        if "listen" not in h:
            if isinstance(value, dict):
                self.err("server.http", "missing key 'listen'")
            return None
        a = parse_listen(h["listen"]) if isinstance(h["listen"], str) else None
        if a is None:
            self.err("server.http.listen" if isinstance(value, dict) else "server.http",
                     f"bad address {h['listen']!r} (expected ADDR@PORT)")
            return None
        out = {}
        # Slot 0 of the data plane's per-zone counters is "other": 255 labelled zones at most.
        limits = {"zone_labels": (0, 255), "max_connections": (1, 1024),
                  "max_request": (512, 65536)}
        for k, (lo, hi) in limits.items():
            if k in h:
                out[k] = self.integer(f"server.http.{k}", h[k], lo, hi)
        if "timeout" in h:
            out["timeout"] = self.number("server.http.timeout", h["timeout"], 0.1, 300)
        if any(v is None for v in out.values()):
            return None
        return HttpConfig(a, **out)

    def dnstap(self, value):
        d = self.mapping("server.dnstap", value, DNSTAP_KEYS)
        if "sink" not in d:
            if isinstance(value, dict):
                self.err("server.dnstap", "missing key 'sink'")
            return None
        sink = self.string("server.dnstap.sink", d["sink"], 4096)
        if sink is None:
            return None
        if sink.startswith("unix:"):
            path = sink[5:]
            if not path or len(path.encode()) > 107:     # sun_path holds 108 bytes
                self.err("server.dnstap.sink", f"bad unix socket path {path!r}")
                return None
            sink = "unix:" + (path if os.path.isabs(path) else os.path.join(self.base, path))
        elif not sink:
            self.err("server.dnstap.sink", "empty path")
            return None
        elif not os.path.isabs(sink):
            sink = os.path.join(self.base, sink)
        out = {}
        if "sample" in d:
            out["sample"] = self.integer("server.dnstap.sample", d["sample"], 1, 1 << 30)
        for k in ("queries", "responses"):
            if k in d:
                out[k] = self.boolean(f"server.dnstap.{k}", d[k])
        if "identity" in d:
            out["identity"] = self.string("server.dnstap.identity", d["identity"], 255)
        if "ring_kib" in d:
            out["ring_kib"] = self.integer("server.dnstap.ring_kib", d["ring_kib"], 64, 1 << 20)
        if any(v is None for v in out.values()):
            return None
        return DnstapConfig(sink, **out)

    def listen(self, value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.err("server.listen", "expected a non-empty list of ADDR@PORT")
            return None
        out = []
        for i, item in enumerate(value):
            key = f"server.listen[{i}]"
            a, problem = _parse_listen(item) if isinstance(item, str) else (None, None)
            if a is None:
                self.err(key, f"{problem} in {item!r}" if problem else
                         f"bad address {item!r} (expected ADDR or ADDR@PORT)")
            elif a in out:
                self.err(key, f"duplicate address {item!r}")
            else:
                out.append(a)
        return tuple(out)

    def workers(self, value):
        if value == "auto":
            return len(os.sched_getaffinity(0))
        return self.integer("server.workers", value, 1, 512)

    def nsid(self, value):
        # As Knot: a string is taken as ASCII, "0x..." as hex (RFC 5001 2.3: opaque octets).
        s = self.string("server.nsid", value, 258)
        if s is None:
            return None
        if s.startswith("0x"):
            try:
                raw = bytes.fromhex(s[2:])
            except ValueError:
                self.err("server.nsid", f"bad hex {s!r}")
                return None
        else:
            raw = s.encode()
        if len(raw) > 128:
            self.err("server.nsid", "longer than 128 octets")
            return None
        return raw

    def account(self, key, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        s = self.string(key, value, 64)
        if s is not None and (not s or any(c in s for c in ":/ \t")):
            self.err(key, f"bad name {s!r}")
            return None
        return s

    def tcp(self, value):
        t = self.mapping("server.tcp", value, TCP_KEYS)
        out = {}
        if "enabled" in t:
            out["enabled"] = self.boolean("server.tcp.enabled", t["enabled"])
        if "max_connections" in t:
            out["max_connections"] = self.integer("server.tcp.max_connections", t["max_connections"], 1, 65536)
        if "idle_timeout" in t:
            out["idle_timeout"] = self.number("server.tcp.idle_timeout", t["idle_timeout"], 0.1, 3600)
        if "max_pipelined" in t:
            out["max_pipelined"] = self.integer("server.tcp.max_pipelined", t["max_pipelined"], 1, 65535)
        if "hold_us" in t:
            out["hold_us"] = self.integer("server.tcp.hold_us", t["hold_us"], 0, 1000)
        if "nagle_rtt_us" in t:
            out["nagle_rtt_us"] = self.integer("server.tcp.nagle_rtt_us", t["nagle_rtt_us"], 0, 100000)
        if "pipeline_hold_us" in t:
            out["pipeline_hold_us"] = self.integer("server.tcp.pipeline_hold_us",
                                                   t["pipeline_hold_us"], 0, 1000)
        return TcpConfig(**{k: v for k, v in out.items() if v is not None})

    def rrl(self, value):
        r = self.mapping("server.rrl", value, RRL_KEYS)
        limits = {"rate": (0, 1000000), "slip": (0, 100), "ipv4_prefix": (8, 32),
                  "ipv6_prefix": (16, 128), "table_size": (1024, 1 << 28)}
        out = {k: self.integer(f"server.rrl.{k}", r[k], *limits[k]) for k in RRL_KEYS if k in r}
        return RrlConfig(**{k: v for k, v in out.items() if v is not None})

    def cookies(self, value):
        c = self.mapping("server.cookies", value, COOKIE_KEYS)
        out = {"enabled": True}
        if "enabled" in c:
            out["enabled"] = self.boolean("server.cookies.enabled", c["enabled"])
        for k in ("secret", "previous_secret"):
            if k in c:
                out[k] = self.cookie_secret(f"server.cookies.{k}", c[k])
        if "previous_secret" in c and "secret" not in c:
            self.err("server.cookies.previous_secret", "needs server.cookies.secret")
        if "require" in c:
            out["require"] = self.boolean("server.cookies.require", c["require"])
        if "secret_lifetime" in c:
            # RFC 7873 7.1 bounds how long one secret may serve: at most 36 days (as Knot)
            out["secret_lifetime"] = self.integer("server.cookies.secret_lifetime",
                                                  c["secret_lifetime"], 1, 36 * 86400)
        return CookieConfig(**{k: v for k, v in out.items() if v is not None})

    def cookie_secret(self, key, value):
        # RFC 9018 4.4: a SipHash-2-4 key of 128 bits, written as 32 hex digits.
        s = self.string(key, value, 64)
        if s is None:
            return None
        try:
            raw = bytes.fromhex(s[2:] if s.startswith("0x") else s)
        except ValueError:
            raw = b""
        if len(raw) != 16:
            self.err(key, "expected 32 hex digits (a 128-bit secret)")
            return None
        return raw

    def include_policy(self, server):
        if not isinstance(server, dict) or "include_policy" not in server:
            return IncludePolicy()
        p = self.mapping("server.include_policy", server["include_policy"], INCLUDE_POLICY_KEYS)
        out = {}
        if "dir_only" in p:
            out["dir_only"] = self.boolean("server.include_policy.dir_only", p["dir_only"])
        if "max_files" in p:
            out["max_files"] = self.integer("server.include_policy.max_files", p["max_files"], 1, 1 << 20)
        if "max_bytes" in p:
            out["max_bytes"] = self.integer("server.include_policy.max_bytes", p["max_bytes"], 1, 1 << 40)
        return IncludePolicy(**{k: v for k, v in out.items() if v is not None})

    def keys(self, value):
        if value is None:
            return ()
        if not isinstance(value, list):
            self.err("keys", f"expected a list, got {_kind(value)}")
            return ()
        import base64
        import binascii
        out, names = [], set()
        for i, item in enumerate(value):
            key = f"keys[{i}]"
            k = self.mapping(key, item, KEY_KEYS)
            if not isinstance(item, dict):
                continue
            missing = [f for f in ("name", "algorithm") if f not in k]
            for f in missing:
                self.err(key, f"missing key {f!r}")
            if ("secret" in k) == ("secret_file" in k):
                self.err(key, "give exactly one of 'secret' and 'secret_file'")
                continue
            if missing:
                continue
            name = self.zone_name(f"{key}.name", k["name"])
            alg = self.choice(f"{key}.algorithm", k["algorithm"], TSIG_ALGORITHMS)
            where, sfile = f"{key}.secret", None
            if "secret" in k:
                secret = self.string(where, k["secret"], 1024)
            else:
                # Read now: at start and at every reload (a rotated key file is picked up).
                where = f"{key}.secret_file"
                secret = None
                sfile = self.string(where, k["secret_file"], 4096)
                if sfile is not None:
                    sfile = sfile if os.path.isabs(sfile) else os.path.join(self.base, sfile)
                    try:
                        with open(sfile, encoding="ascii") as f:
                            secret = f.read().strip()
                    except (OSError, UnicodeDecodeError) as e:
                        self.err(where, f"cannot read {sfile}: {getattr(e, 'strerror', None) or e}")
            if secret is not None:
                try:
                    secret = base64.b64decode(secret, validate=True)
                except (binascii.Error, ValueError):
                    self.err(where, "not base64")
                    secret = None
                else:
                    if not 0 < len(secret) <= 512:
                        self.err(where, "the secret must hold 1..512 bytes")
                        secret = None
            if name and name in names:
                self.err(f"{key}.name", f"key {name} listed twice")
                continue
            if name and alg and secret is not None:
                names.add(name)
                out.append(TsigKey(name, alg, secret, sfile))
        return tuple(out)

    def _key_ref(self, key, value, known):
        name = self.zone_name(key, value)
        if name is not None and name not in known:
            self.err(key, f"no key {name} in `keys`")
            return None
        return name

    def _address_key_list(self, key, value, known, address, need_address=True,
                          non_empty=False):
        """A list of {address: ..., key: NAME} mappings (primaries, allow_notify,
        allow_transfer, notify): [(address, key name or None)] of the entries whose parts
        check out.  address(where, value) converts an entry's address, or reports what is
        wrong and returns None; without need_address an entry may name a key alone (its
        address is then None)."""
        if not isinstance(value, list) or (non_empty and not value):
            self.err(key, f"expected a {'non-empty ' if non_empty else ''}list, got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            where = f"{key}[{i}]"
            r = self.mapping(where, item, ADDRESS_KEY_KEYS)
            if not isinstance(item, dict):
                continue
            if need_address and "address" not in r:
                self.err(where, "missing key 'address'")
                continue
            if not r:
                self.err(where, "give 'address', 'key' or both")
                continue
            addr = address(f"{where}.address", r["address"]) if "address" in r else None
            kname = self._key_ref(f"{where}.key", r["key"], known) if "key" in r else None
            if ("address" not in r or addr is not None) and ("key" not in r or kname is not None):
                out.append((addr, kname))
        return out

    def _network(self, where, value, maxlen):
        text = self.string(where, value, maxlen)
        if text is None:
            return None
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            self.err(where, f"bad address or network {text!r}")
            return None

    def remotes(self, key, value, known):
        """A list of {address: "ADDR@PORT", key: NAME} (the `primaries` of a zone)."""
        def address(where, value):
            text = self.string(where, value, 100)
            addr, why = _parse_listen(text) if text is not None else (None, None)
            if text is not None and addr is None:
                self.err(where, why or f"bad address {text!r} (expected ADDR@PORT)")
            return addr
        return tuple(Remote(a, k) for a, k in
                     self._address_key_list(key, value, known, address, non_empty=True))

    def acl(self, key, value, known):
        """A list of {address: "ADDR" or "NET/LEN", key: NAME}."""
        return tuple(AclRule(n, k) for n, k in self._address_key_list(
            key, value, known, lambda where, v: self._network(where, v, 100)))

    def transfer_acl(self, key, value, known):
        """allow_transfer: a list of {address: "ADDR" or "NET/LEN", key: NAME}, either
        or both."""
        return tuple(TransferRule(str(n) if n is not None else None, k)
                     for n, k in self._address_key_list(
                         key, value, known, lambda where, v: self._network(where, v, 64),
                         need_address=False))

    def notify_targets(self, key, value, known):
        def address(where, value):
            a = parse_listen(value) if isinstance(value, str) else None
            if a is None:
                self.err(where, f"bad address {value!r} (expected ADDR or ADDR@PORT)")
            return a
        return tuple(NotifyTarget(a.host, a.port, k)
                     for a, k in self._address_key_list(key, value, known, address))

    def xfr_section(self, value):
        x = self.mapping("server.xfr", value, XFR_KEYS)
        out = {}
        if "max_transfers" in x:
            out["max_transfers"] = self.integer("server.xfr.max_transfers", x["max_transfers"], 1, 65535)
        if "journal_dir" in x:
            d = self.string("server.xfr.journal_dir", x["journal_dir"], 4096)
            if d is not None:
                out["journal_dir"] = d if os.path.isabs(d) else os.path.join(self.base, d)
        if "notify_retries" in x:
            out["notify_retries"] = self.integer("server.xfr.notify_retries", x["notify_retries"], 1, 100)
        if "notify_timeout" in x:
            out["notify_timeout"] = self.number("server.xfr.notify_timeout", x["notify_timeout"], 0.05, 600)
        return XfrConfig(**{k: v for k, v in out.items() if v is not None})

    def zones(self, value, policy=IncludePolicy(), nsec3_max=50, keys=frozenset()):
        if value is None:
            return ()
        if isinstance(value, zonelist.Entries):
            out = self.plain_zones(value, policy, nsec3_max)
            if out is not None:
                return out
            value = value.dicts()
        if not isinstance(value, list):
            self.err("zones", f"expected a list, got {_kind(value)}")
            return ()
        out, names = [], set()
        for i, item in enumerate(value):
            if type(item) is dict and len(item) == 2:
                z = self.plain_zone(item, names, policy, nsec3_max)
                if z is not None:
                    out.append(z)
                    continue
            key = f"zones[{i}]"
            z = self.mapping(key, item, ZONE_KEYS)
            if not isinstance(item, dict):
                continue
            name = file = None
            if "name" not in z:
                self.err(key, "missing key 'name'")
            else:
                name = self.zone_name(f"{key}.name", z["name"])
            producer = False
            members = None
            if "catalog" in z:
                c = self.mapping(f"{key}.catalog", z["catalog"], CATALOG_KEYS)
                crole = self.choice(f"{key}.catalog.role", c.get("role"), ("producer", "consumer"))
                if crole == "producer":
                    producer = True
                    if "members" in c:
                        self.err(f"{key}.catalog.members", "only a consumer takes a member template")
                elif crole == "consumer":
                    members = self.member_template(f"{key}.catalog.members", c.get("members", {}),
                                                   keys, name, z.get("file"))
                    if "primaries" not in z:
                        self.err(key, "a catalog consumer zone is a secondary: give its `primaries`")
            if producer:
                # RFC 9432: the producer generates the catalog from its members
                if "file" in z:
                    self.err(f"{key}.file", "a catalog producer zone is generated: no file")
                file = ""
            elif "file" not in z:
                self.err(key, "missing key 'file'")
            else:
                file = self.string(f"{key}.file", z["file"], 4096)
            ttl = 3600
            if "default_ttl" in z:
                ttl = self.integer(f"{key}.default_ttl", z["default_ttl"], 0, 2**31 - 1)
            role = {}
            if "primaries" in z:
                role["primaries"] = self.remotes(f"{key}.primaries", z["primaries"], keys)
            if "allow_notify" in z:
                if "primaries" not in z:
                    self.err(f"{key}.allow_notify", "only a secondary zone (with `primaries`) takes NOTIFY")
                role["allow_notify"] = self.acl(f"{key}.allow_notify", z["allow_notify"], keys)
            if "transfer_timeout" in z:
                role["transfer_timeout"] = self.number(f"{key}.transfer_timeout",
                                                       z["transfer_timeout"], 1, 86400)
            if "transfer_max_size" in z:
                role["transfer_max_size"] = self.integer(f"{key}.transfer_max_size",
                                                         z["transfer_max_size"], 4096, 1 << 40)
            if "allow_transfer" in z:
                role["allow_transfer"] = self.transfer_acl(f"{key}.allow_transfer", z["allow_transfer"], keys)
            if "notify" in z:
                role["notify"] = self.notify_targets(f"{key}.notify", z["notify"], keys)
            if "journal_max_size" in z:
                role["journal_max_size"] = self.integer(f"{key}.journal_max_size",
                                                        z["journal_max_size"], 0, 1 << 40)
            if producer:
                role["catalog_role"] = "producer"
            if members is not None:
                role["catalog_role"], role["catalog_members"] = "consumer", members
            if "catalog_member" in z:
                role["catalog_member"] = self.zone_name(f"{key}.catalog_member", z["catalog_member"])
            if name and name in names:
                self.err(f"{key}.name", f"zone {name} listed twice")
                continue
            if name and file is not None and ttl is not None and None not in role.values():
                names.add(name)
                path = file if not file or os.path.isabs(file) else os.path.join(self.base, file)
                out.append(ZoneConfig(name, path, ttl, policy, nsec3_max, **role))
        catalogs = {z.name for z in out if z.catalog_role == "producer"}
        for i, z in enumerate(out):
            if z.catalog_member is not None and z.catalog_member not in catalogs:
                self.err(f"zone {z.name}: catalog_member",
                         f"{z.catalog_member} is not a zone with catalog: {{role: producer}}")
            if z.catalog_role == "consumer" and z.catalog_member:
                self.err(f"zone {z.name}: catalog_member", "a catalog consumer zone is not a member "
                         "of a produced catalog")
            if z.catalog_role == "producer" and (z.catalog_member or z.primaries):
                self.err(f"zone {z.name}: catalog", "a catalog producer is neither a member "
                         "nor a secondary")
        return tuple(out)

    def member_template(self, key, value, keys, catalog, catalog_file):
        """`catalog.members` of a consumer (RFC 9432 5): the MemberTemplate, or None."""
        m = self.mapping(key, value, MEMBER_KEYS)
        if not isinstance(value, dict):
            return None
        out = {}
        if "file" in m:
            f = self.string(f"{key}.file", m["file"], 4096)
            if f is not None and "{name}" not in f:
                self.err(f"{key}.file", "the member file template needs {name} in it")
                f = None
        else:
            # beside the catalog's own kept copy, one directory per catalog
            base = os.path.dirname(catalog_file) if isinstance(catalog_file, str) else ""
            f = os.path.join(base, f"{(catalog or 'catalog').rstrip('.')}.members", "{name}.zone")
        if f is None:
            return None
        out["file"] = f if os.path.isabs(f) else os.path.join(self.base, f)
        if "primaries" in m:
            out["primaries"] = self.remotes(f"{key}.primaries", m["primaries"], keys)
        if "allow_notify" in m:
            out["allow_notify"] = self.acl(f"{key}.allow_notify", m["allow_notify"], keys)
        if "allow_transfer" in m:
            out["allow_transfer"] = self.transfer_acl(f"{key}.allow_transfer", m["allow_transfer"], keys)
        if "notify" in m:
            out["notify"] = self.notify_targets(f"{key}.notify", m["notify"], keys)
        if "transfer_timeout" in m:
            out["transfer_timeout"] = self.number(f"{key}.transfer_timeout", m["transfer_timeout"], 1, 86400)
        if "transfer_max_size" in m:
            out["transfer_max_size"] = self.integer(f"{key}.transfer_max_size",
                                                    m["transfer_max_size"], 4096, 1 << 40)
        if "journal_max_size" in m:
            out["journal_max_size"] = self.integer(f"{key}.journal_max_size",
                                                   m["journal_max_size"], 0, 1 << 40)
        if "default_ttl" in m:
            out["default_ttl"] = self.integer(f"{key}.default_ttl", m["default_ttl"], 0, 2**31 - 1)
        if None in out.values():
            return None
        return MemberTemplate(**out)

    def plain_zone(self, item, names, policy, nsec3_max):
        """The ZoneConfig of an entry that is only a plain name and a file, as the general
        path below makes it, or None for the general path (and its messages): the common
        entry of a config of 100,000 zones, checked without building its error keys."""
        name, file = item.get("name"), item.get("file")
        if type(name) is not str or type(file) is not str or not file.isascii() or len(file) > 4096:
            return None
        t = name.lower() if name.endswith(".") else name.lower() + "."
        if len(t) > 254 or not _PLAIN_NAME.fullmatch(t) or t in names:
            return None
        names.add(t)
        path = file if not file or file[0] == "/" else os.path.join(self.base, file)
        return ZoneConfig(t, path, 3600, policy, nsec3_max)

    def plain_zones(self, entries, policy, nsec3_max):
        """The ZoneConfigs of a zonelist.Entries whose names are all plain, distinct and
        whose files are short ASCII strings: what plain_zone() makes of each, with each
        check made once over all of them and the configs made in C (_core.slotted); None
        when any entry needs the general path (and its messages)."""
        names, files = entries.lowered, entries.files
        if (names is None or len(set(names)) != len(names) or not "".join(files).isascii()
                or max(map(len, files)) > 4096):
            return None
        base = self.base
        if not all(f[:1] == "/" for f in files):
            files = [f if not f or f[0] == "/" else os.path.join(base, f) for f in files]
        from robdns import _core
        return tuple(_core.slotted(ZoneConfig, "name", names, "file", files, *_plain_fields(policy, nsec3_max)))

    def zone_name(self, key, value):
        s = self.string(key, value, 300)
        if s is None:
            return None
        # The common name (letters, digits, '-', '_'; labels of 1..63; at most 255 octets
        # in wire form, RFC 1035 2.3.4) is its own presentation form: checked here without
        # dnspython, which costs tens of microseconds a zone in a config of 100,000.
        t = s.lower() if s.endswith(".") else s.lower() + "."
        if len(t) <= 254 and _PLAIN_NAME.fullmatch(t):
            return t
        import dns.name
        try:
            n = dns.name.from_text(s)
        except Exception as e:      # dnspython raises several classes for bad names
            self.err(key, f"bad zone name {s!r}: {e}")
            return None
        return n.to_text().lower()

    def xdp(self, value):
        # The AF_XDP section belongs to robdns.xdp (checks it and whether the build has it).
        from robdns import xdp
        try:
            return xdp.parse_xdp_config(value, "xdp")
        except ConfigError as e:
            self.errors.append(str(e))
            return None


def parse_listen(text):
    """``ADDR@PORT`` or ``ADDR`` -> ListenAddress, or None when malformed."""
    return _parse_listen(text)[0]


def _parse_listen(text):
    """(ListenAddress, None), or (None, what is wrong) -- None when the address itself is
    not an IP address, which the caller words with the forms it expects."""
    host, sep, port = text.strip().partition("@")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None, None
    if getattr(ip, "scope_id", None):
        return None, f"zone index %{ip.scope_id} not supported (bind to a global address)"
    if not sep:
        return ListenAddress(str(ip), DEFAULT_PORT), None
    if not port:
        return None, "missing port after '@'"
    if not port.isdigit():
        return None, f"port {port!r} is not a number"
    # Port 0 would let the kernel pick one: nobody could find the server there.
    if not 0 < int(port) < 65536:
        return None, f"port {int(port)} out of range 1..65535"
    return ListenAddress(str(ip), int(port)), None


def _kind(value):
    if value is None:
        return "nothing"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _suggest(key, allowed):
    import difflib
    close = difflib.get_close_matches(str(key), allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(allowed)})"


# ------------------------------------------------------------------- check-config

def compile_zones(cfg):
    """Compile every zone of `cfg`; returns ({name: ZoneImage}, {name: [messages]})."""
    from robdns import _core
    images, failures = {}, {}
    for z in cfg.zones:
        if z.secondary:
            continue            # its content comes from its primaries, its file is a copy
        try:
            if z.catalog_role == "producer":
                # no file: generated from its members (RFC 9432), as a load does
                from robdns import catalog
                images[z.name] = catalog.catalog_image(
                    z.name, catalog.members_of(z.name, cfg.zones), catalog.next_serial(None))
            else:
                images[z.name] = _core.compile_zone(z.name, z.file, z.default_ttl,
                                                    z.include_policy, z.nsec3_max_iterations)
        except ZoneError as e:
            failures[z.name] = list(e.messages) or [str(e)]
        except OSError as e:
            failures[z.name] = [f"{z.file}: cannot read: {e.strerror}"]
    return images, failures


def check_command(args):
    """``robdns check-config -c FILE``: 0 when the config (and its zones) would load."""
    try:
        cfg = load(args.config)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 1
    if getattr(args, "no_zones", False):
        print(f"{args.config}: ok ({len(cfg.zones)} zones, not compiled)")
        return 0
    images, failures = compile_zones(cfg)
    for name, img in images.items():
        for w in getattr(img, "warnings", ()):
            print(w, file=sys.stderr)
    for name, msgs in failures.items():
        for m in msgs:
            print(m, file=sys.stderr)
        print(f"zone {name}: failed to load", file=sys.stderr)
    if failures:
        return 1
    secondaries = sum(1 for z in cfg.zones if z.secondary)
    more = f", {secondaries} secondary zones from their primaries" if secondaries else ""
    print(f"{args.config}: ok ({len(images)} zones{more})")
    return 0
