# test_zonelist.py — the one-line zones: entries read apart from PyYAML (robdns.zonelist) give the same config, and the same errors, as the YAML loader; anything it cannot read exactly goes to the loader.
import pytest

from robdns import config, zonelist
from robdns.errors import ConfigError

HEAD = 'server:\n  listen: ["127.0.0.1@5353"]\n'


def both(text, monkeypatch):
    """(fast, loader): parse() as it is, and with robdns.zonelist turned off; each the
    Config or the ConfigError's text."""
    def run():
        try:
            return config.parse(text, "/etc/robdns/robdns.yaml")
        except ConfigError as e:
            return f"error: {e}"
    fast = run()
    with monkeypatch.context() as m:
        m.setattr(zonelist, "take", lambda text, resolve: (text, None))
        slow = run()
    return fast, slow


CASES = [
    # quoted and plain scalars, comments, blank lines, relative and absolute files
    'zones:\n  - {name: "a.example.", file: "/z/a"}\n  - {name: b.example, file: z/b}  # two\n'
    '\n  # a comment\n  - {name: \'C.Example.\', file: \'/z/c\'}\n',
    # items at column 0, then another top-level key
    'zones:\n- {name: a.example., file: /z/a}\n- {name: b.example., file: /z/b}\nlog:\n  level: debug\n',
    # scalars YAML reads as other than strings: the loader's errors
    'zones:\n  - {name: true, file: /z/a}\n',
    'zones:\n  - {name: a.example., file: 123}\n',
    'zones:\n  - {name: a.example., file: ~}\n',
    'zones:\n  - {name: 1.5, file: /z/a}\n',
    'zones:\n  - {name: tango.example., file: /z/t}\n  - {name: yes, file: /z/y}\n',
    # a duplicate, a bad name, an empty file
    'zones:\n  - {name: a.example., file: /z/a}\n  - {name: A.example, file: /z/b}\n',
    'zones:\n  - {name: "bad name.example.", file: /z/a}\n',
    'zones:\n  - {name: a.example., file: ""}\n',
    # not one-line entries: the loader reads the whole document
    'zones:\n  - {name: a.example., file: /z/a, default_ttl: 60}\n',
    'zones:\n  - name: a.example.\n    file: /z/a\n',
    'zones:\n  - {name: "a\\x41.example.", file: /z/a}\n',
    'zones:\n  - {name: a.example., file: /z/a}\n    - {name: b.example., file: /z/b}\n',
    # the key twice: the loader's duplicate-key error
    'zones:\n  - {name: a.example., file: /z/a}\nzones:\n  - {name: b.example., file: /z/b}\n',
    # an unknown key after the list keeps its line number
    'zones:\n  - {name: a.example., file: /z/a}\n  - {name: b.example., file: /z/b}\nbogus: 1\n',
]


@pytest.mark.parametrize("body", CASES)
def test_same_as_the_loader(body, monkeypatch):
    fast, slow = both(HEAD + body, monkeypatch)
    assert fast == slow


def test_the_fast_reader_takes_one_line_entries():
    text = HEAD + 'zones:\n  - {name: "a.example.", file: "/z/a"}\n  - {name: b.example., file: z/b}\nlog: {level: info}\n'
    rest, entries = zonelist.take(text, config._resolve_plain)
    assert entries == [{"name": "a.example.", "file": "/z/a"}, {"name": "b.example.", "file": "z/b"}]
    assert rest.count("\n") == text.count("\n") and "zones: []" in rest and "log:" in rest
    assert zonelist.take(HEAD + 'zones:\n  - name: a.\n    file: b\n', config._resolve_plain)[1] is None
    cfg = config.parse(text, "/etc/robdns/robdns.yaml")
    assert [(z.name, z.file) for z in cfg.zones] == [("a.example.", "/z/a"),
                                                     ("b.example.", "/etc/robdns/z/b")]
