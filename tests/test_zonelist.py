# test_zonelist.py — the one-line zones: entries read apart from PyYAML (robdns.zonelist) give the same config, and the same errors, as the YAML loader; anything it cannot read exactly goes to the loader.
import pytest

from robdns import _core, config, zonelist
from robdns.errors import ConfigError

HEAD = 'server:\n  listen: ["127.0.0.1@5353"]\n'


def both(text, monkeypatch):
    """(fast, lines, loader): parse() as it is (the one-pass reader in C for an ASCII
    text), with the line-by-line expressions only, and with robdns.zonelist turned off;
    each the Config or the ConfigError's text."""
    def run():
        try:
            return config.parse(text, "/etc/robdns/robdns.yaml")
        except ConfigError as e:
            return f"error: {e}"
    fast = run()
    with monkeypatch.context() as m:
        m.setattr(zonelist, "_zone_lines", lambda text, start: None)
        lines = run()
    with monkeypatch.context() as m:
        m.setattr(zonelist, "take", lambda text, resolve: (text, None))
        slow = run()
    return fast, lines, slow


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
    # tabs inside the entry, comments after it, a '#' inside a plain scalar, no final newline
    'zones:\n  - {\tname:\t"a.example."\t,\tfile:\t/z/a#1 }\t# x\n  - {name: B.Example, file: "/z/b"}',
    # a tab where a line starts (indent, blank line, before a comment): YAML's error
    'zones:\n\t- {name: a.example., file: /z/a}\n',
    'zones:\n  - {name: a.example., file: /z/a}\n  \t\n',
    'zones:\n  - {name: a.example., file: /z/a}\n\t# c\n',
    'zones:\n  - {name: a.example., file: /z/a}\n  \t- {name: b.example., file: /z/b}\n',
    # upper case names, a missing final dot, relative files, blank lines after the list
    'zones:\n  - {name: A.Example, file: a.zone}\n  - {name: "b.EXAMPLE.", file: "sub/b.zone"}\n\n\n',
    # plain scalars YAML resolves: strings after all, and not
    'zones:\n  - {name: yankee.example., file: /z/1.zone}\n  - {name: no.example, file: ~z}\n',
    'zones:\n  - {name: no, file: /z/a}\n',
    'zones:\n  - {name: a.example., file: 0x10}\n',
    # quotes YAML reads otherwise: an escaped single quote, an empty string, a backslash
    "zones:\n  - {name: 'it''s.example.', file: /z/a}\n",
    'zones:\n  - {name: "", file: /z/a}\n',
    'zones:\n  - {name: "a\\.example.", file: /z/a}\n',
    # names the fast check refuses: a 64-octet label, a bad character, a long name
    'zones:\n  - {name: ' + "a" * 64 + '.example., file: /z/a}\n',
    'zones:\n  - {name: a+b.example., file: /z/a}\n',
    'zones:\n  - {name: ' + "abcdefghi." * 26 + ', file: /z/a}\n',
    # a form feed on a line of its own, an item with no space after "name:"
    'zones:\n  - {name: a.example., file: /z/a}\n\f\n',
    'zones:\n  - {name:a.example., file: /z/a}\n',
    # a text with a character beyond ASCII (the line-by-line reader), in a comment
    '# zones \u00e9\nzones:\n  - {name: a.example., file: /z/a}\n  - {name: b.example., file: /z/\u00e9}\n',
    # the key as the last line
    'log:\n  level: info\nzones:',
]


@pytest.mark.parametrize("body", CASES)
def test_same_as_the_loader(body, monkeypatch):
    fast, lines, slow = both(HEAD + body, monkeypatch)
    assert fast == slow
    assert lines == slow


def test_the_fast_reader_takes_one_line_entries():
    text = HEAD + 'zones:\n  - {name: "a.example.", file: "/z/a"}\n  - {name: b.example., file: z/b}\nlog: {level: info}\n'
    rest, entries = zonelist.take(text, config._resolve_plain)
    assert entries.dicts() == [{"name": "a.example.", "file": "/z/a"}, {"name": "b.example.", "file": "z/b"}]
    assert entries.lowered == ["a.example.", "b.example."]
    # read in one pass in C (the expressions only for a text beyond ASCII)
    start = text.index("zones:\n") + len("zones:\n")
    names, files, lowered, plain, used, end = _core.zone_lines(text, start)
    assert (names, files, lowered, plain, used) == (["a.example.", "b.example."], ["/z/a", "z/b"],
                                                    ["a.example.", "b.example."], [], 2)
    assert text[end:] == "log: {level: info}\n"
    assert rest.count("\n") == text.count("\n") and "zones: []" in rest and "log:" in rest
    assert zonelist.take(HEAD + 'zones:\n  - name: a.\n    file: b\n', config._resolve_plain)[1] is None
    cfg = config.parse(text, "/etc/robdns/robdns.yaml")
    assert [(z.name, z.file) for z in cfg.zones] == [("a.example.", "/z/a"),
                                                     ("b.example.", "/etc/robdns/z/b")]


def test_a_name_written_as_its_key_is_one_string():
    # the config keeps the name it read when that is the key already (lower case, final
    # dot), not a copy beside a twin freed after the read (a hole per zone in the pools)
    names, _, lowered, _, _, _ = _core.zone_lines(
        '  - {name: "a.example.", file: "/a"}\n  - {name: B.example, file: "/b"}\n'
        '  - {name: c.example, file: "/c"}\n', 0)
    assert lowered == ["a.example.", "b.example.", "c.example."]
    assert lowered[0] is names[0]
    assert lowered[1] is not names[1] and lowered[2] is not names[2]
