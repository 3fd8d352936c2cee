"""test_config — YAML configuration: a minimal example, defaults, and errors
that name the key path."""

import os
import socket
import subprocess
import sys

import pytest

from robdns import config
from robdns.errors import ConfigError

MINIMAL = """\
server:
  listen: ["127.0.0.1@5353", "::1@5353"]
  workers: 2            # or auto: one per core
zones:
  - name: example.com.
    file: zones/example.com.zone
"""


def test_minimal_example_exactly_as_written(tmp_path):
    p = tmp_path / "robdns.yaml"
    p.write_text(MINIMAL)
    cfg = config.load(str(p))
    assert [str(a) for a in cfg.listen] == ["127.0.0.1@5353", "::1@5353"]
    assert [a.family for a in cfg.listen] == [socket.AF_INET, socket.AF_INET6]
    assert cfg.workers == 2
    assert len(cfg.zones) == 1
    z = cfg.zones[0]
    assert z.name == "example.com."
    # Relative zone paths are relative to the configuration file, not the cwd.
    assert z.file == str(tmp_path / "zones" / "example.com.zone")
    assert cfg.tcp.enabled and cfg.tcp.max_connections > 0 and cfg.tcp.idle_timeout > 0


def test_workers_auto_is_the_number_of_usable_cores():
    cfg = config.parse("server: {workers: auto}\n")
    assert cfg.workers == len(os.sched_getaffinity(0))


def test_all_keys():
    cfg = config.parse("""
server:
  listen: "0.0.0.0@53"
  workers: 1
  pin_workers: false
  udp_batch: 32
  identity: ns1.example
  version: "robdns"
  nsid: "0x6e7331"
  max_udp_payload: 1400
  user: robdns
  group: robdns
  control: /run/robdns/ctl.sock
  tcp: {enabled: true, max_connections: 10, idle_timeout: 2.5, max_pipelined: 8}
log: {level: debug}
zones:
  - {name: Example.ORG, file: /etc/robdns/example.org.zone, default_ttl: 300}
""", "/etc/robdns/robdns.yaml")
    assert cfg.listen[0].wildcard and cfg.listen[0].port == 53
    assert (cfg.workers, cfg.pin_workers, cfg.udp_batch) == (1, False, 32)
    assert cfg.identity == "ns1.example" and cfg.version == "robdns"
    assert cfg.nsid == b"ns1"
    assert cfg.max_udp_payload == 1400
    assert (cfg.user, cfg.group) == ("robdns", "robdns")
    assert cfg.control == "/run/robdns/ctl.sock"
    assert cfg.tcp == config.TcpConfig(True, 10, 2.5, 8)
    assert cfg.tcp.nagle_rtt_us == 200                  # the default: near clients' held
    never = config.parse("server:\n  tcp: {nagle_rtt_us: 0}\n", "c.yaml")
    assert never.tcp.nagle_rtt_us == 0
    assert cfg.tcp.pipeline_hold_us == 200              # the default (tcp_loop.c loop_wait)
    assert config.parse("server:\n  tcp: {pipeline_hold_us: 0}\n", "c.yaml").tcp.pipeline_hold_us == 0
    assert cfg.log_level == "debug"
    assert cfg.zones == (config.ZoneConfig("example.org.", "/etc/robdns/example.org.zone", 300),)


def test_nsid_as_text():
    assert config.parse("server: {nsid: ns1}").nsid == b"ns1"


def test_listen_forms():
    assert config.parse_listen("::@53") == config.ListenAddress("::", 53)
    assert config.parse_listen("[::1]@5300") == config.ListenAddress("::1", 5300)
    assert config.parse_listen("192.0.2.1") == config.ListenAddress("192.0.2.1", 53)
    for bad in ("x", "127.0.0.1@", "127.0.0.1@0", "127.0.0.1@65536", "1.2.3@53", "::1@x", ""):
        assert config.parse_listen(bad) is None, bad


