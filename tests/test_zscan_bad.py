"""Bad zone files (tests/zones/bad/): each gives exactly the expected FILE:LINE messages,
all errors of a file are reported, and included files are named in their own messages."""
import os

import pytest

from robdns import _core

BAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zones", "bad")

# file -> expected messages (FILE is the path as given; {inc} marks the included file)
CASES = {
    "bad_ipv4.zone": ["5: error: bad IPv4 address '1.2.3'"],
    "bad_ipv6.zone": ["2: error: bad IPv6 address '2001:db8::1::2'"],
    "unknown_type.zone": ["3: error: unknown type 'FOO'"],
    "ttl_out_of_range.zone": ["1: error: TTL out of range '4294967296'"],
    "bad_ttl_directive.zone": ["1: error: bad $TTL '1x'"],
    # the opening parenthesis is on line 2 and never closed
    "unbalanced_open.zone": ["2: error: unbalanced parentheses"],
    "unbalanced_close.zone": ["2: error: unbalanced parentheses"],
    "include_self.zone": ["2: error: include cycle: include_self.zone -> include_self.zone"],
    "name_too_long.zone": ["2: error: bad owner name 'abcdefghij.abcdefghij.abcdefghij."
                           "abcdefghij.abcdefghij.abcdefghij.abcdefghij...': name too long"],
    "label_too_long.zone": ["2: error: bad owner name '" + "a" * 64 + "': label too long"],
    "missing_rdata.zone": ["2: error: missing rdata"],
    "trailing_garbage.zone": ["2: error: trailing garbage '192.0.2.2'"],
    "class_ch.zone": ["2: error: only class IN is supported, not 'CH'"],
    "include_missing.zone": ["2: error: cannot open $INCLUDE file '{dir}/does-not-exist.zone': "
                             "No such file or directory"],
    "include_child_error.zone": ["{dir}/inc/child_bad.zone:3: error: missing rdata field (exchange)"],
    "unterminated_string.zone": ["2: error: unterminated quoted string"],
    "generic_length.zone": ["2: error: generic rdata length 4 does not match 3 octets of data"],
    "bad_base64.zone": ["2: error: bad public key 'AAAA*BBB'"],
    "unknown_directive.zone": ["2: error: unknown directive '$FOO'"],
    "string_too_long.zone": ["2: error: bad string '" + "a" * 76 + "...': string too long"],
    "dnspython_fallback.zone": ["2: error: bad LOC rdata: bad latitude hemisphere value"],
    "bad_escape.zone": ["2: error: bad IPv4 address '\\256.1.1.1'",
                        "3: error: bad owner name 'bad\\256': bad \\DDD escape"],
    "generate_range.zone": ["2: error: bad $GENERATE range '10-1'"],
    "ds_digest_length.zone": ["2: error: digest length 5 inconsistent with digest type 2"],
    "number_range.zone": ["2: error: bad preference '70000'"],
    "many_errors.zone": ["3: error: bad IPv4 address '999.1.1.1'",
                         "4: error: bad IPv6 address 'zz::1'",
                         "6: error: bad port 'mail'",
                         "7: error: bad $ORIGIN 'bad..name.': empty label",
                         "8: error: bad salt 'XYZ'"],
    "error_line_in_parens.zone": ["3: error: bad IPv4 address '1.2.3'"],
    "bitmap_unknown_type.zone": ["2: error: unknown type 'ANYTYPE'"],
    "meta_type.zone": ["2: error: type AXFR is not allowed in zone data"],
}


def _expand(path, msg):
    msg = msg.replace("{dir}", BAD)
    return msg if msg.startswith(BAD) else f"{path}:{msg}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_zone_messages(name):
    path = os.path.join(BAD, name)
    records, messages = _core.parse_zone_file(path, "example.com.")
    assert messages == [_expand(path, m) for m in CASES[name]]


def test_every_bad_file_has_a_case():
    files = {f for f in os.listdir(BAD) if f.endswith(".zone")}
    assert files == set(CASES)


def test_good_records_around_errors_still_parsed_but_errors_counted():
    """Parsing continues after an error (all errors reported); records before and after
    the error are read, and the caller sees the error count (never a clean result)."""
    path = os.path.join(BAD, "include_child_error.zone")
    records, messages = _core.parse_zone_file(path, "example.com.")
    owners = [r[0] for r in records]
    assert owners == [b"\x03www\x07example\x03com\x00", b"\x02ok\x07example\x03com\x00",
                      b"\x05after\x07example\x03com\x00"]
    assert len(messages) == 1


def test_include_of_itself_reads_the_file_once():
    # the self-include is a cycle, refused: only the top file's one record is read
    records, _ = _core.parse_zone_file(os.path.join(BAD, "include_self.zone"), "example.com.")
    assert len(records) == 1


def test_missing_zone_file():
    path = os.path.join(BAD, "no-such-file.zone")
    records, messages = _core.parse_zone_file(path, "example.com.")
    assert records == []
    assert messages == [f"{path}: error: cannot open zone file: No such file or directory"]


def test_message_limit_counts_the_rest():
    text = "".join(f"h{i} A 1.2.3\n" for i in range(30))
    _, messages = _core.parse_zone_text(text, "example.com.", message_limit=10)
    assert len(messages) == 11
    assert messages[:2] == ["<string>:1: error: bad IPv4 address '1.2.3'",
                            "<string>:2: error: bad IPv4 address '1.2.3'"]
    assert messages[-1] == "... 20 more messages not shown"
