# test_xfr_config.py — the configuration of transfers out (keys, allow_transfer, notify, server.xfr) and the journal files (robdns/journal.py).
import os
import struct

import pytest

from robdns import _core, config, journal
from robdns.errors import ConfigError
from xfr_support import SECRET_B64, zone_text

GOOD = f"""
keys:
  - {{name: xfr.key, algorithm: hmac-sha256, secret: "{SECRET_B64}"}}
server:
  xfr: {{max_transfers: 4, journal_dir: jdir, notify_retries: 2, notify_timeout: 0.5}}
zones:
  - name: example.com.
    file: z.zone
    allow_transfer:
      - {{address: 192.0.2.0/24, key: xfr.key.}}
      - {{address: "2001:db8::1"}}
      - {{key: xfr.key}}
    notify:
      - {{address: "192.0.2.2@5300", key: xfr.key.}}
      - {{address: "2001:db8::2"}}
    journal_max_size: 65536
"""


def test_full_shape_parses(tmp_path):
    cfg = config.parse(GOOD, str(tmp_path / "c.yaml"))
    (k,) = cfg.keys
    assert k.name == "xfr.key." and k.algorithm == "hmac-sha256" and len(k.secret) == 28
    assert cfg.xfr.max_transfers == 4 and cfg.xfr.journal_dir == str(tmp_path / "jdir")
    z = cfg.zones[0]
    assert [(r.address, r.key) for r in z.allow_transfer] == [
        ("192.0.2.0/24", "xfr.key."), ("2001:db8::1/128", None), (None, "xfr.key.")]
    assert [(str(t), t.key) for t in z.notify] == [("192.0.2.2@5300", "xfr.key."), ("2001:db8::2@53", None)]
    assert z.journal_max_size == 65536


@pytest.mark.parametrize("bad, where", [
    ("  - {name: k., algorithm: hmac-sha3, secret: \"eA==\"}", "keys[0].algorithm"),
    ("  - {name: k., algorithm: hmac-sha1, secret: \"!!\"}", "keys[0].secret: not base64"),
    ("  - {name: k., algorithm: hmac-sha1}", "give exactly one of 'secret' and 'secret_file'"),
    ("  - {name: k., algorithm: hmac-sha1, secret_file: /nonexistent/k}", "keys[0].secret_file: cannot read"),
])
def test_key_errors_name_the_key(tmp_path, bad, where):
    with pytest.raises(ConfigError) as e:
        config.parse("keys:\n" + bad + "\nzones: []\n", str(tmp_path / "c.yaml"))
    assert where in str(e.value)


@pytest.mark.parametrize("acl, where", [
    ('[{address: "300.1.1.1"}]', "zones[0].allow_transfer[0].address: bad address"),
    ("[{key: nokey.}]", "zones[0].allow_transfer[0].key: no key nokey."),
    ("[{}]", "zones[0].allow_transfer[0]: give 'address', 'key' or both"),
    ("[{address: 10.0.0.0/8, port: 1}]", "zones[0].allow_transfer[0].port: unknown key"),
])
def test_acl_errors_name_the_key(tmp_path, acl, where):
    text = f"zones:\n  - {{name: example.com., file: z, allow_transfer: {acl}}}\n"
    with pytest.raises(ConfigError) as e:
        config.parse(text, str(tmp_path / "c.yaml"))
    assert where in str(e.value)


def test_notify_and_xfr_errors(tmp_path):
    text = ("server:\n  xfr: {max_transfers: 0, bogus: 1}\n"
            "zones:\n  - {name: example.com., file: z, notify: [{address: x}, {key: k.}]}\n")
    with pytest.raises(ConfigError) as e:
        config.parse(text, str(tmp_path / "c.yaml"))
    msg = str(e.value)
    assert "server.xfr.max_transfers: 0 out of range" in msg
    assert "server.xfr.bogus: unknown key" in msg
    assert "zones[0].notify[0].address: bad address 'x'" in msg
    assert "zones[0].notify[1]: missing key 'address'" in msg