@pytest.mark.parametrize("text, message", [
    ('server: {listen: ["127.0.0.1@53", "x"]}', "server.listen[1]: bad address 'x'"),
    # A good address with a bad port says what is wrong with the port.
    ('server: {listen: ["127.0.0.1@70000"]}',
     "server.listen[0]: port 70000 out of range 1..65535 in '127.0.0.1@70000'"),
    ('server: {listen: ["[::1]@0"]}', "server.listen[0]: port 0 out of range 1..65535 in '[::1]@0'"),
    ('server: {listen: ["::1@dns"]}', "server.listen[0]: port 'dns' is not a number in '::1@dns'"),
    ('server: {listen: ["127.0.0.1@"]}', "server.listen[0]: missing port after '@' in '127.0.0.1@'"),
    ('server: {listen: ["fe80::1%eth0@53"]}', "server.listen[0]: zone index %eth0 not supported"),
    ("server: {listne: []}", "server.listne: unknown key (did you mean 'listen'?)"),
    ("bogus: 1", "bogus: unknown key"),
    ("server: {workers: 0}", "server.workers: 0 out of range 1..512"),
    ("server: {workers: many}", "server.workers: expected an integer, got a string"),
    ("server: {tcp: {idle_timeout: -1}}", "server.tcp.idle_timeout: -1 out of range"),
    ("server: {tcp: {nagle_rtt_us: 100001}}", "server.tcp.nagle_rtt_us: 100001 out of range"),
    ("server: {tcp: {pipeline_hold_us: 1001}}", "server.tcp.pipeline_hold_us: 1001 out of range"),
    ("server: {tcp: {max_conn: 1}}", "server.tcp.max_conn: unknown key"),
    ("server: {max_udp_payload: 65535}", "server.max_udp_payload: 65535 out of range 512..4096"),
    ("server: {nsid: 0xzz}", "server.nsid: bad hex '0xzz'"),
    ("server: {identity: yes}", "server.identity: expected a string, got a boolean"),
    ("server: {user: 'a:b'}", "server.user: bad name 'a:b'"),
    ("zones: {name: x}", "zones: expected a list, got a mapping"),
    ("zones: [{name: example.com.}]", "zones[0]: missing key 'file'"),
    ("zones: [{name: a., file: f, ttl: 3}]", "zones[0].ttl: unknown key"),
    ("zones: [{name: 'a..b', file: f}]", "zones[0].name: bad zone name 'a..b'"),
    ("zones: [{name: a., file: f}, {name: A, file: g}]", "zones[1].name: zone a. listed twice"),
    ('server: {listen: ["::1@53", "::1@53"]}', "server.listen[1]: duplicate address '::1@53'"),
    ("xdp: {interface: eth0, mode: turbo}", "xdp.mode: must be one of auto, native, generic"),
    ("xdp: {interface: eth0, bogus: 1}", "xdp.bogus: unknown key"),
    ("server: [1]", "server: expected a mapping, got a list"),
    ("server: {http: 'localhost:80'}", "server.http: bad address 'localhost:80'"),
    ("server: {http: {zone_labels: 3}}", "server.http: missing key 'listen'"),
    ("server: {http: {listen: 127.0.0.1@8053, zone_labels: 256}}",
     "server.http.zone_labels: 256 out of range 0..255"),
    ("server: {dnstap: {sample: 2}}", "server.dnstap: missing key 'sink'"),
    ("server: {dnstap: {sink: /tmp/x.tap, sample: 0}}", "server.dnstap.sample: 0 out of range"),
    ("server: {dnstap: {sink: 'unix:'}}", "server.dnstap.sink: bad unix socket path ''"),
    ("log: {format: xml}", "log.format: expected one of text, json, got 'xml'"),
])
def test_errors_name_the_key_path(text, message):
    with pytest.raises(ConfigError) as e:
        config.parse(text, "robdns.yaml")
    assert f"robdns.yaml: {message}" in str(e.value)


def test_every_error_is_reported_at_once():
    with pytest.raises(ConfigError) as e:
        config.parse("server: {workers: 0, listen: [x], foo: 1}\nzones: [{file: f}]\n")
    assert len(e.value.errors) == 4


def test_yaml_syntax_error_has_file_and_line():
    with pytest.raises(ConfigError, match=r"^c\.yaml:4: YAML error"):
        config.parse("server:\n  workers: 1\n  listen: [a, b\n  tcp: }\n", "c.yaml")


