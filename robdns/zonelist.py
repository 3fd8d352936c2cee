"""zonelist — a config's long `zones:` list of one-line entries (`- {name: N, file: F}`,
what a provisioning system writes for 100,000 zones) read apart from PyYAML's events:
three events and two scalar resolutions a zone cost more than a second at that scale.
An ASCII text is read in one pass in C (_core.zone_lines, the grammar of the expressions
below); any other by one regular expression a line.  Anything else in the block (another
key, a nested mapping, an escape, a scalar YAML would read as other than a string) leaves
the whole document to the YAML loader, so the result is always what the loader would
have made.
"""

import re

# The top-level `zones:` key with nothing after it but a comment.  A line of the list
# starts with spaces only: YAML refuses a tab there (indentation), even on a blank line.
_KEY = re.compile(r"^zones:[ \t]*(?:#[^\n]*)?$", re.M)
_SCALAR = r"""(?:"([^"\\\x00-\x1f]*)"|'([^'\x00-\x1f]*)'|([^\s,\[\]{}#"'&*!|>%@`:][^\s,\[\]{}:]*))"""
_ITEM = re.compile(r"( *)- \{[ \t]*name:[ \t]+" + _SCALAR + r"[ \t]*,[ \t]*file:[ \t]+" + _SCALAR
                   + r"[ \t]*\}[ \t]*(?:#.*)?")
_SKIP = re.compile(r" *(?:#.*)?")


_STR = "tag:yaml.org,2002:str"


class Entries:
    """The entries of a `zones:` list: their names and files, and the names as config
    keys (lower case, final dot; None when one is not a plain name) for a validator that
    checks them all at once (robdns.config); dicts() as the YAML loader gives them."""
    __slots__ = ("names", "files", "lowered")

    def __init__(self, names, files, lowered=None):
        self.names, self.files, self.lowered = names, files, lowered

    def dicts(self):
        return [{"name": n, "file": f} for n, f in zip(self.names, self.files)]


def take(text, resolve):
    """(text', entries): the document with the items of its `zones:` list blanked out (an
    empty flow list in their place, line numbers kept) and the entries (an Entries); or
    (text, None) when the list is not all such lines.  resolve(value) is the YAML tag of
    a plain scalar whose first character may make it other than a string (the loader's
    implicit resolvers); it is consulted only then."""
    m = _KEY.search(text)
    if m is None or "\r" in text:
        return text, None
    start = m.end() + 1
    got = _zone_lines(text, start)
    if got is None:
        # not ASCII (or not all one-line entries: then these say so too): the
        # expressions, a line at a time
        return _take_lines(text, m, start, resolve)
    names, files, lowered, plain, used, end = got
    for k in plain:
        if resolve(files[k // 2] if k % 2 else names[k // 2]) != _STR:
            return text, None
    head = text[:m.start()] + "zones: []"
    return head + "\n" * (used + 1) + text[end:], Entries(names, files, lowered)


def _zone_lines(text, start):
    from robdns import _core
    return _core.zone_lines(text, start)


def _take_lines(text, m, start, resolve):
    """take() by the expressions, one line at a time."""
    lines = text[start:].split("\n")
    entries, indent, used = [], None, 0
    for line in lines:
        if line and not line[0].isspace() and line[0] != "#" and not line.startswith("-"):
            break                               # the next top-level key
        used += 1
        item = _ITEM.fullmatch(line)
        if item is None:
            if _SKIP.fullmatch(line):
                continue
            return text, None
        if indent is None:
            indent = item.group(1)
        elif item.group(1) != indent:
            return text, None
        name = _value(item, 2, resolve)
        file = _value(item, 5, resolve)
        if name is None or file is None:
            return text, None
        entries.append((name, file))
    if not entries:
        return text, None
    head = text[:m.start()] + "zones: []"
    rest = "\n".join(lines[used:])
    return head + "\n" * (used + 1) + rest, Entries([n for n, _ in entries], [f for _, f in entries])


_IMPLICIT_FIRST = set("-+.0123456789yYnNtTfFoO~<=")


def _value(match, group, resolve):
    """The string of a quoted or plain scalar at groups group..group+2, or None when YAML
    would read the plain one as something else (a number, a boolean, null)."""
    double, single, plain = match.group(group, group + 1, group + 2)
    if double is not None:
        return double
    if single is not None:
        return single
    if plain[0] in _IMPLICIT_FIRST and resolve(plain) != _STR:
        return None
    return plain