def test_secret_file_read_at_each_load(tmp_path):
    f = tmp_path / "k.secret"
    f.write_text(SECRET_B64 + "\n")
    text = f"keys:\n  - {{name: k., algorithm: hmac-sha256, secret_file: k.secret}}\nzones: []\n"
    p = tmp_path / "c.yaml"
    p.write_text(text)
    assert config.load(str(p)).keys[0].secret == _b64(SECRET_B64)
    f.write_text("b3RoZXI=\n")                       # a rotated key is seen at the next load
    assert config.load(str(p)).keys[0].secret == b"other"


def _b64(s):
    import base64
    return base64.b64decode(s)


# ---------------------------------------------------------------------------- journal

def changeset(frm, to, body=b""):
    """A changeset header and filler: trim() and serial_range() read the headers only."""
    return struct.pack("!IIII", 16 + len(body), frm, to, 0) + body


def test_trim_drops_oldest_whole_changesets():
    data = changeset(1, 2, b"x" * 100) + changeset(2, 3, b"y" * 100) + changeset(3, 4, b"z" * 10)
    assert journal.serial_range(data) == (1, 4)
    t = journal.trim(data, 200)
    assert journal.serial_range(t) == (2, 4) and len(t) <= 200
    assert journal.trim(data, 10) == b""
    assert journal.trim(data, len(data)) == data


def test_file_names():
    assert journal.file_name("example.com.") == "example.com.ixfr"
    assert journal.file_name(".") == "root.ixfr"
    odd = journal.file_name("a/b.example.")
    assert "/" not in odd and odd.endswith(".ixfr")


def test_journal_load_append_and_gaps(tmp_path):
    v = [_core.compile_zone_text("example.com.", zone_text(s, n=50 + s)) for s in (1, 2, 3)]
    j = journal.Journal(str(tmp_path), "example.com.", 1 << 20)
    data = j.append(b"", _core.zone_diff(v[0], v[1])[0])
    data = j.append(data, _core.zone_diff(v[1], v[2])[0])
    assert journal.serial_range(data) == (1, 3)
    assert j.load(3) == data                        # ends at the zone's serial
    assert j.load(4) == b"" and not os.path.exists(j.path)   # a gap: started afresh
    with open(j.path, "wb") as f:
        f.write(data[:-5])                          # damaged: discarded, not served
    assert j.load(3) == b"" and not os.path.exists(j.path)


def test_a_cached_config_reads_its_rotated_key_file_at_each_load(tmp_path):
    # config.Cache skips a settled, unchanged file, but not one naming key files
    import os
    import time
    from robdns.config import Cache
    f = tmp_path / "k.secret"
    f.write_text(SECRET_B64 + "\n")
    p = tmp_path / "c.yaml"
    p.write_text(f"keys:\n  - {{name: k., algorithm: hmac-sha256, secret_file: k.secret}}\nzones: []\n")
    old = time.time() - 60
    os.utime(p, (old, old))
    cache = Cache()
    assert cache.load(str(p)).keys[0].secret == _b64(SECRET_B64)
    f.write_text("b3RoZXI=\n")
    assert cache.load(str(p)).keys[0].secret == b"other"
    p.write_text("zones: []\n")                      # no key file now: skipped when settled
    os.utime(p, (old + 5, old + 5))
    first = cache.load(str(p))
    assert first.keys == () and cache.load(str(p)) is first


def test_the_daemon_finds_the_notifying_zones_once_per_config(tmp_path):
    # A reload of an unchanged config file (the same parsed zone configs) reads no zone's
    # notify setting again; a changed file's configs are looked at anew.
    from robdns import daemon
    plain = "zones:\n  - {name: a.example., file: a.zone}\n  - {name: b.example., file: b.zone}\n"
    cfg = config.parse(plain, str(tmp_path / "robdns.yaml"))
    d = daemon.Daemon(cfg)
    try:
        first = d._notifying()
        assert first == [] and d._notifying() is first
        d.cfg = config.parse(plain.replace("file: b.zone}", "file: b.zone, notify: "
                                           "[{address: 192.0.2.2@5300}]}"), str(tmp_path / "robdns.yaml"))
        assert [z.name for z in d._notifying()] == ["b.example."]
    finally:
        d.keeper.shutdown()
        d.reloader.shutdown()