def test_duplicate_yaml_key_is_an_error():
    with pytest.raises(ConfigError, match="duplicate key 'workers'"):
        config.parse("server:\n  workers: 1\n  workers: 2\n", "c.yaml")


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(str(tmp_path / "missing.yaml"))


def test_default_config_serves_the_bundled_zone_on_5353():
    cfg = config.default_config()
    assert [str(a) for a in cfg.listen] == ["127.0.0.1@5353"]
    assert [z.name for z in cfg.zones] == ["example.com."]
    assert os.path.exists(cfg.zones[0].file)


def _check_config(*args):
    return subprocess.run([sys.executable, "-m", "robdns", "check-config", *args],
                          capture_output=True, text=True, timeout=60)


def test_check_config_command_reports_bad_keys(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text('server:\n  listen: ["127.0.0.1@5353", "x"]\n')
    r = _check_config("-c", str(p))
    assert r.returncode == 1
    assert f"{p}: server.listen[1]: bad address 'x'" in r.stderr


def test_check_config_command_yaml_only(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text(MINIMAL)
    r = _check_config("-c", str(p), "--no-zones")
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


@pytest.mark.parametrize("doc", [
    "server: {workers: 2, pin_workers: off, nsid: 0x10, identity: '3', version: \"\"}\n"
    "zones:\n  - name: a.\n    file: a.zone\n    default_ttl: 1_000\n  - {name: b., file: ~}\n",
    "a: [1, 2.5, true, null, ~, .inf, -1, +2, 2001-01-01, yes]\nb: {c: {d: []}}\n",
    "", "a:\n", "- x\n- - y\n",
    "a: &x 1\nb: *x\n", "a: !!str 3\n",                  # for the general loader
])
def test_event_loader_reads_what_the_yaml_loader_reads(doc):
    """config._load_events (libyaml's events, no node graph: a config of 100,000 zones
    parses three times faster) gives yaml.load's document, or hands over (_NotPlain)."""
    import yaml
    want = yaml.load(doc, Loader=config._StrictLoader)
    try:
        got = config._load_events(doc)
    except config._NotPlain:
        assert any(m in doc for m in ("&", "!!", "<<"))
        return
    assert got == want and type(got) is type(want)


def test_event_loader_refuses_duplicate_keys_with_the_line():
    with pytest.raises(config.ConfigError, match=r":3: YAML error: .*duplicate key 'workers'"):
        config.parse("server:\n  workers: 1\n  workers: 2\n", "x.yaml")


def test_http_and_dnstap_sections():
    cfg = config.parse("""
server:
  http: 127.0.0.1@8053
  dnstap: {sink: "unix:tap.sock", sample: 10, responses: false}
log: {format: json}
""", "/etc/robdns/robdns.yaml")
    assert cfg.http.listen == config.ListenAddress("127.0.0.1", 8053)
    assert cfg.http.zone_labels == 100 and cfg.http.max_connections == 16
    assert cfg.dnstap.unix and cfg.dnstap.path == "/etc/robdns/tap.sock"
    assert cfg.dnstap.sample == 10 and cfg.dnstap.queries and not cfg.dnstap.responses
    assert cfg.log_format == "json"
    off = config.parse("server: {}", "x.yaml")
    assert off.http is None and off.dnstap is None and off.log_format == "text"


def test_secondary_zones_validated_and_check_config_does_not_compile_them(tmp_path):
    # a secondary's file is the received copy: it need not exist before the first transfer
    import subprocess
    import sys
    (tmp_path / "a.zone").write_text("$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n")
    conf = tmp_path / "robdns.yaml"
    conf.write_text("""
keys: [{name: xfr.key., algorithm: hmac-sha256, secret: c2VjcmV0}]
zones:
  - {name: a.example., file: a.zone}
  - name: b.example.
    file: b.zone
    primaries: [{address: "192.0.2.1@53", key: xfr.key.}, {address: "192.0.2.2"}]
    allow_notify: [{address: 198.51.100.0/24}]
    transfer_timeout: 60
""")
    cfg = config.load(str(conf))
    b = cfg.zones[1]
    assert b.secondary and not cfg.zones[0].secondary
    assert [(str(p.address), p.key) for p in b.primaries] == [("192.0.2.1@53", "xfr.key."), ("192.0.2.2@53", None)]
    assert str(b.allow_notify[0].network) == "198.51.100.0/24" and b.transfer_timeout == 60
    r = subprocess.run([sys.executable, "-m", "robdns", "check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ok (1 zones, 1 secondary zones from their primaries)" in r.stdout


@pytest.mark.parametrize("zone, message", [
    ('primaries: [{address: "192.0.2.1@x"}]', "zones[0].primaries[0].address: port 'x' is not a number"),
    ('primaries: [{address: "192.0.2.1", key: nokey.}]', "zones[0].primaries[0].key: no key nokey. in `keys`"),
    ("primaries: []", "zones[0].primaries: expected a non-empty list"),
    ('allow_notify: [{address: "192.0.2.1"}]', "zones[0].allow_notify: only a secondary zone"),
    ('primaries: [{address: "192.0.2.1"}]\n    allow_notify: [{address: bad}]',
     "zones[0].allow_notify[0].address: bad address or network 'bad'"),
    ('primaries: [{address: "192.0.2.1"}]\n    transfer_max_size: 10', "zones[0].transfer_max_size: 10 out of range"),
])
def test_secondary_keys_errors_name_the_key(zone, message):
    with pytest.raises(ConfigError) as e:
        config.parse(f"zones:\n  - name: b.example.\n    file: b.zone\n    {zone}\n", "robdns.yaml")
    assert message in str(e.value)


def _counted_reads(monkeypatch):
    """The paths config.read reads from now on, in a list."""
    reads = []
    real = config.read
    monkeypatch.setattr(config, "read", lambda path: reads.append(path) or real(path))
    return reads


def test_cache_reads_a_settled_unchanged_file_once(tmp_path, monkeypatch):
    # a reload of an unchanged config: its stat data, not its 10 MB of text, says so
    p = tmp_path / "robdns.yaml"
    p.write_text(MINIMAL)
    old = 1_700_000_000
    os.utime(p, (old, old))
    reads = _counted_reads(monkeypatch)
    cache = config.Cache()
    first = cache.load(str(p))
    assert cache.load(str(p)) is first and len(reads) == 1
    # new content, new time: read and parsed again
    p.write_text(MINIMAL.replace("workers: 2", "workers: 1"))
    os.utime(p, (old + 5, old + 5))
    second = cache.load(str(p))
    assert second.workers == 1 and len(reads) == 2
    # the same text written again (new time): read, compared, the same Config
    p.write_text(MINIMAL.replace("workers: 2", "workers: 1"))
    os.utime(p, (old + 9, old + 9))
    assert cache.load(str(p)) is second and len(reads) == 3
    assert cache.load(str(p)) is second and len(reads) == 3


def test_cache_reads_a_file_modified_just_now_every_time(tmp_path, monkeypatch):
    # its time may not move at its next change (within one tick of the file clock); a
    # time ahead of the clock stands for "just now" whatever the machine's speed
    import time
    p = tmp_path / "robdns.yaml"
    p.write_text(MINIMAL)
    os.utime(p, (time.time() + 60, time.time() + 60))
    reads = _counted_reads(monkeypatch)
    cache = config.Cache()
    first = cache.load(str(p))
    assert cache.load(str(p)) is first and len(reads) == 2


def test_zones_that_set_nothing_alike_share_one_options_object():
    # issue 14: 100,000 plain zones hold one ZoneOptions, not 15 slots each; the settings
    # still read as attributes, and a zone that sets one gets its own.
    text = "zones:\n" + "".join(f"  - {{name: z{i}.test, file: /z/{i}}}\n" for i in range(3))
    text += "  - {name: t.test, file: /z/t, default_ttl: 60}\n"
    zones = config.parse(text).zones
    a, b, c, t = zones
    assert a.options is b.options is c.options
    assert (a.name, a.file, a.default_ttl, a.nsec3_max_iterations, a.primaries) == ("z0.test.", "/z/0", 3600, 50, ())
    assert t.options is not a.options and t.default_ttl == 60
    # made directly, the same settings give the same shared object and an equal config
    z = config.ZoneConfig("z0.test.", "/z/0", 3600, a.include_policy, 50)
    assert z == a and hash(z) == hash(a) and z.options is a.options
    assert config.ZoneConfig("z0.test.", "/z/0", 60) != a
